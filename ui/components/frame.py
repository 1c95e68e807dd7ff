"""What every page does first: the model pickers in the sidebar, the models and data it needs, and what is missing."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from torch import nn

from vggexplorer.data.cifar10 import Split
from vggexplorer.model.ladder import rung_by_percent
from vggexplorer.views.explorer_model import ScanView

from .. import own_checkpoint, resources, state
from ..modelset import ModelSet, model_set


@dataclass
class Frame:
    """The session's models and data, as far as they loaded."""

    ms: ModelSet
    models: dict[str, nn.Module]  # slot -> model, for the slots that loaded
    split: Split | None  # the bundled test split; None when it is unusable
    scan: ScanView | None  # the scan's statistics by slot; None when the page did not ask or the scan is unusable
    scan_note: str | None

    @property
    def slots(self) -> list[str]:
        return list(self.models)


def _rung_caption(pct: int) -> str:
    rung = rung_by_percent(pct)
    return f"{pct}% of weights zero" + ("" if rung.path.exists() else f" (not built: {rung.filename})")


def begin(with_scan: bool = True) -> Frame:
    """Adopt a link's view (every page: the rung is in the URL), draw the sidebar's model pickers and every load
    problem and link notice; stop the page when no model is usable."""
    split, err = resources.test_split()
    notices = state.sync_from_url(len(split) if split is not None else 0)
    own_checkpoint.sidebar()
    if "pruned" not in state.own_checkpoints():
        st.sidebar.selectbox("Pruned model", state.RUNG_PERCENTS, format_func=_rung_caption,
                             help="The rungs of the sparsity ladder: each is pruned further from the one before.",
                             **state.bind_field("pruned"))
    ms = model_set(state.own_checkpoints(), state.view().pruned)
    models, errors = resources.models(ms)
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
    scan, note = resources.scan(ms) if with_scan else (None, None)
    state.write_url()  # the page's view, rung included, stays in the URL
    return Frame(ms, models, split, scan, note)
