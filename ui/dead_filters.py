"""Dead-filter inspector: which channels died with pruning, per block, dense vs pruned."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from ui import common
from vggexplorer.explore import dead_count_table
from vggexplorer.figures import ROLE_COLORS


def render() -> None:
    if not common.show_load_problems():
        st.stop()
    mk = common.models_key()
    models = common.session_models(mk)
    scan, scan_err = common.session_scan()
    st.title("Dead filters")
    st.markdown(
        "- **weight-dead**: every weight of the filter is exactly zero after pruning (BatchNorm can still make "
        "it emit a constant).\n"
        "- **activation-dead**: the channel's post-ReLU output is zero on every one of the 10,000 test images; "
        "**rarely fires**: non-zero on fewer than 1% of them.\n"
        "- **died with pruning**: alive in the dense model, weight-dead or activation-dead in the pruned one."
    )
    if scan_err:
        st.warning(scan_err)
    counts = dead_count_table(models, scan, common.BLOCKS)
    fig = go.Figure()
    for r in models:
        sub = counts[counts.model == r]
        for col, dash in (("weight_dead", None), ("activation_dead", "x")):
            if sub[col].notna().all():
                fig.add_trace(go.Bar(x=sub.block, y=sub[col], name=f"{r} {col.replace('_', '-')}",
                                     marker_color=ROLE_COLORS.get(r), marker_pattern_shape=dash))
    fig.update_layout(barmode="group", height=300, margin=dict(l=4, r=4, t=10, b=4), yaxis_title="channels")
    st.plotly_chart(fig, key="dead_counts", config={"displayModeBar": False})
    st.dataframe(counts, hide_index=True, width="stretch")

    st.subheader("Channels")
    df = common.channels_df(mk)
    a, b, c = st.columns(3)
    block = a.selectbox("Block", ["all"] + common.BLOCKS, key="dead_block")
    only = b.toggle("Only channels that died with pruning", key="only_died") if "died_with_pruning" in df else False
    sort = c.selectbox("Sort by", [col for col in df.columns if col not in ("block",)],
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
        st.session_state["block"] = str(row.block)
        st.session_state["ch"] = int(row.channel)
        st.session_state["_url_read"] = True
        st.switch_page(st.session_state["_pages"][0])
    st.download_button("Channel table (CSV)", data=df.to_csv(index=False), file_name="channels.csv", mime="text/csv")
