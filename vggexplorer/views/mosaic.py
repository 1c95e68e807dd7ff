"""One block's channel maps laid out as one grid: the layout and the [0, 1] scaling, for every drawing.

The app's interactive mosaics (``figures.layer_mosaic``) and the downloadable PNG grid
(``render.activation_sheet``) both tile a ``[C, H, W]`` block with :func:`mosaic_layout` and scale
it with a :class:`Scale`, so a channel sits at the same place and has the same shade in both.

The scales, by the name a link carries (:data:`SCALES` gives each one's label):

* ``shared`` (the default): one ``[0, top]`` range for every channel of the layer and both models, ``top`` the
  :data:`ROBUST_PERCENTILE`-th percentile of all their values; the few values above it are drawn darkest
  (they saturate). A top set by the maximum lets a handful of peak pixels draw the rest of the layer white.
* ``minmax``: each map stretched over the full range by its own min and max: its pattern, not its strength.
* ``split-max``: each channel divided by its own maximum over the test split (the dataset scan's ``max``), so a
  tile reads "how strongly, for this channel"; above 1 (an image stronger than any test image) saturates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from ..probe.analysis import per_channel_minmax, per_channel_of_max, shared_scale, value_percentile

# Of image 6000's conv5 values (dense and 95%), the 99.5th percentile is 0.24 and the max 0.70; of conv7's, 1.04
# against 95%'s peak of 4.19 (dense's is 1.10). The top 0.5% of the values saturate; the rest get ~3x the ink.
ROBUST_PERCENTILE = 99.5
SHARED, MINMAX, SPLIT_MAX = "shared", "minmax", "split-max"
# URL value -> the label the Explorer's scale picker shows
SCALES = {SHARED: "shared, robust top", MINMAX: "per-channel min-max", SPLIT_MAX: "per channel, of its test-split max"}
SCALES_HELP = (f"Shared: one 0..top scale for every channel of the layer and both models, so tiles compare; top is "
               f"the {ROBUST_PERCENTILE:g}th percentile of their values, and the few above it draw darkest. "
               "Per-channel min-max: each map uses the full range, to see its pattern. Per channel, of its test-split "
               "max: each channel divided by its own maximum over the test split (from the dataset scan), to see how "
               "strongly this image drives it.")


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


@dataclass(frozen=True, eq=False)
class Scale:
    """How one drawing maps a block's maps ``[C, H, W]`` to ``[0, 1]``; build one with :func:`robust`, :func:`fixed`,
    :func:`split_max` or :data:`PER_CHANNEL_MINMAX`."""

    kind: str  # a key of SCALES
    top: float | None = None  # shared: the value drawn darkest
    percentile: float | None = None  # shared: the percentile ``top`` is (None: a given top, or the maps' max)
    of: str = ""  # shared: whose values set ``top``, e.g. "both models"
    channel_max: np.ndarray | None = None  # split-max: [C], each channel's maximum over the test split

    @property
    def saturates(self) -> bool:
        """Whether values above the top are clipped to it (a robust top, or a channel above its test-split max)."""
        return self.percentile is not None or self.kind == SPLIT_MAX

    def unit(self, maps: torch.Tensor) -> np.ndarray:
        """``[C, H, W]`` activations -> float32 [0, 1] for drawing. The shared scale runs in numpy: one pass on one
        thread, where torch would wake its thread pool for a display detail."""
        if self.kind == MINMAX:
            return per_channel_minmax(maps).numpy()
        if self.kind == SPLIT_MAX:
            return per_channel_of_max(maps, self.channel_max)
        return np.clip(maps.numpy() / np.float32(self.top), 0.0, 1.0)

    def note(self) -> str:
        """How the drawing was scaled, in the words titles and captions use."""
        if self.kind == MINMAX:
            return "per-channel min-max"
        if self.kind == SPLIT_MAX:
            return "each channel / its max over the test split; above 1 saturates"
        if self.percentile is None:
            return f"shared scale 0..{self.top:.3g}" + (f", top = max of {self.of}" if self.of else "")
        return f"shared scale, top = {self.percentile:g}th percentile of {self.of} ({self.top:.3g}); above it saturates"

    def ticks(self) -> tuple[str, list[str]]:
        """The colourbar's title and its labels at 0, half and the top."""
        if self.kind == MINMAX:
            return "activation", ["min", "mid", "max"]
        if self.kind == SPLIT_MAX:
            return "of its test-split max", ["0", "0.5", "≥1"]
        return "activation", ["0", f"{self.top / 2:.3g}", ("≥" if self.saturates else "") + f"{self.top:.3g}"]


PER_CHANNEL_MINMAX = Scale(MINMAX)


def _whose(n: int) -> str:
    return "the model" if n == 1 else "both models" if n == 2 else f"{n} models"


def robust(*maps: torch.Tensor, q: float = ROBUST_PERCENTILE) -> Scale:
    """The shared scale of a layer over the given models' maps: top = the ``q``-th percentile of all their values,
    or their max where that is 0 (a layer all but silent on this image)."""
    top = value_percentile(*maps, q=q)
    if top > 0:
        return Scale(SHARED, top=top, percentile=q, of=_whose(len(maps)))
    return Scale(SHARED, top=shared_scale(*maps), of=_whose(len(maps)))


def fixed(top: float) -> Scale:
    """A shared ``[0, top]`` scale with a given top (nothing above it, or clipping is stated elsewhere)."""
    return Scale(SHARED, top=float(top) if top and top > 0 else 1.0)


def split_max(channel_max: np.ndarray) -> Scale:
    """Each channel divided by its own maximum over the test split (the scan's per-channel ``max``)."""
    return Scale(SPLIT_MAX, channel_max=np.asarray(channel_max, np.float32))


def block_scales(maps: Mapping[str, torch.Tensor], kind: str, channel_max: Mapping[str, np.ndarray | None]
                 ) -> tuple[dict[str, Scale], list[str]]:
    """Role -> the ``kind`` scale of one block's maps ``[C, H, W]`` for each model shown, and the roles that fell back.

    ``shared``: one :func:`robust` scale over every model's maps. ``split-max``: each model's own
    ``channel_max[role]`` (the scan's per-channel maximum over the test split); a model without one (no scan
    covers it) falls back to the shared scale and is listed. ``minmax``: per-channel min-max.
    """
    if kind not in SCALES:
        raise ValueError(f"unknown colour scale {kind!r}: expected one of {', '.join(SCALES)}")
    if kind == MINMAX:
        return {r: PER_CHANNEL_MINMAX for r in maps}, []
    missing = [r for r in maps if kind == SPLIT_MAX and channel_max.get(r) is None]
    shared = robust(*maps.values()) if kind == SHARED or missing else None
    return {r: shared if r in missing or kind == SHARED else split_max(channel_max[r]) for r in maps}, missing
