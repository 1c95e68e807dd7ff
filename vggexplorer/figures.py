"""Plotly figure builders. Each returns a ``go.Figure``; tests check their data, not pixels.

Layer mosaics are one ``go.Heatmap`` per figure: every channel's map tiled into one array with
NaN gaps (never one subplot per channel). The heatmap's ``z`` is quantised to uint8 levels of a
stated ``[0, zmax]`` scale so the largest figure stays a few hundred KB (Plotly sends typed
arrays as base64), and one invisible scatter point per tile carries the channel's id and
statistics: it gives the hover text everywhere on the tile (``hoverdistance=-1``) and makes
tiles clickable (heatmap cells produce no selection events in Streamlit).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from .dead import ACTIVATION_DEAD, ALIVE, DORMANT, WEAKENED, WEIGHT_DEAD, ZERO_ON_IMAGE
from .mosaic import mosaic_layout, scale_note, tile, unit_scale  # noqa: F401 (mosaic_layout, tile re-exported)

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


def layer_mosaic(maps: torch.Tensor, block: str, role: str, zmax: float | None = None,
                 status: Mapping[str, Sequence[bool]] | None = None, selected: int | None = None,
                 extra: Mapping[str, Sequence[float]] | None = None, height: int | None = None) -> go.Figure:
    """One block's maps ``[C, H, W]`` as one tiled heatmap plus one hover/click point per channel.

    Tiles touch (white lines drawn over their borders keep them apart), so the heatmap carries no gap
    pixels. ``zmax``: a shared ``[0, zmax]`` scale (comparable across channels and models); ``None``:
    per-channel min-max. ``status``: name -> ``bool [C]`` flags shown in the hover (e.g.
    weight-dead); ``extra``: name -> ``[C]`` numbers shown in the hover (e.g. similarity);
    ``selected``: the channel marked (see :func:`mark_channel`; a click marks the clicked tile).
    """
    c, h, w = maps.shape
    layout = mosaic_layout(c, h, w, gap=0)
    z = quantise(tile(unit_scale(maps, zmax), layout))  # uint8; 0 only where the last row has no tile
    # level 0 transparent; 1..256 follow Greens light -> dark
    from plotly.colors import get_colorscale

    greens = get_colorscale(GREENS)
    eps = 0.5 / (LEVELS + 1)
    colorscale = [[0.0, "rgba(0,0,0,0)"], [eps, "rgba(0,0,0,0)"]] + [[eps + (1 - eps) * p, col] for p, col in greens]
    colorscale[-1][0] = 1.0
    heat = go.Heatmap(
        z=z, zmin=0, zmax=LEVELS + 1, colorscale=colorscale, hoverinfo="skip", showscale=True,
        colorbar=dict(title=dict(text="activation", side="right"), thickness=10,
                      tickvals=[1, (LEVELS + 2) / 2, LEVELS + 1],
                      ticktext=["0", "mid" if zmax is None else f"{zmax / 2:.3g}",
                                "max" if zmax is None else f"{zmax:.3g}"]),
        name=f"{role} {block}",
    )
    xs, ys = layout.centres()
    flat = maps.numpy().reshape(c, -1)
    cols = [np.arange(c), flat.max(1), flat.mean(1, dtype=np.float64)]
    lines = [f"<b>{role} {block}</b> channel %{{customdata[0]}}", "max %{customdata[1]:.3f}, mean %{customdata[2]:.3f}"]
    for name, vals in (extra or {}).items():
        lines.append(f"{name} %{{customdata[{len(cols)}]:.3f}}")
        cols.append(np.asarray(vals, dtype=np.float64))
    status_text = np.array([""] * c, dtype=object)
    for name, flags in (status or {}).items():
        flags = np.asarray(flags, bool)
        status_text[flags] = status_text[flags] + name + "; "
    status_text = np.where(status_text == "", ALIVE, status_text)
    lines.append("%{text}")
    mark_px = float(np.clip(PLOT_WIDTH_PX / layout.cols, 6, 40))
    points = go.Scatter(
        x=xs, y=ys, mode="markers", customdata=np.stack(cols, 1), text=list(status_text),
        hovertemplate="<br>".join(lines) + "<extra></extra>", name="channels", showlegend=False,
        # a square per tile, invisible until its tile is selected
        marker=dict(symbol="square", size=mark_px, color="rgba(0,0,0,0)"),
        selected=dict(marker=dict(color=MARK_COLOUR, opacity=1)), unselected=dict(marker=dict(opacity=0)),
    )
    rows, cols_ = layout.shape
    # all tile borders as one path each way (one shape, not one per border: a dozen times faster to build)
    v = " ".join(f"M{k * w - 0.5},-0.5V{rows - 0.5}" for k in range(1, layout.cols))
    hz = " ".join(f"M-0.5,{r * h - 0.5}H{cols_ - 0.5}" for r in range(1, layout.rows))
    line = dict(color="white", width=1 if h <= 8 else 2)
    shapes = [dict(type="path", path=p, line=line) for p in (v, hz) if p]
    fig = go.Figure([heat, points], dict(
        title=dict(text=f"{role} · {block} · {c} channels of {h}x{w} · {scale_note(zmax)}", font=dict(size=13)),
        margin=dict(l=4, r=4, t=32, b=4), height=height or int(min(900, max(260, 60 + 520 * rows / cols_))),
        hovermode="closest", hoverdistance=-1, plot_bgcolor="rgba(0,0,0,0)", clickmode="event+select",
        shapes=shapes, template="none",
        xaxis=dict(visible=False, range=[-0.5, cols_ - 0.5], constrain="domain"),
        yaxis=dict(visible=False, range=[rows - 0.5, -0.5], scaleanchor="x", constrain="domain"),
        meta={"block": block, "role": role, "channels": c, "tile": [h, w], "cols": layout.cols, "zmax": zmax},
    ))
    return mark_channel(fig, selected)


def mark_channel(mosaic: go.Figure, channel: int | None) -> go.Figure:
    """Mark ``channel``'s tile in a :func:`layer_mosaic` (None: no mark), in place."""
    mosaic.data[1].selectedpoints = None if channel is None else [int(channel)]
    return mosaic


def side_by_side(titles: Sequence[str], gap: float, x: Mapping | None = None, y: Mapping | None = None,
                 square: bool = False) -> tuple[list[str], dict]:
    """Panels in one row, laid out by hand: one constructor call costs a fraction of ``make_subplots``, and
    these figures are rebuilt for every image. Returns each panel's axis suffix ("", "2", ...) for its traces'
    ``xaxis="x" + suffix`` and the layout: the axes (with ``x`` / ``y`` settings; ``square``: one data unit is as
    long on y as on x) and a title over each panel."""
    n = len(titles)
    width = (1 - gap * (n - 1)) / max(n, 1)
    suffixes = ["" if i == 0 else str(i + 1) for i in range(n)]
    layout: dict = {"annotations": []}
    for i, (ax, title) in enumerate(zip(suffixes, titles)):
        x0 = i * (width + gap)
        layout[f"xaxis{ax}"] = dict(x or {}, domain=[x0, x0 + width], anchor=f"y{ax}")
        layout[f"yaxis{ax}"] = dict(y or {}, anchor=f"x{ax}", **({"scaleanchor": f"x{ax}"} if square else {}))
        layout["annotations"].append(dict(text=title, x=x0 + width / 2, y=1.0, xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=16)))
    return suffixes, layout


def channel_strip(values: Sequence[float], block: str, title: str, colorscale: str = "RdYlGn",
                  zmin: float = 0.0, zmax: float = 1.0, label: str = "cosine") -> go.Figure:
    """One cell per channel, laid out like the block's mosaic (e.g. dense-vs-pruned similarity)."""
    v = np.asarray(values, dtype=np.float32)
    layout = mosaic_layout(len(v), 1, 1)
    grid = np.full((layout.rows, layout.cols), np.nan, np.float32)
    ch = np.full((layout.rows, layout.cols), -1, np.int32)
    idx = np.arange(len(v))
    grid.flat[idx] = v
    ch.flat[idx] = idx
    heat = go.Heatmap(z=grid, customdata=ch, zmin=zmin, zmax=zmax, colorscale=colorscale, xgap=1, ygap=1,
                      hoverongaps=False, colorbar=dict(thickness=10, title=dict(text=label)),
                      hovertemplate=f"{block} channel %{{customdata}}<br>{label} %{{z:.3f}}<extra></extra>")
    return go.Figure([heat], dict(title=dict(text=title, font=dict(size=13)), margin=dict(l=4, r=4, t=32, b=4),
                                  height=int(min(320, 60 + 400 * layout.rows / layout.cols)), xaxis=dict(visible=False),
                                  yaxis=dict(visible=False, autorange="reversed", scaleanchor="x")))


def channel_detail(dense: torch.Tensor, pruned: torch.Tensor, block: str, channel: int, zmax: float) -> go.Figure:
    """One channel enlarged: dense, pruned (one shared scale) and pruned - dense (diverging scale)."""
    diff = (pruned - dense).numpy()
    dlim = float(max(np.abs(diff).max(), 1e-6))
    panels = [("dense", dense.numpy(), GREENS, 0, zmax), ("pruned", pruned.numpy(), GREENS, 0, zmax),
              ("pruned − dense", diff, "RdBu", -dlim, dlim)]
    axes, layout = side_by_side([p[0] for p in panels], 0.08, x=dict(showticklabels=False),
                                y=dict(domain=[0, 1], autorange="reversed", showticklabels=False), square=True)
    traces = [go.Heatmap(z=z, colorscale=cs, zmin=lo, zmax=hi, showscale=(i != 0), xaxis=f"x{ax}", yaxis=f"y{ax}",
                         colorbar=dict(x=0.64 if i == 1 else 1.0, thickness=8, len=0.9),
                         hovertemplate="row %{y}, col %{x}<br>value %{z:.3f}<extra></extra>")
              for i, (ax, (_, z, cs, lo, hi)) in enumerate(zip(axes, panels))]
    return go.Figure(traces, dict(layout, title=dict(text=f"{block} channel {channel}", font=dict(size=13)), height=300,
                                  margin=dict(l=4, r=4, t=50, b=4)))


def probability_bars(probs: Mapping[str, Sequence[float]], classes: Sequence[str]) -> go.Figure:
    """Both models' class probabilities as side-by-side bars (one trace per model)."""
    bars = []
    for role, p in probs.items():
        p = np.asarray(p, dtype=np.float64)
        bars.append(go.Bar(x=list(classes), y=p, name=role, marker_color=ROLE_COLORS.get(role),
                           text=[f"{v * 100:.0f}%" if v >= 0.05 else "" for v in p], textposition="outside",
                           hovertemplate=f"{role}<br>%{{x}} %{{y:.1%}}<extra></extra>"))
    return go.Figure(bars, dict(barmode="group", height=300, margin=dict(l=4, r=4, t=10, b=4),
                                yaxis=dict(range=[0, 1.12], tickformat=".0%"), legend=dict(orientation="h", y=1.08, x=0)))


def importance_bars(scores: Mapping[str, Sequence[float]], status: Mapping[str, Sequence[str]],
                    block: str, measure: str, top: int = 15) -> go.Figure:
    """Top channels by importance for each model, coloured by status (``explore.channel_status``).

    One panel per model side by side (:func:`side_by_side`)."""
    roles = list(scores)
    axes, layout = side_by_side([f"{r}: top {top} of {block}" for r in roles], 0.12)
    bars = []
    for ax, r in zip(axes, roles):
        s = np.asarray(scores[r], dtype=np.float64)
        order = np.argsort(-s, kind="stable")[:top][::-1]
        st = [status[r][c] for c in order]
        bars.append(go.Bar(x=s[order], y=[f"ch {c}" for c in order], orientation="h", xaxis=f"x{ax}", yaxis=f"y{ax}",
                           marker_color=[STATUS_COLORS.get(x, "#6baed6") for x in st],
                           customdata=np.array(st, dtype=object), showlegend=False,
                           hovertemplate="%{y}: %{x:.4f}<br>%{customdata}<extra></extra>"))
    return go.Figure(bars, dict(layout, height=60 + 22 * top, margin=dict(l=4, r=4, t=40, b=4),
                                title=dict(text=measure, font=dict(size=12), x=0.5, y=0.99)))


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
        short = name.replace("backbone.", "").replace(".weight", "")
        fig.add_trace(go.Scatter(x=[0.0] + list(sparsities), y=[base] + list(accs), mode="lines+markers", name=short,
                                 hovertemplate=f"{short} @ %{{x:.0%}}: %{{y:.2%}}<extra></extra>"))
    fig.update_layout(height=360, xaxis=dict(title="sparsity of this layer alone", tickformat=".0%"),
                      yaxis=dict(title="hold-out top-1", tickformat=".0%"), margin=dict(l=4, r=4, t=10, b=4))
    return fig
