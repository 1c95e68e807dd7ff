"""The views' one look: colour scales and palettes, the quantisation of activations to colour levels, the
rung labels and colours, and the layout helpers every figure module shares. Colours carry meaning and stay put:
one colour per status (plus a marker symbol, so curves survive greyscale) and one per rung, darker for sparser.
"""

from __future__ import annotations

import math
import re
from typing import Iterable

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from ..model.ladder import LADDER
from ..stats.status import ACTIVATION_DEAD, ALIVE, DORMANT, WEAKENED, WEIGHT_DEAD, ZERO_ON_IMAGE

GREENS = "Greens"  # plotly's named scale runs light to dark: darker = stronger activation
LEVELS = 255
ROLE_COLORS = {"dense": "#2b8cbe", "pruned": "#e6550d"}
# One palette for channel statuses, wherever they are drawn (bars, curves, tile labels), and its light tints
# for table rows.
STATUS_COLORS = {ALIVE: "#238b45", WEIGHT_DEAD: "#525252", ACTIVATION_DEAD: "#cb181d", DORMANT: "#f16913",
                 WEAKENED: "#6a51a3", ZERO_ON_IMAGE: "#fd8d3c"}
STATUS_TINTS = {WEIGHT_DEAD: "#d9d9d9", ACTIVATION_DEAD: "#fcbba1", DORMANT: "#fdd0a2", WEAKENED: "#dadaeb"}


def quantise(values01: np.ndarray) -> np.ndarray:
    """[0, 1] with NaN gaps -> uint8 levels 1..255, and 0 for the gaps (drawn transparent by the colorscale)."""
    q = np.rint(np.clip(np.nan_to_num(values01, nan=0.0), 0, 1) * (LEVELS - 1)).astype(np.uint8) + 1
    q[np.isnan(values01)] = 0
    return q


MARK_COLOUR = "rgba(214,39,40,0.45)"  # laid over the selected tile: red, its pattern still visible
PLOT_WIDTH_PX = 380  # about the width a mosaic's plot gets in the app (half a wide page): sizes the mark


STATUS_SYMBOLS = {WEIGHT_DEAD: "x", ACTIVATION_DEAD: "circle", DORMANT: "diamond", WEAKENED: "triangle-down"}
DIVERGING = "RdBu"  # weights: red negative, blue positive, white 0 (zmid=0)
MARGIN = dict(l=4, r=4, t=40, b=4)


def rung_label(percent: int) -> str:
    """``dense`` or ``pruned 95%``: the shipped rung's own label, or the same form for any other percent."""
    for r in LADDER:
        if r.percent == percent:
            return r.label
    return "dense" if percent == 0 else f"pruned {percent:g}%"


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
