"""The session's ladder, the sidebar that opens your own, and the progress of its scan.

The app's ladder is the shipped one, or the folder in ``VGGEXPLORER_MODELS`` (opened once per process and file
stamp). A session can open its own instead: uploads (a dense file and one or more pruned files, written to a
content-addressed folder by :func:`vggexplorer.model.folder_ladder.save_upload`) or, when the server is not hosted,
a folder on this machine. Either way it is a folder, opened by :func:`~vggexplorer.model.folder_ladder.open_folder`
and then used exactly as the shipped ladder is, on every page. Whatever has no scan yet is scanned by
:mod:`ui.scan_queue`; :func:`scan_progress` draws where that scan is.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from vggexplorer.data.images import NORMALIZATION_FILE, PRESET_LABELS, describe_normalization
from vggexplorer.errors import VGGExplorerError
from vggexplorer.files import file_stamp
from vggexplorer.model.folder_ladder import LADDER_JSON, MODELS_ENV, checkpoint_files, open_folder, save_upload
from vggexplorer.model.ladder import SHIPPED, Ladder
from vggexplorer.stats.scan import QUICK_IMAGES

from . import state
from .caps import caps
from .markup import md_escape

UPLOAD_TYPES = ["pt", "pth", "tar", "ckpt", "bin"]  # saved as .pt in the upload folder


def _stamps(folder: Path) -> tuple:
    try:
        files = checkpoint_files(folder) + [folder / LADDER_JSON, folder / NORMALIZATION_FILE]
    except OSError:
        return ()
    return tuple(file_stamp(p) for p in files)


@st.cache_resource(show_spinner="Opening your models…", max_entries=16)
def _open(folder: str, stamps: tuple) -> tuple[Ladder | None, str | None]:
    try:
        return open_folder(folder), None
    except VGGExplorerError as e:
        return None, str(e)
    except OSError as e:
        return None, f"{folder} cannot be read: {e}"


def open_cached(folder: str | Path) -> tuple[Ladder | None, str | None]:
    """(the ladder in ``folder``, None) or (None, what is wrong), once per process and set of file stamps."""
    p = Path(folder).expanduser()
    return _open(str(p), _stamps(p))


def app_ladder() -> tuple[Ladder, str | None]:
    """The ladder a new session sees: ``VGGEXPLORER_MODELS``'s folder, or the shipped one (with the reason when that
    folder does not open)."""
    folder = os.environ.get(MODELS_ENV)
    if not folder:
        return SHIPPED, None
    ladder, err = open_cached(folder)
    if ladder is None:
        return SHIPPED, f"**{MODELS_ENV}={md_escape(folder)} does not open**: {md_escape(err, limit=1500)} Showing the shipped ladder."
    return ladder, None


def current() -> tuple[Ladder, str | None]:
    """The session's ladder (its own if it opened one, else the app's) and a problem to show, if any."""
    own = state.own_ladder()
    if own:
        ladder, err = open_cached(own)
        if ladder is not None:
            return ladder, None
        state.set_own_ladder(None)
        app, problem = app_ladder()
        return app, problem or f"Your models no longer open ({md_escape(err, limit=800)}); showing {app.name}."
    return app_ladder()


# ---- the sidebar -----------------------------------------------------------------------------------

def _open_upload(dense, pruned, preset: str) -> None:
    c = caps()
    files = [dense, *pruned]
    try:
        if c.max_models and len(files) > c.max_models:
            raise VGGExplorerError(f"This server takes up to {c.max_models} models in one ladder (dense included); "
                                   f"you gave {len(files)}.")
        big = [f.name for f in files if f.size > c.max_bytes]
        if big:
            raise VGGExplorerError(f"{', '.join(big)}: over this server's {c.max_bytes / 2**20:.0f} MB per file.")
        folder = save_upload((dense.name, dense.getvalue()), [(f.name, f.getvalue()) for f in pruned], preset)
    except (VGGExplorerError, OSError) as e:
        state.set_own_error(str(e))
        return
    if _adopt(folder):
        state.count_model_upload()  # fresh uploaders: the server drops the bytes it held (tens of MB per model)


def _open_path(text: str) -> None:
    _adopt(Path(text).expanduser())


def _adopt(folder: Path) -> bool:
    """Make ``folder`` the session's ladder; False (and the message shown) when it does not open."""
    ladder, err = open_cached(folder)
    if ladder is None:
        state.set_own_error(err)
        return False
    state.set_own_ladder(str(folder))
    state.update(pruned=ladder.default.percent)
    return True


def sidebar() -> None:
    """Sidebar: open your own ladder (uploads, or a folder on this machine), or go back to the app's."""
    c = caps()
    with st.sidebar.expander("Your own models", expanded=bool(state.own_error())):
        st.caption("A dense checkpoint and one or more pruned ones of the course-lab VGG: state_dicts (also from "
                   "torch.nn.utils.prune, DataParallel or torch.compile, fp16/bf16) or vggexplorer checkpoints.")
        if c.hosted:
            st.caption(c.describe())
        n = state.model_uploads()
        dense = st.file_uploader("Dense model", type=UPLOAD_TYPES, key=f"own_dense_{n}")
        pruned = st.file_uploader("Pruned models (one or more)", type=UPLOAD_TYPES, accept_multiple_files=True,
                                  key=f"own_pruned_{n}")
        preset = st.radio("Input normalization", list(PRESET_LABELS), format_func=PRESET_LABELS.get, key="own_norm",
                          help="A plain state_dict does not record how its inputs were normalised. The course lab "
                               "uses ToTensor() only; most CIFAR-10 repositories normalise with the training mean "
                               "and std.")
        st.button("Open these models", key="own_open", disabled=dense is None or not pruned, on_click=_open_upload,
                  args=(dense, pruned or [], preset))
        if not c.hosted:  # a hosted demo must not read server paths
            path = st.text_input("…or a folder on this machine", key="own_folder", placeholder="runs/my-ladder")
            st.button("Open the folder", key="own_open_folder", disabled=not path, on_click=_open_path, args=(path,))
        if state.own_error():
            st.error(md_escape(state.own_error(), limit=1500))
        if state.own_ladder():
            app, _ = app_ladder()
            st.button(f"Back to {app.name}", key="own_reset", on_click=_back)


def _back() -> None:
    state.set_own_ladder(None)
    app, _ = app_ladder()
    state.update(pruned=app.default.percent)


def describe(ladder: Ladder, models: dict) -> str:
    """The sidebar's line on what is shown: the ladder, its files and the input normalization of the models shown."""
    where = "the shipped ladder" if ladder.is_shipped else f"your ladder **{md_escape(ladder.name)}**"
    files = " · ".join(f"{r.label}: {md_escape(r.filename)}" for r in ladder.rungs)
    norms = {describe_normalization(m) for m in models.values()}
    norm = "; ".join(f"{slot}: {describe_normalization(m)}" for slot, m in models.items()) if len(norms) > 1 \
        else next(iter(norms), "")
    return f"Showing {where} ({files}). Input normalization: {norm}."


# ---- the scan's progress ------------------------------------------------------------------------------

def _status_line(status) -> str:
    if status.state == "queued":
        return (f"Your models are queued for scanning: position {status.position} (one scan runs at a time on this "
                "server). The pages fill when it is their turn.")
    phase = (f"quick pass ({QUICK_IMAGES:,} test images, {QUICK_IMAGES // 10} per class)" if status.state == "quick"
             else "full pass (all 10,000 test images)")
    if not status.total:
        return f"Scanning your models: {phase}, starting (reading the models and the test split)."
    eta = f", about {status.eta_s:.0f} s left" if status.eta_s is not None else ", estimating the time left"
    return f"Scanning your models: {phase}, {status.done:,} of {status.total:,} images{eta}."


def scan_progress(status) -> None:
    """While ``status`` (a :class:`ui.scan_queue.ScanStatus`) runs or waits: its progress, redrawn every second; the
    page reruns when a pass completes, so it fills with the quick pass and then with the full one."""
    if status is None or status.state in ("done",):
        return
    if status.state == "failed":
        st.error(f"Scanning your models failed: {md_escape(status.error or 'unknown error', limit=800)}")
        return
    _poll(status.key, status.state, status.quick_ready)


@st.fragment(run_every=1.0)
def _poll(key: str, was: str, quick_was: bool) -> None:
    from .scan_queue import QUEUE

    status = QUEUE.status(key)
    if status is None or status.state in ("done", "failed") or status.quick_ready != quick_was:
        st.rerun()
    st.progress(status.fraction, text=_status_line(status))
