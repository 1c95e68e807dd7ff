"""The views' one look: colour scales and palettes, the quantisation of activations to colour levels, the
rung colours (their labels come from vggexplorer.model.ladder.rung_label), and the layout helpers every figure
module shares. Colours carry meaning and stay put: one colour per status (plus a marker symbol, so curves
survive greyscale) and one per rung, darker for sparser.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Iterable

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale, sample_colorscale, unlabel_rgb

from ..stats.status import ACTIVATION_DEAD, ALIVE, DORMANT, UNSCANNED, WEAKENED, WEIGHT_DEAD

GREENS = "Greens"  # plotly's named scale runs light to dark: darker = stronger activation
LEVELS = 255
ROLE_COLORS = {"dense": "#2b8cbe", "pruned": "#e6550d"}
# One palette for channel statuses, wherever they are drawn (bars, curves, tile labels), and its light tints
# for table rows.
STATUS_COLORS = {ALIVE: "#238b45", WEIGHT_DEAD: "#525252", ACTIVATION_DEAD: "#cb181d", DORMANT: "#f16913",
                 WEAKENED: "#6a51a3", UNSCANNED: "#969696"}
STATUS_TINTS = {WEIGHT_DEAD: "#d9d9d9", ACTIVATION_DEAD: "#fcbba1", DORMANT: "#fdd0a2", WEAKENED: "#dadaeb"}


def quantise(values01: np.ndarray) -> np.ndarray:
    """[0, 1] with NaN gaps -> uint8 levels 1..255, and 0 for the gaps (drawn transparent by the colorscale)."""
    q = np.rint(np.clip(np.nan_to_num(values01, nan=0.0), 0, 1) * (LEVELS - 1)).astype(np.uint8) + 1
    q[np.isnan(values01)] = 0
    return q


# A level's colour, for every drawing of quantised maps (the app's mosaics and the PNG grid): level L in 1..LEVELS
# is GREENS at (L - 1) / (LEVELS - 1), so level 1 is its lightest colour (value 0) and LEVELS its darkest (the top).

def level_colorscale() -> list[list]:
    """A Plotly colorscale for levels drawn with ``zmin=0, zmax=LEVELS``: level 0 (the gaps) transparent, level L
    GREENS at ``(L - 1) / (LEVELS - 1)`` (each GREENS stop moved to where its level sits on ``0..LEVELS``)."""
    clear = "rgba(0,0,0,0)"
    return [[0.0, clear], [0.5 / LEVELS, clear]] + [[(1 + p * (LEVELS - 1)) / LEVELS, col]
                                                   for p, col in get_colorscale(GREENS)]


@lru_cache(maxsize=1)
def level_rgb() -> np.ndarray:
    """``uint8 [LEVELS + 1, 3]``: each level's colour as :func:`level_colorscale` draws it (row 0, the gaps', white)."""
    pos = (np.arange(1, LEVELS + 1) - 1) / (LEVELS - 1)
    cols = sample_colorscale(get_colorscale(GREENS), pos.tolist(), colortype="rgb")
    lut = np.full((LEVELS + 1, 3), 255, np.uint8)
    lut[1:] = np.array([unlabel_rgb(c) for c in cols], np.float64).round().astype(np.uint8)
    lut.setflags(write=False)
    return lut


MARK_COLOUR = "rgba(214,39,40,0.45)"  # laid over the selected tile: red, its pattern still visible
PLOT_WIDTH_PX = 380  # about the width a mosaic's plot gets in the app (half a wide page): sizes the mark


STATUS_SYMBOLS = {WEIGHT_DEAD: "x", ACTIVATION_DEAD: "circle", DORMANT: "diamond", WEAKENED: "triangle-down"}
DIVERGING = "RdBu"  # weights: red negative, blue positive, white 0 (zmid=0)
MARGIN = dict(l=4, r=4, t=40, b=4)


def rung_color(percent: float) -> str:
    """Dense keeps the app's dense blue; rungs run light to dark orange-red with sparsity."""
    if percent == 0:
        return ROLE_COLORS["dense"]
    return sample_colorscale("OrRd", [0.35 + 0.65 * min(max(percent, 0), 100) / 100])[0]


def _block_key(name: str) -> tuple:
    m = re.search(r"(\d+)$", name)
    return (name[:m.start()], int(m.group(1))) if m else (name, -1)


def _pct(fraction: float) -> str:
    """93% ; one decimal where rounding would claim 0% or 100% of a filter that is neither."""
    s = f"{fraction * 100:.0f}%"
    if (s in ("0%", "100%")) and 0 < fraction < 1:
        s = f"{math.floor(fraction * 1000) / 10:.1f}%" if fraction > 0.5 else f"{math.ceil(fraction * 1000) / 10:.1f}%"
    return s


def _percent_scale(values: Iterable[float], limit: float = 1.0) -> float:
    """100 when every finite value lies within [-limit, limit] (fractions), else 1 (already percents)."""
    v = np.asarray([x for x in values if x is not None], np.float64)
    v = v[np.isfinite(v)]
    return 100.0 if v.size == 0 or np.abs(v).max() <= limit else 1.0


def _layout(fig: go.Figure, title: str, height: int, **kw) -> go.Figure:
    fig.update_layout(**{"title": dict(text=title, font=dict(size=13)), "height": height, "margin": MARGIN, **kw})
    return fig
