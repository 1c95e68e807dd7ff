"""The floor page: about the least a Streamlit page that shows what the Explorer shows can cost.

    streamlit run benchmarks/floor_page.py

It imports torch, draws two heatmaps the size of the Explorer's conv1 mosaics (128 tiles of 32x32,
quantised to uint8 like the app's, each with one invisible point per tile so that a click selects a
tile) and a detail heatmap of the picked tile, and reruns the whole script on every click. No model,
no data set, no cache: ``benchmarks/bench_app.py`` measures the app against it in the same run.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch  # imported as the app imports it: the start-up cost is part of the floor

del torch  # only its import is wanted

st.set_page_config(page_title="Floor page", layout="wide")

CHANNELS, SIZE, COLS, GAP = 128, 32, 16, 0  # tiles touch, as in the app
ROWS = CHANNELS // COLS
rng = np.random.default_rng(0)
maps = {name: rng.random((CHANNELS, SIZE, SIZE), dtype=np.float32) for name in ("dense", "pruned")}


def mosaic(name: str) -> go.Figure:
    step = SIZE + GAP
    z = np.zeros((ROWS * step - GAP, COLS * step - GAP), np.uint8)
    for c in range(CHANNELS):
        r, k = divmod(c, COLS)
        z[r * step:r * step + SIZE, k * step:k * step + SIZE] = 1 + np.rint(maps[name][c] * 254).astype(np.uint8)
    ks, rs = np.divmod(np.arange(CHANNELS), COLS)[::-1]
    fig = go.Figure([go.Heatmap(z=z, colorscale="Greens", hoverinfo="skip"),
                     go.Scatter(x=ks * step + SIZE / 2, y=rs * step + SIZE / 2, mode="markers",
                                marker=dict(size=18, color="rgba(0,0,0,0)"), customdata=np.arange(CHANNELS),
                                hovertemplate="channel %{customdata}<extra></extra>")])
    fig.update_layout(title=f"{name} · floor mosaic", height=300, margin=dict(l=4, r=4, t=32, b=4),
                      hovermode="closest", hoverdistance=-1, clickmode="event+select")
    fig.update_xaxes(visible=False, range=[-0.5, z.shape[1] - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[z.shape[0] - 0.5, -0.5], scaleanchor="x", constrain="domain")
    return fig


ch = 0
for name, col in zip(maps, st.columns(2)):
    with col:
        event = st.plotly_chart(mosaic(name), key=f"mosaic_{name}", on_select="rerun", selection_mode="points",
                                config={"displayModeBar": False})
        points = [p for p in event.selection.points if p.get("curve_number") == 1]
        if points:
            ch = int(points[0]["point_index"])
detail = go.Figure(go.Heatmap(z=maps["dense"][ch], colorscale="Greens"))
detail.update_layout(title=f"floor channel {ch}", height=300, margin=dict(l=4, r=4, t=40, b=4))
st.plotly_chart(detail, key="detail", config={"displayModeBar": False})
