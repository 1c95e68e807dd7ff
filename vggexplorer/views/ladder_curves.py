"""Figures against sparsity, dense and every rung: the death curves, filter sparsity, accuracy, size and CKA.

Rungs are named by their nominal sparsity percent (0 = dense); any set of rungs is drawn, not only the shipped
five. Accuracies may come as fractions (as ``evaluate --json`` reports them) or as percents: values all within
[-1, 1] (top-1 within [0, 1]) are read as fractions. Arrays go out as float32 and hover text comes from
``hovertemplate`` + ``customdata``, never one string per heatmap cell.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from ..model.vgg import short_name
from ..stats.status import CATEGORIES, SPARSE_FILTER, percent, sparse_filter
from ..model.ladder import rung_label
from .style import (ROLE_COLORS, STATUS_COLORS, STATUS_SYMBOLS, _block_key, _layout, _percent_scale, rung_color)

def sparsity_axis(percents: Sequence[int], title: str = "weights zero (nominal)") -> dict:
    """An x axis for rungs: placed by the weights *left* (100 - p, log scale, reversed), labelled by the weights
    zero. 90% and 95% zero are 2x apart in what is left, so they no longer sit on top of each other; traces
    use :func:`weights_left` as x."""
    left = weights_left(percents)
    return dict(title=f"{title}; spaced by the weights left, log scale", type="log", autorange="reversed",
                tickvals=left, ticktext=[f"{p}%" for p in percents])


def weights_left(percents: Sequence[int]) -> list[float]:
    """``100 - p`` for each rung's nominal sparsity ``p``: the x of :func:`sparsity_axis`."""
    return [100.0 - p for p in percents]


def death_curves(counts: Mapping[int, Mapping[str, Mapping[str, int]]], channels: Mapping[str, int]) -> go.Figure:
    """Per block, the channels in each graded dead category against sparsity: one small subplot per block."""
    percents = sorted(counts)
    blocks = sorted({b for p in percents for b in counts[p]}, key=_block_key)
    cols = max(1, min(4, len(blocks)))
    rows = max(1, math.ceil(len(blocks) / cols))
    titles = [f"{b} · {channels[b]} channels" if b in channels else b for b in blocks]
    axis = sparsity_axis(percents)
    # one x-axis title under the whole grid (a title per subplot runs into its neighbours')
    fig = make_subplots(rows, cols, shared_xaxes=True, subplot_titles=titles, vertical_spacing=0.14 if rows > 1 else 0,
                        horizontal_spacing=0.05, x_title=axis["title"])
    labels = [rung_label(p) for p in percents]
    for i, b in enumerate(blocks):
        r, c = divmod(i, cols)
        for cat in CATEGORIES:
            y = [counts[p][b].get(cat, 0) if b in counts[p] else None for p in percents]
            fig.add_trace(go.Scatter(
                x=weights_left(percents), y=y, mode="lines+markers", name=cat, legendgroup=cat, showlegend=i == 0,
                line=dict(color=STATUS_COLORS[cat], width=2), marker=dict(symbol=STATUS_SYMBOLS[cat], size=7),
                customdata=labels, hovertemplate=f"{b} · {cat}<br>%{{customdata}}: %{{y}} channels<extra></extra>"),
                r + 1, c + 1)
    fig.update_xaxes(**{k: v for k, v in axis.items() if k != "title"})
    fig.update_yaxes(rangemode="tozero")
    fig.update_yaxes(title_text="channels", col=1)
    fig = _layout(fig, "Dead channels per block across the ladder", 120 + 190 * rows,
                  legend=dict(orientation="h", yanchor="bottom", y=1.06, x=0), margin=dict(l=4, r=4, t=100, b=50),
                  hovermode="closest")
    # the title at the very top, the legend under it, the subplot titles under that: none runs into another
    return fig.update_layout(title=dict(y=1, yref="container", yanchor="top", pad=dict(t=8)))


def filter_sparsity_distribution(sparsity: Mapping[int, Mapping[str, np.ndarray]], block: str | None = None) -> go.Figure:
    """Per rung, a box of its filters' zero fractions (one block, or all pooled), with the count >= 90% zero."""
    fig = go.Figure()
    n = 0
    for p in sorted(sparsity):
        per_block = sparsity[p]
        names = [block] if block is not None else sorted(per_block, key=_block_key)
        v = np.concatenate([np.asarray(per_block[b], np.float64).ravel() for b in names]) if names else np.zeros(0)
        n = max(n, v.size)
        label = rung_label(p)
        mostly = int(sparse_filter(v).sum())
        fig.add_trace(go.Box(y=(v * 100).astype(np.float32), name=label, x0=label, marker_color=rung_color(p),
                             boxpoints="outliers", showlegend=False, meta={"percent": p, "mostly_zero": mostly}))
        fig.add_annotation(x=label, y=100, yshift=4, yanchor="bottom", showarrow=False, font=dict(size=11),
                           text=f"{mostly} ≥ {percent(SPARSE_FILTER)} zero")
    fig.add_hline(y=SPARSE_FILTER * 100, line=dict(color="#969696", dash="dot", width=1))
    where = f"{block} · {n} filters" if block is not None else f"all blocks pooled · {n} filters"
    return _layout(fig, f"Per-filter sparsity · {where}", 340,
                   yaxis=dict(title="filter weights zero", ticksuffix="%", range=[-3, 112]))


def accuracy_vs_sparsity(points: Sequence[Mapping]) -> go.Figure:
    """The lab's curve: test top-1 against the actual fraction of zero weights, one labelled point per model."""
    pts = sorted(points, key=lambda q: q["zero_fraction"])
    zs = _percent_scale([q["zero_fraction"] for q in pts])
    ts = _percent_scale([q["top1"] for q in pts])
    labels = [q.get("label") or rung_label(q["percent"]) for q in pts]
    x = np.array([q["zero_fraction"] for q in pts], np.float64) * zs
    y = np.array([q["top1"] for q in pts], np.float64) * ts
    fig = go.Figure(go.Scatter(
        x=x, y=y, mode="lines+markers+text", text=labels, name="test top-1",
        # alternate above / below the point, from the last one, so close neighbours' labels do not collide
        textposition=["top center" if (len(pts) - 1 - i) % 2 == 0 else "bottom center" for i in range(len(pts))],
        line=dict(color="#969696"), marker=dict(size=10, color=[rung_color(q["percent"]) for q in pts]),
        hovertemplate="%{text}<br>%{x:.1f}% of weights zero<br>top-1 %{y:.2f}%<extra></extra>"))
    dense = [yy for q, yy in zip(pts, y) if q["percent"] == 0]
    if dense:
        fig.add_hline(y=dense[0], line=dict(color=ROLE_COLORS["dense"], dash="dot", width=1),
                      annotation_text=f"dense {dense[0]:.2f}%", annotation_position="bottom right")
    return _layout(fig, "Test top-1 against sparsity across the ladder", 360, showlegend=False,
                   xaxis=dict(title="weights exactly zero (conv + linear)", ticksuffix="%", range=[-5, 104]),
                   yaxis=dict(title="test top-1", ticksuffix="%"))


def size_per_rung(rows: Sequence[Mapping]) -> go.Figure:
    """Size on disk (MiB, left axis) and non-zero parameters (millions, right axis) per model."""
    labels = [r["label"] for r in rows]
    mib = np.array([r["size_bytes"] for r in rows], np.float64) / 2 ** 20
    mp = np.array([r["nonzero_params"] for r in rows], np.float64) / 1e6
    ref = next((i for i, l in enumerate(labels) if l == "dense"), 0)

    def rel(v):
        return v / v[ref] if v.size and v[ref] else np.full(v.shape, np.nan)

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=labels, y=mib, name="size on disk (MiB)", offsetgroup="size", marker_color="#6baed6",
                         text=[f"{v:.3g} MiB" for v in mib], textposition="outside",
                         customdata=np.stack([[r["size_bytes"] for r in rows], rel(mib)], 1),
                         hovertemplate="%{x}<br>%{customdata[0]:,} bytes<br>%{customdata[1]:.1%} of dense<extra></extra>"),
                  secondary_y=False)
    fig.add_trace(go.Bar(x=labels, y=mp, name="non-zero parameters (M)", offsetgroup="nnz", marker_color="#fd8d3c",
                         text=[f"{v:.3g} M" for v in mp], textposition="outside",
                         customdata=np.stack([[r["nonzero_params"] for r in rows], rel(mp)], 1),
                         hovertemplate="%{x}<br>%{customdata[0]:,} non-zero parameters<br>"
                                       "%{customdata[1]:.1%} of dense<extra></extra>"),
                  secondary_y=True)
    fig.update_yaxes(title_text="MiB on disk", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title_text="non-zero parameters (M)", rangemode="tozero", secondary_y=True, showgrid=False)
    return _layout(fig, "Size and non-zero parameters per model", 340, barmode="group",
                   legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), margin=dict(l=4, r=4, t=60, b=4))


def layer_sparsity_per_rung(sparsity: Mapping[int, Mapping[str, float]]) -> go.Figure:
    """Grouped bars: each layer's share of zero weights, one trace per rung."""
    layers = list(dict.fromkeys(l for p in sorted(sparsity) for l in sparsity[p]))
    scale = _percent_scale([v for p in sparsity for v in sparsity[p].values()])
    names = [short_name(l) for l in layers]
    fig = go.Figure()
    for p in sorted(sparsity):
        label = rung_label(p)
        y = [sparsity[p][l] * scale if l in sparsity[p] else None for l in layers]
        fig.add_trace(go.Bar(x=names, y=y, name=label, marker_color=rung_color(p),
                             hovertemplate=f"{label} · %{{x}}: %{{y:.1f}}% zero<extra></extra>"))
    return _layout(fig, "Per-layer sparsity per model", 340, barmode="group",
                   yaxis=dict(title="weights zero", ticksuffix="%", range=[0, 100]),
                   legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), margin=dict(l=4, r=4, t=40, b=4))


def cka_by_block(cka: Mapping[int, Mapping[str, float]]) -> go.Figure:
    """Linear CKA between dense and each rung, one line per block against sparsity (1 at dense)."""
    percents = sorted(set(cka) | {0})
    blocks = sorted({b for p in cka for b in cka[p]}, key=_block_key)
    colours = sample_colorscale("Viridis", [i / max(1, len(blocks) - 1) * 0.9 for i in range(len(blocks))])
    labels = [rung_label(p) for p in percents]
    fig = go.Figure()
    for b, col in zip(blocks, colours):
        y = [1.0 if p == 0 and b not in cka.get(0, {}) else cka.get(p, {}).get(b) for p in percents]
        fig.add_trace(go.Scatter(x=weights_left(percents), y=y, name=b, mode="lines+markers", line=dict(color=col),
                                 customdata=labels,
                                 hovertemplate=f"{b} · %{{customdata}}<br>CKA %{{y:.3f}}<extra></extra>"))
    y0, y1 = cka_range([v for t in fig.data for v in t.y if v is not None])
    return _layout(fig, "Linear CKA with dense, per block", 340, hovermode="closest",
                   xaxis=sparsity_axis(percents),
                   yaxis=dict(title="CKA with dense" + (f" (axis from {y0:g}, not 0)" if y0 > 0 else ""),
                              range=[y0, y1]))


def cka_range(values: Sequence[float]) -> tuple[float, float]:
    """The CKA axis: from a little below the smallest value (8% of its distance to 1, at least 0.002, floored to
    0.01; from 0 when that would be below 0, unless a value is) to a little above 1. From 0, curves between 0.92
    and 1 would lie flat along the top."""
    lo = min([1.0, *values])
    pad = max(0.08 * (1 - lo), 0.002)
    y0 = math.floor((lo - pad) * 100) / 100
    return (y0 if y0 > 0 else 0.0 if lo >= 0 else lo - pad), 1 + pad / 2
