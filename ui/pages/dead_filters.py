"""Dead-filter inspector: which channels died with pruning, at which rung of the ladder (layout only)."""

from __future__ import annotations

import streamlit as st

from vggexplorer.stats import status as dead
from vggexplorer.views.style import STATUS_TINTS

from ..components import class_profile, frame, ladder_panels

from .. import links, resources
from ..state import BLOCKS



def render() -> None:
    f = frame.begin(with_scan=False)
    rung = f.ms.pruned.rung
    st.title(f"Dead filters · dense vs {rung.label}")
    scan, err = resources.ladder_scan(f.ladder)
    if scan is None:
        (st.info if f.status is not None else st.error)(err)
        st.stop()
    if rung.role not in scan.models:
        st.error(f"The dataset scan has no {rung.label}: it holds {', '.join(scan.label(r) for r in scan.roles)}.")
        st.stop()
    st.markdown(f"**{rung.label}:** `{dead.totals_line(dead.status_totals(scan, rung.role, scan.roles[0]))}`")
    frame.coverage(scan)
    st.caption("Channels of all eight blocks, each counted once, by its status (definitions below). "
               + f.ladder.nesting.sentence(lambda r: scan.label(r)))
    st.markdown(dead.definitions_markdown(dead.LADDER_TERMS))
    st.subheader("Death across the sparsity ladder")
    st.caption("Channels in each graded category, per block, against the fraction of weights pruned; then how "
               "sparse the filters are on each rung.")
    ladder_panels.death_panel(scan)
    class_profile.selectivity_panel(scan)

    st.subheader(f"Channels · {rung.label}")
    df = resources.ladder_channels(resources.scan_source(f.ladder)[0], rung.role)
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
