"""One block's channel maps laid out as one grid: the layout and the [0, 1] scaling, for every drawing.

The app's interactive mosaics (``figures.layer_mosaic``) and the downloadable PNG grid
(``render.activation_sheet``) both tile a ``[C, H, W]`` block with :func:`mosaic_layout` and scale
it with :func:`unit_scale`, so a channel sits at the same place and has the same shade in both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..probe.analysis import per_channel_minmax


@dataclass(frozen=True)
class MosaicLayout:
    """Where each channel's ``h x w`` tile sits in the mosaic."""

    channels: int
    h: int
    w: int
    cols: int
    gap: int

    @property
    def rows(self) -> int:
        return math.ceil(self.channels / self.cols)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows * (self.h + self.gap) - self.gap, self.cols * (self.w + self.gap) - self.gap)

    def origin(self, c: int) -> tuple[int, int]:
        r, k = divmod(c, self.cols)
        return r * (self.h + self.gap), k * (self.w + self.gap)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        c = np.arange(self.channels)
        r, k = np.divmod(c, self.cols)
        return k * (self.w + self.gap) + (self.w - 1) / 2, r * (self.h + self.gap) + (self.h - 1) / 2


def mosaic_layout(channels: int, h: int, w: int, cols: int | None = None, gap: int | None = None) -> MosaicLayout:
    """A wide grid (about 2:1 in tiles); the gap is 1 pixel for maps up to 8 px and 2 beyond, unless given."""
    cols = cols or min(channels, max(1, int(math.ceil(math.sqrt(channels * 2)))))
    return MosaicLayout(channels, h, w, cols, (1 if h <= 8 else 2) if gap is None else gap)


def tile(maps: np.ndarray, layout: MosaicLayout) -> np.ndarray:
    """``[C, H, W]`` -> one ``[rows*(H+gap)-gap, cols*(W+gap)-gap]`` array, NaN in the gaps."""
    out = np.full(layout.shape, np.nan, dtype=np.float32)
    for c in range(layout.channels):
        y, x = layout.origin(c)
        out[y:y + layout.h, x:x + layout.w] = maps[c]
    return out


def unit_scale(maps: torch.Tensor, zmax: float | None) -> np.ndarray:
    """``[C, H, W]`` activations -> float32 [0, 1] for drawing.

    ``zmax``: one shared ``[0, zmax]`` scale (channels, and dense against pruned, compare);
    ``None``: per-channel min-max (each map's pattern in the full range; says nothing about strength).
    The shared scale runs in numpy: one pass on one thread, where torch would wake its thread pool for
    a display detail.
    """
    if zmax is None:
        return per_channel_minmax(maps).numpy()
    return np.clip(maps.numpy() / np.float32(zmax), 0.0, 1.0)


def scale_note(zmax: float | None) -> str:
    """How a drawing was scaled, in the words titles and captions use."""
    return "per-channel min-max" if zmax is None else f"shared scale 0..{zmax:.3g}"
