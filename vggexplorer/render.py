"""PNG grids of activation maps (the seed post's grid), with torchvision's ``make_grid``."""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from .analysis import per_channel_minmax, shared_scale

COLORSCALE = "Greens"  # light to dark: darker = stronger activation, as in the seed post


@lru_cache(maxsize=4)
def colormap_lut(name: str = COLORSCALE, n: int = 256) -> np.ndarray:
    """``uint8 [n, 3]`` lookup table sampled from a Plotly colorscale (the same colours as the app)."""
    from plotly.colors import get_colorscale, sample_colorscale, unlabel_rgb

    cols = sample_colorscale(get_colorscale(name), np.linspace(0, 1, n).tolist(), colortype="rgb")
    return np.array([unlabel_rgb(c) for c in cols], dtype=np.float64).round().astype(np.uint8)


def colorize(values01: torch.Tensor, name: str = COLORSCALE) -> torch.Tensor:
    """``[..., H, W]`` in [0, 1] -> ``uint8 [..., 3, H, W]`` through the colorscale."""
    lut = torch.from_numpy(colormap_lut(name))
    idx = (values01.clamp(0, 1) * (len(lut) - 1)).round().long()
    return lut[idx].movedim(-1, -3)


def block_grid(maps: torch.Tensor, tile: int = 32, nrow: int | None = None, zmax: float | None = None,
               padding: int = 2) -> torch.Tensor:
    """One block's maps ``[C, H, W]`` -> ``uint8 [3, Hg, Wg]`` grid image.

    ``zmax=None``: per-channel min-max (each map uses the full colour range); a number: one
    shared ``[0, zmax]`` scale.
    """
    from torchvision.utils import make_grid  # imported here: it adds about a second to the app's start-up

    c = maps.shape[0]
    vals = per_channel_minmax(maps) if zmax is None else (maps / zmax).clamp(0, 1)
    vals = F.interpolate(vals.unsqueeze(1), size=(tile, tile), mode="nearest")  # [C, 1, tile, tile]
    rgb = colorize(vals[:, 0])  # [C, 3, tile, tile] uint8
    nrow = nrow or int(np.ceil(np.sqrt(c) * 2))  # wider than tall, for screens and pages
    # mid-grey gaps: white would read as "no activation" on the light end of Greens
    return make_grid(rgb, nrow=nrow, padding=padding, pad_value=160)


def _font(size: int = 14) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def activation_sheet(captures: Mapping[str, Mapping[str, torch.Tensor]], title: str,
                     shared: bool = True, tile: int = 24) -> Image.Image:
    """Every block of every model, labelled, stacked into one PNG-ready image.

    ``captures``: role (e.g. "dense", "pruned") -> block -> ``[C, H, W]`` maps of one image.
    With ``shared``, each block uses one scale for all roles, so dense and pruned compare.
    """
    roles = list(captures)
    blocks = list(next(iter(captures.values())))
    font, big = _font(14), _font(18)
    sections: list[tuple[str, Image.Image]] = []
    for b in blocks:
        zmax = shared_scale(*(captures[r][b] for r in roles)) if shared else None
        for r in roles:
            m = captures[r][b]
            grid = block_grid(m, tile=tile, zmax=zmax)
            label = (f"{r} {b}: {m.shape[0]} channels, {m.shape[1]}x{m.shape[2]}, "
                     + (f"shared scale 0..{zmax:.3g}" if shared else "per-channel min-max")
                     + f", {int((m.flatten(1) <= 0).all(1).sum())} zero on this image")
            sections.append((label, Image.fromarray(grid.permute(1, 2, 0).numpy())))
    width = max(im.width for _, im in sections) + 20
    height = 40 + sum(im.height + 30 for _, im in sections)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((10, 10), title, fill="black", font=big)
    y = 40
    for label, im in sections:
        draw.text((10, y + 6), label, fill="black", font=font)
        sheet.paste(im, (10, y + 26))
        y += im.height + 30
    return sheet


def image_strip(images: np.ndarray, scale: int = 2, pad: int = 2) -> np.ndarray:
    """``uint8 [N, H, W, 3]`` -> one row, white gaps, nearest-neighbour upscaled (the app's top-k strip).

    Plain numpy rather than ``make_grid``: importing torchvision would add about a second to the
    app's start-up for a nine-image row.
    """
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=255)
    row = np.concatenate(list(padded), axis=1)  # [H + 2p, N * (W + 2p), 3]
    return np.kron(row, np.ones((scale, scale, 1), np.uint8))
