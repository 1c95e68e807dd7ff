"""Dead-filter inspector: which channels died with pruning, at which rung of the ladder (layout only)."""

from __future__ import annotations

import streamlit as st

from vggexplorer.stats import status as dead
from vggexplorer.views.style import STATUS_TINTS
from vggexplorer.files import file_stamp
from vggexplorer.model.ladder import rung_by_percent

from ..components import class_profile, frame, ladder_panels

from .. import links, resources, state
from ..markup import md_escape
from ..state import BLOCKS



def render() -> None:
    f = frame.begin(with_scan=False)
    rung = rung_by_percent(state.view().pruned)
    st.title(f"Dead filters · dense vs {rung.label}")
    st.markdown(dead.definitions_markdown(dead.LADDER_TERMS))
    if f.ms.own_slots:
        own = ", ".join(md_escape(f.ms.refs()[s].label) for s in f.ms.own_slots)
        st.warning(f"Dataset statistics are shown only for the shipped checkpoints, not for your own ({own}): the "
                   f"dataset scan covers the shipped ladder. Below: dense and {rung.label}.")
    scan, err = resources.ladder_scan()
    if scan is None:
        st.error(err)
        st.stop()
    st.subheader("Death across the sparsity ladder")
    st.caption("Channels in each graded category, per block, against the fraction of weights pruned; then how "
               "sparse the filters are on each rung.")
    ladder_panels.death_panel(scan)
    class_profile.selectivity_panel(scan)

    st.subheader(f"Channels · {rung.label}")
    df = resources.ladder_channels(rung.role, file_stamp(resources.scan_path()))
    a, b, c = st.columns(3)
    block = a.selectbox("Block", ["all"] + BLOCKS, key="dead_block")
    only = b.toggle(f"Only channels dead by {rung.label}", key="only_died")
    sort = c.selectbox("Sort by", ["died at", "density %", "mean / dense", "filter % zero", "channel"], key="dead_sort")
    view = df if block == "all" else df[df.block == block]
    if only:
        view = view[(view.died_at_percent >= 0) & (view.died_at_percent <= rung.percent)]
    key = {"died at": "died_at_percent"}.get(sort, sort)
    if key == "died_at_percent":  # dead first, earliest rung first; never-dead last
        view = view.assign(_k=view.died_at_percent.where(view.died_at_percent >= 0, 999)).sort_values(
            ["_k", "density %"], kind="stable").drop(columns="_k")
    else:
        view = view.sort_values(key, kind="stable")
    view = view.reset_index(drop=True)
    cols = ["block", "channel", "died at", "status", "filter % zero", "density %", "fires on % of images", "mean",
            "mean / dense"] + [c_ for c_ in df.columns if c_ in ("dense",) or c_.startswith("pruned ")]
    st.caption(f"{len(view)} channels · status and statistics on {rung.label} over the test split · select a row to "
               f"open the channel in the Explorer on {rung.label}")
    styled = view[cols].style.apply(lambda row: [f"background-color: {STATUS_TINTS.get(row['status'], '')}"
                                                 if STATUS_TINTS.get(row["status"]) else ""] * len(row), axis=1
                                    ).format(precision=3)
    event = st.dataframe(styled, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                         key="channel_table", height=420)
    rows = event.selection.rows if event else []
    if rows:
        row = view.iloc[rows[0]]
        links.open_in_explorer(str(row.block), int(row.channel), pruned=rung.percent)
    st.download_button("Channel table (CSV)", data=view[cols].to_csv(index=False), file_name=f"channels-{rung.role}.csv",
                       mime="text/csv")
