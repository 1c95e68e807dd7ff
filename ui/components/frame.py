"""What every page does first: the ladder and model pickers in the sidebar, the models and data it needs, what is
missing, and the scan's progress while the session's models are being scanned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st
from torch import nn

from vggexplorer.data.cifar10 import Split
from vggexplorer.model.ladder import Ladder
from vggexplorer.views.explorer_model import ScanView

from .. import ladders, resources, state
from ..markup import md_escape
from ..modelset import ModelSet, model_set


@dataclass
class Frame:
    """The session's models and data, as far as they loaded."""

    ms: ModelSet
    models: dict[str, nn.Module]  # slot -> model, for the slots that loaded
    split: Split | None  # the bundled test split; None when it is unusable
    scan: ScanView | None  # the scan's statistics by slot; None when the page did not ask or the scan is unusable
    scan_note: str | None
    status: Any = None  # the scan job of the session's own ladder (ui.scan_queue.ScanStatus), None when none ran

    @property
    def slots(self) -> list[str]:
        return list(self.models)

    @property
    def ladder(self) -> Ladder:
        return self.ms.ladder


def _rung_caption(ladder: Ladder, pct: int) -> str:
    rung = ladder.by_percent(pct)
    return f"{pct}% of weights zero" + ("" if rung.path.exists() else f" (not built: {rung.filename})")


def begin(with_scan: bool = True) -> Frame:
    """Adopt a link's view (every page: the rung is in the URL), draw the sidebar's ladder and model pickers and every
    load problem and link notice; stop the page when no model is usable."""
    split, err = resources.test_split()
    ladder, problem = ladders.current()
    notices = state.sync_from_url(len(split) if split is not None else 0, ladder.percents)
    st.sidebar.selectbox("Pruned model", ladder.percents, format_func=lambda p: _rung_caption(ladder, p),
                         help="The rungs of the sparsity ladder, by their fraction of zero weights.",
                         **state.bind_field("pruned"))
    ms = model_set(ladder, state.view().pruned)
    models, errors = resources.models(ms)
    st.sidebar.caption(ladders.describe(ladder, models))
    ladders.sidebar()
    if problem:
        st.error(problem)
    for note in ladder.notes:
        st.warning(md_escape(note, limit=1200))
    for slot, msg in errors.items():
        st.error(f"**{slot} model unavailable.** {msg}")
    for slot, names in resources.nonfinite(models).items():
        st.warning(f"The {slot} model has NaN or infinite values in {', '.join(names[:5])}"
                   f"{' …' if len(names) > 5 else ''}: its outputs are not meaningful.")
    for note in notices:
        st.warning(note)
    if err:
        st.warning(f"**Bundled test split unavailable**: {err}. Upload your own image instead.")
    if not models:
        st.stop()
    source, scan_note, status = resources.scan_source(ladder)
    ladders.scan_progress(status)
    if scan_note:
        st.warning(scan_note)
    scan, note = resources.scan(ms) if with_scan else (None, None)
    if with_scan and not ladder.is_shipped:  # the pages without the Explorer's scan view say it themselves
        coverage(resources.scan_of(source)[0])
    state.write_url()  # the page's view, rung included, stays in the URL
    return Frame(ms, models, split, scan, note, status)


def coverage(scan) -> None:
    """Say which images the page's statistics cover: the quick pass (while the full one runs) or the full split."""
    from vggexplorer.stats.scan import coverage as covered, is_full

    if scan is None:
        return
    (st.caption if is_full(scan) else st.info)(f"Statistics over {covered(scan)}.")
