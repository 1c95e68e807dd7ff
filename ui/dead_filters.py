"""Dead-filter inspector: which channels died with pruning, per block, dense vs pruned."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from vggexplorer.explore import dead_count_table
from vggexplorer.figures import ROLE_COLORS

from . import frame, nav, resources
from .state import BLOCKS


def render() -> None:
    f = frame.begin()
    st.title("Dead filters")
    st.markdown(
        "- **weight-dead**: every weight of the filter is exactly zero after pruning (BatchNorm can still make "
        "it emit a constant).\n"
        "- **activation-dead**: the channel's post-ReLU output is zero on every one of the 10,000 test images; "
        "**rarely fires**: non-zero on fewer than 1% of them.\n"
        "- **died with pruning**: alive in the dense model, weight-dead or activation-dead in the pruned one."
    )
    if f.scan_note:
        st.warning(f.scan_note)
    counts = dead_count_table(f.models, f.scan, BLOCKS)
    fig = go.Figure()
    for slot in f.slots:
        sub = counts[counts.model == slot]
        for col, dash in (("weight_dead", None), ("activation_dead", "x")):
            if sub[col].notna().all():
                fig.add_trace(go.Bar(x=sub.block, y=sub[col], name=f"{slot} {col.replace('_', '-')}",
                                     marker_color=ROLE_COLORS.get(slot), marker_pattern_shape=dash))
    fig.update_layout(barmode="group", height=300, margin=dict(l=4, r=4, t=10, b=4), yaxis_title="channels")
    st.plotly_chart(fig, key="dead_counts", config={"displayModeBar": False})
    st.dataframe(counts, hide_index=True, width="stretch")

    st.subheader("Channels")
    df = resources.channels_df(f.ms)
    a, b, c = st.columns(3)
    block = a.selectbox("Block", ["all"] + BLOCKS, key="dead_block")
    only = b.toggle("Only channels that died with pruning", key="only_died") if "died_with_pruning" in df else False
    sort = c.selectbox("Sort by", [col for col in df.columns if col != "block"],
                       index=list(df.columns).index("similarity") - 1 if "similarity" in df else 0, key="dead_sort")
    view = df if block == "all" else df[df.block == block]
    if only:
        view = view[view.died_with_pruning]
    view = view.sort_values(sort, kind="stable").reset_index(drop=True)
    st.caption(f"{len(view)} channels · highlighted: died with pruning · select a row to open it in the Explorer")
    styled = view.style.apply(
        lambda row: ["background-color: #fde0dd" if row.get("died_with_pruning", False) else ""] * len(row), axis=1
    ).format(precision=3)
    event = st.dataframe(styled, hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="single-row", key="channel_table", height=420)
    rows = event.selection.rows if event else []
    if rows:
        row = view.iloc[rows[0]]
        nav.open_in_explorer(str(row.block), int(row.channel))
    st.download_button("Channel table (CSV)", data=df.to_csv(index=False), file_name="channels.csv", mime="text/csv")
