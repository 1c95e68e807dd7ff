"""Figures for the sparsity ladder: dense against every rung. Pure builders returning ``go.Figure``.

Rungs are named by their nominal sparsity percent (0 = dense); any set of rungs is drawn, not only the
shipped five. Colours carry meaning and stay put: one colour per graded dead category (plus a marker
symbol, so the curves survive greyscale) and one per rung, darker for sparser. Accuracies may come as
fractions (as ``evaluate --json`` reports them) or as percents: values all within [-1, 1] (top-1 within
[0, 1]) are read as fractions. Arrays go out as float32 and hover text comes from ``hovertemplate`` +
``customdata``, never one string per heatmap cell.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from .dead import ACTIVATION_DEAD, ALIVE, CATEGORIES, DORMANT, WEAKENED, WEIGHT_DEAD  # noqa: F401 (re-exported)
from .figures import GREENS, ROLE_COLORS, STATUS_COLORS, mosaic_layout, tile
from .ladder import LADDER

STATUS_SYMBOLS = {WEIGHT_DEAD: "x", ACTIVATION_DEAD: "circle", DORMANT: "diamond", WEAKENED: "triangle-down"}
MOSTLY_ZERO = 0.9  # "filters at least 90% zero"
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


def _short(layer: str) -> str:
    return layer.replace("backbone.", "").replace(".weight", "")


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


# --- Dead filters page -------------------------------------------------------------------------


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
    fig = make_subplots(rows, cols, shared_xaxes=True, subplot_titles=titles, vertical_spacing=0.14 if rows > 1 else 0,
                        horizontal_spacing=0.05)
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
    axis = sparsity_axis(percents)
    fig.update_xaxes(**{k: v for k, v in axis.items() if k != "title"})
    fig.update_xaxes(title_text=axis["title"], row=rows)
    fig.update_yaxes(rangemode="tozero")
    fig.update_yaxes(title_text="channels", col=1)
    return _layout(fig, "Dead channels per block across the ladder", 70 + 190 * rows,
                   legend=dict(orientation="h", yanchor="bottom", y=1.06, x=0), margin=dict(l=4, r=4, t=80, b=4),
                   hovermode="closest")


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
        mostly = int((v >= MOSTLY_ZERO - 1e-6).sum())  # float32 0.9 < 0.9
        fig.add_trace(go.Box(y=(v * 100).astype(np.float32), name=label, x0=label, marker_color=rung_color(p),
                             boxpoints="outliers", showlegend=False, meta={"percent": p, "mostly_zero": mostly}))
        fig.add_annotation(x=label, y=100, yshift=4, yanchor="bottom", showarrow=False, font=dict(size=11),
                           text=f"{mostly} ≥ {MOSTLY_ZERO:.0%} zero")
    fig.add_hline(y=MOSTLY_ZERO * 100, line=dict(color="#969696", dash="dot", width=1))
    where = f"{block} · {n} filters" if block is not None else f"all blocks pooled · {n} filters"
    return _layout(fig, f"Per-filter sparsity · {where}", 340,
                   yaxis=dict(title="filter weights zero", ticksuffix="%", range=[-3, 112]))


# --- Explorer: one channel across the ladder, and its filter -----------------------------------


def channel_across_ladder(maps: Sequence[np.ndarray], labels: Sequence[str], statuses: Sequence[str],
                          filter_sparsity: Sequence[float], block: str, channel: int, zmax: float,
                          selected: int | None = None) -> go.Figure:
    """One channel's post-ReLU map for every model tiled in one row (one heatmap, one shared 0..zmax scale).

    Each tile is captioned with its model, status and filter sparsity; ``selected`` outlines one tile
    (e.g. the chosen rung).
    """
    n = len(maps)
    if n == 0 or not len(labels) == len(statuses) == len(filter_sparsity) == n:
        raise ValueError(f"need one label, status and sparsity per map: {n} maps, {len(labels)} labels, "
                         f"{len(statuses)} statuses, {len(filter_sparsity)} sparsities")
    if len(set(labels)) != n:
        raise ValueError(f"model labels must be distinct: {list(labels)}")
    arr = np.stack([np.asarray(m, np.float32) for m in maps])
    _, h, w = arr.shape
    lay = mosaic_layout(n, h, w, cols=n)
    step = w + lay.gap
    # one category per column: the hover's %{x} names the model and the column inside its tile
    xs = [f"{labels[k // step]} · x {k % step}" if k % step < w else f"gap {k}" for k in range(lay.shape[1])]
    zmax = float(zmax) if zmax and zmax > 0 else 1e-6
    heat = go.Heatmap(z=tile(arr, lay), x=xs, zmin=0, zmax=zmax, colorscale=GREENS, hoverongaps=False,
                      colorbar=dict(thickness=10, title=dict(text="activation", side="right")),
                      hovertemplate="%{x}, y %{y}<br>value %{z:.3f}<extra></extra>")
    notes = [dict(x=t * step + (w - 1) / 2, y=h - 0.5, yanchor="top", yshift=-2, showarrow=False, font=dict(size=11),
                  text=f"<b>{labels[t]}</b><br><span style='color:{STATUS_COLORS.get(statuses[t], '#444444')}'>"
                       f"{statuses[t]}</span> · {_pct(filter_sparsity[t])} zero") for t in range(n)]
    shapes = []
    if selected is not None and 0 <= selected < n:
        x0 = selected * step - 0.5
        shapes.append(dict(type="rect", x0=x0 - 0.3, x1=x0 + w + 0.3, y0=-0.8, y1=h - 0.2,
                           line=dict(color="#d62728", width=2)))
    pad = 0.4  # room for the outline around the first and last tiles
    fig = go.Figure([heat], dict(
        annotations=notes, shapes=shapes,
        xaxis=dict(visible=False, range=[-0.5 - pad, lay.shape[1] - 0.5 + pad], constrain="domain"),
        yaxis=dict(visible=False, range=[h - 0.5 + pad, -0.5 - pad], scaleanchor="x", constrain="domain"),
        meta={"block": block, "channel": channel, "labels": list(labels), "tile": [h, w], "gap": lay.gap}))
    return _layout(fig, f"{block} · channel {channel} across the ladder · shared scale 0..{zmax:.3g}",
                   int(min(420, max(220, 100 + 900 * h / lay.shape[1]))), margin=dict(l=4, r=4, t=36, b=44),
                   plot_bgcolor="rgba(0,0,0,0)")


def rgb_patch(w: np.ndarray, lim: float) -> np.ndarray:
    """A ``[3, kh, kw]`` conv0 filter as a ``[kh, kw, 3]`` uint8 image: -lim -> 0, 0 -> 128, +lim -> 255."""
    lim = lim if np.isfinite(lim) and lim > 0 else 1.0
    v = np.nan_to_num(np.asarray(w, np.float64), nan=0.0, posinf=lim, neginf=-lim)  # a NaN weight shows as grey
    return np.clip(np.rint(127.5 + 127.5 * v / lim), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def _kernel_mosaic(w: np.ndarray, order: np.ndarray, cols: int | None):
    """Kernels ``w[order]`` tiled (NaN gaps), and each cell's input channel (int16, -1 in the gaps)."""
    _, kh, kw = w.shape
    lay = mosaic_layout(len(order), kh, kw, cols=cols)
    ch = tile(np.broadcast_to(order[:, None, None], (len(order), kh, kw)).astype(np.float32), lay)
    return tile(w[order], lay), np.nan_to_num(ch, nan=-1).astype(np.int16), lay


def filter_weights(dense_w: np.ndarray, pruned_w: np.ndarray, block: str, channel: int, rung_label: str,
                   top: int = 64) -> go.Figure:
    """A conv filter ``[Cin, kh, kw]``: dense beside the rung, on one diverging scale, pruned taps marked "x".

    conv0-like filters (3 inputs) also get an RGB patch each; deeper ones show their ``top`` input
    channels' kernels tiled, strongest first by the dense kernel's L1 norm.
    """
    dense_w, pruned_w = np.asarray(dense_w, np.float32), np.asarray(pruned_w, np.float32)
    if dense_w.shape != pruned_w.shape or dense_w.ndim != 3:
        raise ValueError(f"need two [Cin, kh, kw] filters of one shape, got {dense_w.shape} and {pruned_w.shape}")
    cin, kh, kw = dense_w.shape
    rgb = cin == 3
    pruned = (pruned_w == 0) & (dense_w != 0)
    lim = float(max(np.abs(dense_w).max(initial=0), np.abs(pruned_w).max(initial=0))) or 1.0
    if rgb:
        order = np.arange(cin)
        shown = "input channels R, G, B (0, 1, 2)"
        fig = make_subplots(2, 2, row_heights=[0.45, 0.55], vertical_spacing=0.12, horizontal_spacing=0.06,
                            subplot_titles=("dense · RGB", f"{rung_label} · RGB", "dense · R, G, B",
                                            f"{rung_label} · R, G, B"))
        for c, wt in enumerate((dense_w, pruned_w)):
            fig.add_trace(go.Image(z=rgb_patch(wt, lim), customdata=wt.transpose(1, 2, 0), name="RGB",
                                   hovertemplate="tap (%{y}, %{x})<br>R %{customdata[0]:.4f} · G %{customdata[1]:.4f}"
                                                 " · B %{customdata[2]:.4f}<extra></extra>"), 1, c + 1)
        row = 2
    else:
        order = np.argsort(-np.abs(dense_w).sum((1, 2)), kind="stable")[:max(1, top)]
        shown = (f"top {len(order)} of {cin} input channels by |w|" if len(order) < cin
                 else f"all {cin} input channels, strongest first by |w|")
        fig = make_subplots(1, 2, horizontal_spacing=0.06, subplot_titles=("dense", rung_label))
        row = 1
    for c, (wt, name) in enumerate(((dense_w, "dense"), (pruned_w, rung_label))):
        z, cd, lay = _kernel_mosaic(wt, order, cols=cin if rgb else None)
        fig.add_trace(go.Heatmap(z=z, customdata=cd, zmin=-lim, zmax=lim, zmid=0, colorscale=DIVERGING, name=name,
                                 hoverongaps=False, showscale=c == 1, colorbar=dict(thickness=10, title=dict(text="w")),
                                 hovertemplate=f"{name}<br>input ch %{{customdata}}<br>w %{{z:.4f}}<extra></extra>"),
                      row, c + 1)
        # the pruned taps: where the rung's weight is zero and dense's is not
        ys, xs, cds = [], [], []
        for s, ch in enumerate(order):
            y0, x0 = lay.origin(s)
            for i, j in zip(*np.nonzero(pruned[ch])):
                ys.append(y0 + i), xs.append(x0 + j), cds.append((int(ch), float(dense_w[ch, i, j])))
        fig.add_trace(go.Scatter(
            x=np.array(xs, np.int16), y=np.array(ys, np.int16), mode="markers", showlegend=False, name=f"pruned in {rung_label}",
            customdata=np.array(cds, np.float32).reshape(-1, 2),
            marker=dict(symbol="x-thin-open" if c == 0 else "x", size=12 if rgb else 5,
                        color="#bdbdbd" if c == 0 else "#252525", line=dict(width=1.5 if c == 0 else 0)),
            hovertemplate=("input ch %{customdata[0]}<br>" + (f"pruned in {rung_label}" if c == 0 else "pruned")
                           + " · dense %{customdata[1]:.4f}<extra></extra>")), row, c + 1)
        rows_, cols_ = lay.shape
        fig.update_xaxes(visible=False, range=[-0.5, cols_ - 0.5], constrain="domain", row=row, col=c + 1)
        k = (row - 1) * 2 + c + 1  # make_subplots numbers the axes row by row: x, x2, x3, x4
        fig.update_yaxes(visible=False, range=[rows_ - 0.5, -0.5], constrain="domain", row=row, col=c + 1,
                         scaleanchor="x" if k == 1 else f"x{k}")
    if rgb:
        fig.update_xaxes(visible=False, row=1)
        fig.update_yaxes(visible=False, row=1)
    k, total = int(pruned.sum()), pruned.size
    fig.layout.meta = {"block": block, "channel": channel, "order": order.tolist(), "pruned": k}
    height = 460 if rgb else int(min(700, max(260, 90 + 430 * lay.shape[0] / lay.shape[1])))
    return _layout(fig, f"{block} · filter {channel} · dense vs {rung_label}<br><sup>{shown} · "
                        f"{k:,} of {total:,} weights pruned ({k / total:.0%})</sup>", height,
                   margin=dict(l=4, r=4, t=70, b=4), hovermode="closest", plot_bgcolor="rgba(0,0,0,0)")


# --- Disagreements page ----------------------------------------------------------------------------


def per_class_accuracy(rows: Sequence[Mapping]) -> go.Figure:
    """Per class, pruned − dense top-1 (percentage points) with its 95% interval; one trace per rung."""
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
        cd = np.array([[r["dense_top1"] * scale, r["pruned_top1"] * scale, l, h, r["p_value"]]
                       for r, l, h in zip(rs, lo, hi)], np.float64)
        fig.add_trace(go.Scatter(
            x=[r["class"] for r in rs], y=diff, name=label, mode="markers", customdata=cd,
            error_y=dict(type="data", symmetric=False, array=np.maximum(hi - diff, 0), arrayminus=np.maximum(diff - lo, 0),
                         thickness=1.2, width=3),
            marker=dict(color=rung_color(p), symbol=["star" if s else "circle" for s in sig],
                        size=[14 if s else 8 for s in sig],
                        line=dict(color="#000000", width=[1.5 if s else 0 for s in sig])),
            text=["significant (p ≤ 0.05)" if s else "" for s in sig],
            hovertemplate=f"{label} · %{{x}}<br>Δ %{{y:+.2f}} pp [%{{customdata[2]:+.2f}}, %{{customdata[3]:+.2f}}]"
                          "<br>dense %{customdata[0]:.1f}% → %{customdata[1]:.1f}%"
                          "<br>McNemar p = %{customdata[4]:.3g} %{text}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="p ≤ 0.05 (McNemar)",
                             marker=dict(symbol="star", size=12, color="#969696", line=dict(color="#000000", width=1.5))))
    fig.add_hline(y=0, line=dict(color="#636363", width=1))
    return _layout(fig, "Per-class top-1, pruned − dense (percentage points, 95% interval)", 380,
                   scattermode="group", yaxis=dict(title="Δ top-1 (pp)", zeroline=False),
                   legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), margin=dict(l=4, r=4, t=60, b=4))


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
    lo = min([0.0] + [v for t in fig.data for v in t.y if v is not None])
    return _layout(fig, "Linear CKA with dense, per block", 340, hovermode="closest",
                   xaxis=sparsity_axis(percents),
                   yaxis=dict(title="CKA with dense", range=[lo, 1.02]))


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


# --- Models page -------------------------------------------------------------------------------------


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
    names = [_short(l) for l in layers]
    fig = go.Figure()
    for p in sorted(sparsity):
        label = rung_label(p)
        y = [sparsity[p][l] * scale if l in sparsity[p] else None for l in layers]
        fig.add_trace(go.Bar(x=names, y=y, name=label, marker_color=rung_color(p),
                             hovertemplate=f"{label} · %{{x}}: %{{y:.1f}}% zero<extra></extra>"))
    return _layout(fig, "Per-layer sparsity per model", 340, barmode="group",
                   yaxis=dict(title="weights zero", ticksuffix="%", range=[0, 100]),
                   legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), margin=dict(l=4, r=4, t=40, b=4))
