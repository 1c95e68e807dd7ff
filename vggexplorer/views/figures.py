"""Plotly figure builders. Each returns a ``go.Figure``; tests check their data, not pixels.

Layer mosaics are one ``go.Heatmap`` per figure (never one subplot per channel): every channel's map tiled
into one array, the tiles touching, with white lines drawn over their borders. The heatmap's ``z`` is quantised
to uint8 levels 1..255 of a stated :class:`~vggexplorer.views.mosaic.Scale` (level 0, drawn transparent, only
where the last row has no tile), so the largest figure, conv1's, stays under 200 KB (Plotly sends typed
arrays as base64; ``benchmarks/README.md``), and one invisible scatter point per tile carries the channel's id and
statistics: it gives the hover text everywhere on the tile (``hoverdistance=-1``) and makes
tiles clickable (heatmap cells produce no selection events in Streamlit).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from ..stats.status import ZERO_ON_IMAGE, describe, zero_on_image
from .explorer_model import top_contributors
from .mosaic import PER_CHANNEL_MINMAX, Scale, mosaic_layout, tile
from .style import (GREENS, LEVELS, MARK_COLOUR, PLOT_WIDTH_PX, ROLE_COLORS, STATUS_COLORS, _layout, _pct,
                    level_colorscale, quantise)


def layer_mosaic(maps: torch.Tensor, block: str, role: str, scale: Scale = PER_CHANNEL_MINMAX,
                 status: Sequence[str] | None = None, selected: int | None = None,
                 extra: Mapping[str, Sequence[float]] | None = None, height: int | None = None) -> go.Figure:
    """One block's maps ``[C, H, W]`` as one tiled heatmap plus one hover/click point per channel.

    Tiles touch (white lines drawn over their borders keep them apart), so the heatmap carries no gap
    pixels. ``scale``: how values map to colour (:mod:`vggexplorer.views.mosaic`: shared with a robust top,
    per-channel min-max, or each channel of its test-split max), named under the title. ``status``: each channel's
    status (:mod:`vggexplorer.stats.status`), named in the hover, with ``zero on this image`` beside it where the map
    is (without ``status``, only that); ``extra``: name -> ``[C]`` numbers shown in the hover (e.g. similarity);
    ``selected``: the channel marked (see :func:`mark_channel`; a click marks the clicked tile).
    """
    c, h, w = maps.shape
    layout = mosaic_layout(c, h, w, gap=0)
    z = quantise(tile(scale.unit(maps), layout))  # uint8; 0 only where the last row has no tile
    bar_title, ticks = scale.ticks()
    heat = go.Heatmap(  # level 0 transparent; 1..LEVELS follow Greens light -> dark, as in the PNG grid
        z=z, zmin=0, zmax=LEVELS, colorscale=level_colorscale(), hoverinfo="skip", showscale=True,
        colorbar=dict(title=dict(text=bar_title, side="right"), thickness=10,
                      tickvals=[1, (LEVELS + 1) / 2, LEVELS], ticktext=ticks),
        name=f"{role} {block}",
    )
    xs, ys = layout.centres()
    flat = maps.numpy().reshape(c, -1)
    cols = [np.arange(c), flat.max(1), flat.mean(1, dtype=np.float64)]
    lines = [f"<b>{role} {block}</b> channel %{{customdata[0]}}", "max %{customdata[1]:.3f}, mean %{customdata[2]:.3f}"]
    for name, vals in (extra or {}).items():
        lines.append(f"{name} %{{customdata[{len(cols)}]:.3f}}")
        cols.append(np.asarray(vals, dtype=np.float64))
    zero = zero_on_image(maps)
    status_text = ([f"status: {describe(s, z, why=True)}" for s, z in zip(status, zero)] if status is not None
                   else [ZERO_ON_IMAGE if z else "" for z in zero])
    lines.append("%{text}")
    mark_px = float(np.clip(PLOT_WIDTH_PX / layout.cols, 6, 40))
    points = go.Scatter(
        x=xs, y=ys, mode="markers", customdata=np.stack(cols, 1), text=status_text,
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
        title=dict(text=f"{role} · {block} · {c} channels of {h}x{w}<br><span style='font-size:11px'>"
                        f"{scale.note()}</span>", font=dict(size=13)),
        margin=dict(l=4, r=4, t=48, b=4), height=height or int(min(900, max(276, 76 + 520 * rows / cols_))),
        hovermode="closest", hoverdistance=-1, plot_bgcolor="rgba(0,0,0,0)", clickmode="event+select",
        shapes=shapes, template="none",
        xaxis=dict(visible=False, range=[-0.5, cols_ - 0.5], constrain="domain"),
        yaxis=dict(visible=False, range=[rows - 0.5, -0.5], scaleanchor="x", constrain="domain"),
        meta={"block": block, "role": role, "channels": c, "tile": [h, w], "cols": layout.cols, "scale": scale.kind,
              "zmax": scale.top},
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
    """The top channels by importance for each model among those that contribute (non-zero score), coloured by
    status (:mod:`vggexplorer.stats.status`); each panel's title says how many contribute.

    One panel per model side by side (:func:`side_by_side`)."""
    roles = list(scores)
    ranked = {r: top_contributors(scores[r], top) for r in roles}
    axes, layout = side_by_side([f"{r}: top {len(ranked[r][0])} of {block} · {ranked[r][1]} of {len(scores[r])} "
                                 "channels contribute" for r in roles], 0.12)
    bars = []
    for ax, r in zip(axes, roles):
        s = np.asarray(scores[r], dtype=np.float64)
        order = ranked[r][0][::-1]
        st = [str(status[r][c]) for c in order]
        bars.append(go.Bar(x=s[order], y=[f"ch {c}" for c in order], orientation="h", xaxis=f"x{ax}", yaxis=f"y{ax}",
                           marker_color=[STATUS_COLORS.get(x, "#6baed6") for x in st],
                           customdata=np.array(st, dtype=object), showlegend=False,
                           hovertemplate="%{y}: %{x:.4f}<br>%{customdata}<extra></extra>"))
    return go.Figure(bars, dict(layout, height=60 + 22 * top, margin=dict(l=4, r=4, t=40, b=4),
                                title=dict(text=measure, font=dict(size=12), x=0.5, y=0.99)))


def channel_across_ladder(maps: Sequence[np.ndarray], labels: Sequence[str], statuses: Sequence[str],
                          filter_sparsity: Sequence[float], block: str, channel: int, zmax: float,
                          selected: int | None = None) -> go.Figure:
    """One channel's post-ReLU map for every model tiled in one row (one heatmap, one shared 0..zmax scale).

    Each tile is captioned with its model, status (with ``zero on this image`` where its map is) and filter
    sparsity; ``selected`` outlines one tile (e.g. the chosen rung).
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
    zero = zero_on_image(arr)
    notes = [dict(x=t * step + (w - 1) / 2, y=h - 0.5, yanchor="top", yshift=-2, showarrow=False, font=dict(size=11),
                  text=f"<b>{labels[t]}</b><br><span style='color:{STATUS_COLORS.get(statuses[t], '#444444')}'>"
                       f"{describe(statuses[t], zero[t])}</span> · {_pct(filter_sparsity[t])} zero") for t in range(n)]
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
