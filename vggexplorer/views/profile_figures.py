"""A channel's class profile, dense against a rung, and the class selectivity index per block across the ladder.

The numbers come from :mod:`vggexplorer.stats.selectivity` (the scan's per-class means); this module only picks
them for the models shown and draws them. Arrays go out as float32.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ..model.ladder import rung_label
from ..stats.selectivity import (SELECTIVITY, block_selectivity, class_profile, distribution, missing,
                                 preferred_class, selectivity_index)
from .ladder_model import ladder_roles
from .style import ROLE_COLORS, _block_key, _layout, rung_color


def channel_profiles(scan: Any, scanned_as: Mapping[str, str], labels: Mapping[str, str], block: str,
                     ch: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The channel's class profile for each model shown: (label -> ``[classes]``, label -> why there is none).

    ``scanned_as``: the model's slot -> its role in ``scan``; ``labels``: slot -> the name shown."""
    profiles, why = {}, {}
    for slot, role in scanned_as.items():
        problem = missing(scan, role)
        if problem is None:
            profiles[labels[slot]] = class_profile(scan, role, block, ch)
        else:
            why[labels[slot]] = problem
    return profiles, why


def profile_summary(profiles: Mapping[str, np.ndarray], classes: Sequence[str]) -> str:
    """Which class each model's channel fires for most (with its index), and, for two, whether pruning changed it."""
    parts, prefs = [], []
    for label, p in profiles.items():
        c = preferred_class(p)
        prefs.append(c)
        if c is None:
            parts.append(f"{label} never fires")
        else:
            si = selectivity_index(np.asarray(p)[None])[0]
            parts.append(f"{label} fires most for {classes[c]} (selectivity {si:.2f})")
    text = "; ".join(parts)
    if len(prefs) == 2:
        a, b = prefs
        verdict = {(True, True): "pruning kept its class" if a == b else "pruning changed its class",
                   (True, False): "pruning silenced it", (False, True): "it fires only after pruning",
                   (False, False): ""}[(a is not None, b is not None)]
        text += f": {verdict}" if verdict else ""
    return text


def class_profile_figure(profiles: Mapping[str, np.ndarray], classes: Sequence[str], block: str, ch: int,
                         colors: Sequence[str] | None = None) -> go.Figure:
    """Grouped bars over the classes: the channel's mean activation per class, one colour per model (dense first).

    The class each model fires for most is outlined in black."""
    colors = list(colors) if colors is not None else [ROLE_COLORS["dense"], ROLE_COLORS["pruned"]]
    fig = go.Figure()
    for i, (label, p) in enumerate(profiles.items()):
        top = preferred_class(p)
        fig.add_trace(go.Bar(
            x=list(classes), y=np.asarray(p, np.float32), name=label, marker_color=colors[i % len(colors)],
            marker_line=dict(color=["black" if j == top else "rgba(0,0,0,0)" for j in range(len(classes))], width=2),
            hovertemplate=f"{label} · %{{x}}: mean %{{y:.3f}}<extra></extra>", meta={"preferred": top}))
    return _layout(fig, f"{block} channel {ch}: mean activation per class over the test split<br>"
                        f"<sup>{profile_summary(profiles, classes)}</sup>", 320, barmode="group",
                   yaxis=dict(title="mean activation", rangemode="tozero"), margin=dict(l=4, r=4, t=64, b=4),
                   legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))


def selectivity_by_rung(scan: Any) -> dict[int, dict[str, np.ndarray]]:
    """``index[percent][block]``: every channel's class selectivity index, for dense and every rung with class means."""
    return {scan.percent(r): block_selectivity(scan, r) for r in ladder_roles(scan)
            if scan.percent(r) is not None and missing(scan, r) is None}


def undefined_counts(index: Mapping[int, Mapping[str, np.ndarray]]) -> dict[int, int]:
    """Percent -> how many channels (all blocks) have no index because they never fire."""
    return {p: int(sum(np.isnan(v).sum() for v in per_block.values())) for p, per_block in index.items()}


def _none(x: float) -> float | None:
    return None if not np.isfinite(x) else x


def selectivity_figure(index: Mapping[int, Mapping[str, np.ndarray]]) -> go.Figure:
    """Per block, one box per rung (dense first): quartiles and 1.5-IQR whiskers of the channels' selectivity index
    (channels that never fire left out). The y axis spans the whiskers, where the rungs differ, not all of [0, 1]."""
    fig = go.Figure()
    percents = sorted(index)
    blocks = sorted({b for p in percents for b in index[p]}, key=_block_key)
    lo, hi = [], []
    for p in percents:
        ds = [distribution(index[p][b]) if b in index[p] else distribution(np.zeros(0)) for b in blocks]
        lo += [d.lower for d in ds if d.n]
        hi += [d.upper for d in ds if d.n]
        fig.add_trace(go.Box(
            x=blocks, q1=[_none(d.q1) for d in ds], median=[_none(d.median) for d in ds],
            q3=[_none(d.q3) for d in ds], lowerfence=[_none(d.lower) for d in ds],
            upperfence=[_none(d.upper) for d in ds], name=rung_label(p), marker_color=rung_color(p),
            boxpoints=False, meta={"percent": p, "n": [d.n for d in ds], "undefined": [d.undefined for d in ds]}))
    span = (min(lo), max(hi)) if lo else (0.0, 1.0)
    pad = max(0.02, 0.05 * (span[1] - span[0]))
    y_range = [max(0.0, span[0] - pad), min(1.0, span[1] + pad)]
    return _layout(fig, f"{SELECTIVITY} per block, dense and every rung", 360, boxmode="group",
                   yaxis=dict(title=SELECTIVITY, range=y_range), xaxis=dict(title="block"),
                   legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))
