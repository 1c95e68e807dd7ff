"""Figures of what a rung gets differently from dense over the test split: per-class accuracy and a disagreement's caption.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ..stats.compare import per_class_test
from ..model.ladder import rung_label
from .style import _layout, _percent_scale, rung_color

def per_class_accuracy(rows: Sequence[Mapping]) -> go.Figure:
    """Per class, pruned − dense top-1 (percentage points) with its 95% interval; one trace per rung. A star marks
    a class whose McNemar p, Holm-adjusted over the rung's classes, is at most the family-wise alpha
    (:func:`vggexplorer.stats.compare.per_class_test`)."""
    by_rung: dict[int, list[Mapping]] = defaultdict(list)
    for r in rows:
        by_rung[r["percent"]].append(r)
    scale = _percent_scale([r[k] for r in rows for k in ("dense_top1", "pruned_top1")])
    fig = go.Figure()
    for p in sorted(by_rung):
        rs, label = by_rung[p], rung_label(p)
        diff = np.array([r["diff"] for r in rs], np.float64) * scale
        lo = np.array([r["ci_low"] for r in rs], np.float64) * scale
        hi = np.array([r["ci_high"] for r in rs], np.float64) * scale
        sig = [bool(r["significant"]) for r in rs]
        cd = np.array([[r["dense_top1"] * scale, r["pruned_top1"] * scale, l, h, r["p_value"], r["p_adjusted"]]
                       for r, l, h in zip(rs, lo, hi)], np.float64)
        fig.add_trace(go.Scatter(
            x=[r["class"] for r in rs], y=diff, name=label, mode="markers", customdata=cd,
            error_y=dict(type="data", symmetric=False, array=np.maximum(hi - diff, 0), arrayminus=np.maximum(diff - lo, 0),
                         thickness=1.2, width=3),
            marker=dict(color=rung_color(p), symbol=["star" if s else "circle" for s in sig],
                        size=[14 if s else 8 for s in sig],
                        line=dict(color="#000000", width=[1.5 if s else 0 for s in sig])),
            text=["significant" if s else "not significant" for s in sig],
            hovertemplate=f"{label} · %{{x}}<br>Δ %{{y:+.2f}} pp [%{{customdata[2]:+.2f}}, %{{customdata[3]:+.2f}}]"
                          "<br>dense %{customdata[0]:.1f}% → %{customdata[1]:.1f}%"
                          "<br>McNemar p = %{customdata[4]:.3g}, Holm-adjusted %{customdata[5]:.3g}: %{text}"
                          "<extra></extra>"))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"★ {per_class_test()}",
                             marker=dict(symbol="star", size=12, color="#969696", line=dict(color="#000000", width=1.5))))
    fig.add_hline(y=0, line=dict(color="#636363", width=1))
    return _layout(fig, "Per-class top-1, pruned − dense (percentage points, 95% interval)", 380,
                   scattermode="group", yaxis=dict(title="Δ top-1 (pp)", zeroline=False),
                   legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), margin=dict(l=4, r=4, t=60, b=4))


def disagreement_caption(dense_pred: str, pruned_pred: str, truth: str, kind: str, rung: int | str | None = None) -> str:
    """``dense: cat ✗ · 95%: dog ✓ · truth dog``; ``kind`` (fixed / broke / both wrong) must match the marks."""
    expected = {(False, True): "fixed", (True, False): "broke", (False, False): "both wrong"}
    if kind not in expected.values():
        raise ValueError(f"kind must be one of {sorted(expected.values())}, got {kind!r}")
    got = expected.get((dense_pred == truth, pruned_pred == truth), "agree")
    if got != kind:
        raise ValueError(f"{kind!r} does not match dense {dense_pred!r}, pruned {pruned_pred!r}, truth {truth!r}")
    name = "pruned" if rung is None else f"{rung}%" if isinstance(rung, (int, float)) else str(rung)
    mark = {True: "✓", False: "✗"}
    return f"dense: {dense_pred} {mark[dense_pred == truth]} · {name}: {pruned_pred} {mark[pruned_pred == truth]} · truth {truth}"
