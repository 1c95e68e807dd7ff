"""PNG grids of activation maps (the seed post's grid), laid out and scaled like the app's mosaics."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..stats.status import zero_on_image
from .mosaic import PER_CHANNEL_MINMAX, Scale, mosaic_layout, robust, tile
from .style import level_rgb, quantise

GAP_GREY = 160  # mid-grey gaps: white would read as "no activation" on the light end of Greens


def colorize(values01: np.ndarray) -> np.ndarray:
    """``[H, W]`` in [0, 1], NaN in gaps -> ``uint8 [H, W, 3]``: the app mosaic's colour levels
    (:func:`~vggexplorer.views.style.quantise`, :func:`~vggexplorer.views.style.level_rgb`), gaps grey."""
    rgb = level_rgb()[quantise(values01)]
    rgb[np.isnan(values01)] = GAP_GREY
    return rgb


def block_grid(maps: torch.Tensor, tile_px: int = 32, scale: Scale = PER_CHANNEL_MINMAX, gap: int = 2) -> np.ndarray:
    """One block's maps ``[C, H, W]`` -> ``uint8 [Hg, Wg, 3]``: the app's mosaic layout, each map enlarged by
    a whole factor (nearest neighbour) to at least ``tile_px``, scaled by ``scale`` as the app's mosaic is."""
    c, h, w = maps.shape
    k = max(1, -(-tile_px // max(h, w)))
    vals = scale.unit(maps)
    vals = np.kron(vals, np.ones((1, k, k), np.float32))  # [C, h*k, w*k]
    return colorize(tile(vals, mosaic_layout(c, h * k, w * k, gap=gap)))


def _font(size: int = 14) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def activation_sheet(captures: Mapping[str, Mapping[str, torch.Tensor]], title: str,
                     shared: bool = True, tile_px: int = 24) -> Image.Image:
    """Every block of every model, labelled, stacked into one PNG-ready image.

    ``captures``: role (e.g. "dense", "pruned") -> block -> ``[C, H, W]`` maps of one image.
    With ``shared``, each block uses one scale for all roles, so dense and pruned compare: the app's default, its top
    a high percentile of their values (:func:`~vggexplorer.views.mosaic.robust`); else per-channel min-max.
    """
    roles = list(captures)
    blocks = list(next(iter(captures.values())))
    font, big = _font(14), _font(18)
    sections: list[tuple[str, Image.Image]] = []
    for b in blocks:
        scale = robust(*(captures[r][b] for r in roles)) if shared else PER_CHANNEL_MINMAX
        for r in roles:
            m = captures[r][b]
            grid = block_grid(m, tile_px=tile_px, scale=scale)
            zero = int(zero_on_image(m).sum())
            label = (f"{r} {b}: {m.shape[0]} channels, {m.shape[1]}x{m.shape[2]}, {scale.note()}, "
                     f"{zero} zero on this image")
            sections.append((label, Image.fromarray(grid)))
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

    """
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=255)
    row = np.concatenate(list(padded), axis=1)  # [H + 2p, N * (W + 2p), 3]
    return np.kron(row, np.ones((scale, scale, 1), np.uint8))
