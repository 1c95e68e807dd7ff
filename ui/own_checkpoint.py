"""Your own checkpoint: the process-wide registry of loaded checkpoints and the sidebar that fills it.

A checkpoint is read with ``weights_only=True`` and the loader's size limit, then kept by the SHA-256 of
its bytes (sessions uploading the same file share one read-only model). The registry keeps the last
:data:`MAX_OWN` checkpoints; a session whose checkpoint was evicted is told so and falls back to the
shipped model.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import streamlit as st
from torch import nn

from vggexplorer import CheckpointError, load_model
from vggexplorer.model.checkpoint import MAX_CHECKPOINT_BYTES
from vggexplorer.errors import VGGExplorerError

from . import state
from .markup import md_escape
from .modelset import SLOTS, ModelRef

MAX_OWN = 8  # distinct checkpoints kept in memory per process (about 37 MB each)
_LOCK = threading.Lock()


@st.cache_resource
def _registry() -> dict[str, nn.Module]:
    """SHA-256 prefix of a checkpoint's bytes -> its model (read-only once registered)."""
    return {}


def lookup(sha: str) -> nn.Module | None:
    return _registry().get(sha)


def register(data: bytes | None, path: Path | None, name: str) -> ModelRef:
    """Load an uploaded (``data``) or local (``path``) checkpoint, size-limited and weights only; return its ref."""
    if data is None:
        if not path.is_file():
            raise CheckpointError(f"No file at {path}.")
        if path.stat().st_size > MAX_CHECKPOINT_BYTES:  # before hashing: never read a huge file into memory
            load_model(path)  # raises the loader's size message
        data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()[:16]
    reg = _registry()
    if sha not in reg:
        buf = io.BytesIO(data)
        buf.name = name  # errors name the user's file, not "uploaded file"
        model = load_model(buf)
        with _LOCK:
            while len(reg) >= MAX_OWN:
                reg.pop(next(iter(reg)))
            reg[sha] = model
    return ModelRef.own(sha, name)


def _drop_evicted() -> None:
    """Forget this session's checkpoints that the registry evicted, and say so."""
    for slot, ref in state.own_checkpoints().items():
        if lookup(ref.sha) is None:
            st.warning(f"Your {slot} checkpoint **{md_escape(ref.name)}** was unloaded to free memory (the server "
                       f"keeps the last {MAX_OWN} uploaded); showing the shipped {slot} model. Load it again to go on.")
            state.drop_own_checkpoints(slot)


def _load(slot: str, upload, path_text: str | None) -> None:
    try:
        if upload is not None:
            ref = register(upload.getvalue(), None, upload.name)
        else:
            p = Path(path_text).expanduser()
            ref = register(None, p, p.name)
        state.set_own_checkpoint(slot, ref)
    except (VGGExplorerError, OSError) as e:  # OSError: an unreadable path
        state.set_own_error(str(e))


def sidebar() -> None:
    """Sidebar: explore your own checkpoint (a course-lab state_dict or a vggexplorer checkpoint) in a slot."""
    _drop_evicted()
    with st.sidebar.expander("Your own checkpoint"):
        slot = st.radio("Role", SLOTS, horizontal=True, key="custom_role")
        up = st.file_uploader("Checkpoint (.pt, .pth)", type=["pt", "pth", "tar", "ckpt", "bin"], key="custom_upload")
        path = None
        if os.environ.get("VGGEXPLORER_HOSTED") != "1":  # a hosted demo must not read server paths
            path = st.text_input("…or a path on this machine", key="custom_path", placeholder="runs/pruned/pruned.pt")
        st.button("Load", key="custom_load", disabled=up is None and not path, on_click=_load, args=(slot, up, path))
        if state.own_error():
            st.error(md_escape(state.own_error(), limit=1500))
        own = state.own_checkpoints()
        for s, ref in own.items():
            st.caption(f"{s}: **{md_escape(ref.name)}**")
        if own:
            st.button("Back to the shipped checkpoints", key="custom_reset", on_click=state.drop_own_checkpoints)
