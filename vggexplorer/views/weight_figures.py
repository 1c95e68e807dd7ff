"""Figures of the weights: a filter's kernels dense against a rung, per-layer sparsity, weight histograms and the
sensitivity scan.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..model.vgg import short_name
from .mosaic import mosaic_layout, tile
from .style import DIVERGING, ROLE_COLORS, _layout

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


def sparsity_bars(layers: Sequence[str], sparsity: Mapping[str, Sequence[float]]) -> go.Figure:
    """Per-layer weight sparsity of each model."""
    fig = go.Figure([go.Bar(x=list(layers), y=np.asarray(v) * 100, name=r, marker_color=ROLE_COLORS.get(r),
                            hovertemplate=f"{r} %{{x}}: %{{y:.1f}}% zero<extra></extra>") for r, v in sparsity.items()])
    fig.update_layout(barmode="group", height=300, yaxis=dict(title="% weights zero", range=[0, 100]),
                      margin=dict(l=4, r=4, t=10, b=4), legend=dict(orientation="h", y=1.1))
    return fig


def weight_histogram(dense_w: np.ndarray, pruned_w: np.ndarray, layer: str, threshold: float | None,
                     bins: int = 80) -> go.Figure:
    """|weight| histograms of one layer, dense vs pruned non-zeros, with the pruning threshold marked.

    Counts are binned here (numpy) so the figure carries 2 x ``bins`` numbers, not millions of weights.
    """
    a, b = np.abs(dense_w.ravel()), np.abs(pruned_w.ravel())
    # NaN/inf weights (a broken upload) are left out and counted in the title, not allowed to break the bins
    dropped = int((~np.isfinite(a)).sum() + (~np.isfinite(b)).sum())
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    b = b[b != 0]
    hi = float(np.quantile(a, 0.999)) if a.size else 0.0
    hi = hi if hi > 0 else 1.0
    edges = np.linspace(0, hi, bins + 1)
    fig = go.Figure()
    for role, v in (("dense", a), ("pruned (non-zero)", b)):
        counts, _ = np.histogram(np.clip(v, 0, hi), edges)
        fig.add_trace(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), name=role, opacity=0.6,
                             marker_color=ROLE_COLORS["dense" if role == "dense" else "pruned"]))
    if threshold:
        fig.add_vline(x=threshold, line=dict(color="black", dash="dash"),
                      annotation_text=f"threshold {threshold:.4f}", annotation_position="top right")
    fig.update_layout(barmode="overlay", height=280, margin=dict(l=4, r=4, t=30, b=4),
                      title=dict(text=f"{layer}: |w|" + (f" ({dropped} non-finite left out)" if dropped else ""),
                                 font=dict(size=12)), legend=dict(orientation="h", y=1.15))
    return fig


def sensitivity_curves(sparsities: Sequence[float], curves: Mapping[str, Sequence[float]], base: float) -> go.Figure:
    """The pruning scan: hold-out accuracy against sparsity for each layer alone."""
    fig = go.Figure()
    for name, accs in curves.items():
        short = short_name(name)
        fig.add_trace(go.Scatter(x=[0.0] + list(sparsities), y=[base] + list(accs), mode="lines+markers", name=short,
                                 hovertemplate=f"{short} @ %{{x:.0%}}: %{{y:.2%}}<extra></extra>"))
    fig.update_layout(height=360, xaxis=dict(title="sparsity of this layer alone", tickformat=".0%"),
                      yaxis=dict(title="hold-out top-1", tickformat=".0%"), margin=dict(l=4, r=4, t=10, b=4))
    return fig
