"""The sparsity ladder's panels, drawn into the Explorer, Dead filters and Models pages (layout only)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import streamlit as st

from vggexplorer.stats import status as dead
from vggexplorer.views import ladder_model as lv
from vggexplorer.views.figures import channel_across_ladder
from vggexplorer.views.ladder_curves import (accuracy_vs_sparsity, death_curves, filter_sparsity_distribution,
                                            layer_sparsity_per_rung, size_per_rung)
from vggexplorer.model.ladder import Ladder

from .. import resources
from .charts import CHART


def channel_row(ladder: Ladder, image: np.ndarray, block: str, ch: int, pruned_percent: int, key: str = "ladder_row",
                known: Mapping[str, np.ndarray] | None = None) -> None:
    """The chosen channel on this image for dense and every rung, on one scale, with status and filter sparsity.

    ``known``: role -> ``block``'s maps ``[C, H, W]`` the page has already computed on this image."""
    models, errors = resources.ladder_models(ladder)
    if errors:
        st.caption("Across the ladder: not shown for " + ", ".join(errors) + " (" + "; ".join(errors.values()) + ")")
    if len(models) < 2:
        return
    maps = resources.channel_across(ladder, image, block, known)  # role -> [C, H, W]
    scan, _ = resources.ladder_scan(ladder)
    statuses = lv.channel_statuses(scan, block, ch) if scan is not None else {}
    roles = [r.role for r in ladder.rungs if r.role in maps]
    chan = {r: maps[r][ch] for r in roles}
    labels = [ladder.by_role(r).label for r in roles]
    sparsity = [lv.filter_sparsity_of(models[r], block, ch) for r in roles]
    unscanned = dead.unscanned(np.asarray(sparsity))  # what the weights alone tell, for a model the scan lacks
    status = [statuses.get(r, unscanned[i]) for i, r in enumerate(roles)]
    chosen = ladder.by_percent(pruned_percent).label
    fig = channel_across_ladder([chan[r] for r in roles], labels, status, sparsity, block, ch, lv.shared_zmax(chan),
                                selected=labels.index(chosen) if chosen in labels else None)
    st.plotly_chart(fig, key=key, **CHART)
    st.caption("The same channel on this image in dense and every rung of the ladder (one colour scale). Status is "
               f"over the 10,000 test images, with \"{dead.ZERO_ON_IMAGE}\" beside it where the map is; % zero is the "
               "filter's weights.")


def filter_panel(ms, block: str, ch: int, rung_label: str, key: str = "filter_weights") -> None:
    """The channel's filter, dense against the chosen rung, pruned weights marked."""
    st.plotly_chart(resources.filter_figure(ms, block, ch, rung_label), key=key, **CHART)


def death_panel(scan) -> None:
    """Death curves per block and the filter-sparsity distribution per rung."""
    counts = lv.death_counts(scan)
    channels = {b: int(len(scan.stat(scan.roles[0], b, "mean"))) for b in scan.blocks}
    st.plotly_chart(death_curves(counts, channels), key="death_curves", **CHART)
    block = st.selectbox("Filter sparsity of", ["all blocks"] + scan.blocks, key="fs_block")
    st.plotly_chart(filter_sparsity_distribution(lv.filter_sparsity_by_rung(scan),
                                                 None if block == "all blocks" else block),
                    key="filter_sparsity", **CHART)


def models_panel(ladder: Ladder, report, sizes: dict[str, int], layer_sparsity: dict[int, dict[str, float]],
                 nonzero: dict[str, int]) -> None:
    """The lab's accuracy-vs-sparsity curve, size and non-zero parameters per rung, per-layer sparsity."""
    st.plotly_chart(accuracy_vs_sparsity(lv.accuracy_points(report)), key="acc_vs_sparsity", **CHART)
    rows = [{"label": r.label, "size_bytes": sizes[r.role], "nonzero_params": nonzero[r.role]}
            for r in ladder.rungs if r.role in sizes]
    left, right = st.columns(2)
    with left:
        st.plotly_chart(size_per_rung(rows), key="size_per_rung", **CHART)
    with right:
        st.plotly_chart(layer_sparsity_per_rung(layer_sparsity), key="layer_sparsity_rungs", **CHART)
