"""A channel's class profile (Explorer) and the class selectivity across the ladder (Dead filters): layout only."""

from __future__ import annotations

from typing import Mapping, Sequence

import streamlit as st

from vggexplorer.model.ladder import rung_label
from vggexplorer.stats.selectivity import OLD_SCAN, definition_markdown
from vggexplorer.views.profile_figures import (channel_profiles, class_profile_figure, selectivity_by_rung,
                                               selectivity_figure, undefined_counts)
from vggexplorer.views.style import ROLE_COLORS

from ..markup import md_escape
from .charts import CHART


def channel_panel(scan, labels: Mapping[str, str], block: str, ch: int, classes: Sequence[str],
                  key: str = "class_profile") -> None:
    """The channel's mean activation per class over the test split, for the models shown (``labels``: slot -> the
    name shown; ``scan``: the page's scan by slot, or None); a model the scan lacks is named with the reason."""
    profiles, why = channel_profiles(scan, {s: s for s in labels}, labels, block, ch)
    by_reason: dict[str, list[str]] = {}
    for label, reason in why.items():
        by_reason.setdefault(reason, []).append(md_escape(label))
    for reason, names in by_reason.items():
        st.info(f"**Class profile of {', '.join(names)}**: {reason}")
    if not profiles:
        return
    colors = [ROLE_COLORS.get(s, "#969696") for s in labels if labels[s] in profiles]
    st.plotly_chart(class_profile_figure(profiles, classes, block, ch, colors), key=key, **CHART)
    st.caption("Each bar: the channel's spatial-mean activation after the ReLU, averaged over the test images of "
               "the class; the class it fires for most is outlined. " + definition_markdown())


def selectivity_panel(scan, key: str = "selectivity") -> None:
    """The class selectivity index per block, dense against every rung (the full scan of the ladder)."""
    st.subheader("Class selectivity across the ladder")
    index = selectivity_by_rung(scan)
    if not index:
        st.info(OLD_SCAN)
        return
    st.caption(definition_markdown())
    st.plotly_chart(selectivity_figure(index), key=key, **CHART)
    left_out = ", ".join(f"{rung_label(p)} {n}" for p, n in undefined_counts(index).items())
    st.caption("Per block, one box per model over its channels: the quartiles and the farthest values within 1.5 "
               f"interquartile ranges. Channels that never fire have no index and are left out: {left_out}.")
