"""Cached loaders and URL state shared by the app's pages. The only place that caches.

Models and the test split are ``st.cache_resource`` (one read-only copy per process, shared by
every session); per-image results are ``st.cache_data`` (copied per session, so sessions
never share mutable results).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from vggexplorer import CheckpointError, DataError, ScanError, load_bundled_test, load_model, load_scan
from vggexplorer.data import PACK_TEST_CMD
from vggexplorer.explore import analyze_image, channel_table, importance_scores
from vggexplorer.model import conv_block_names
from vggexplorer.scan import SCAN_CMD, check_scan_matches

REPO = Path(__file__).resolve().parent.parent
# VGGEXPLORER_CKPT_DIR points the app at other checkpoints (dense.pt, pruned.pt, scan.npz).
CKPT_DIR = Path(os.environ.get("VGGEXPLORER_CKPT_DIR", REPO / "checkpoints"))
CHECKPOINTS = {"dense": CKPT_DIR / "dense.pt", "pruned": CKPT_DIR / "pruned.pt"}
SCAN_PATH = CKPT_DIR / "scan.npz"
REBUILD = {
    "dense": "python -m vggexplorer train --data-dir ../shared/data/cifar10 --out checkpoints/dense.pt",
    "pruned": "python -m vggexplorer prune --data-dir ../shared/data/cifar10 --checkpoint checkpoints/dense.pt "
              "--out checkpoints/pruned.pt",
}
BLOCKS = conv_block_names()


@dataclass
class Models:
    """The loaded models by role, and a message for each one that could not be loaded."""

    models: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)


@st.cache_resource(show_spinner="Loading the dense and pruned checkpoints…")
def get_models() -> Models:
    out = Models()
    for role, path in CHECKPOINTS.items():
        try:
            out.models[role] = load_model(path)
            out.paths[role] = path
        except CheckpointError as e:
            out.errors[role] = f"{e} Re-create it with: `{REBUILD[role]}` (see checkpoints/README.md)."
    return out


@st.cache_resource(show_spinner="Loading the bundled CIFAR-10 test split…")
def get_test_split():
    """The 10,000 test images; arrays made read-only because every session shares them."""
    try:
        split = load_bundled_test()
    except DataError as e:
        return None, str(e)
    split.images.setflags(write=False)
    split.labels.setflags(write=False)
    return split, None


@st.cache_resource(show_spinner="Loading the dataset scan…")
def get_scan():
    try:
        scan = load_scan(SCAN_PATH)
    except ScanError as e:
        return None, str(e)
    models = get_models()
    stale = check_scan_matches(scan, {r: p for r, p in models.paths.items() if r in scan.models})
    if stale:
        return scan, (f"The dataset scan was computed on other checkpoints than the ones loaded ({', '.join(stale)}); "
                      f"its statistics may not match. Rebuild it with: `{SCAN_CMD}`")
    return scan, None


@st.cache_data(max_entries=128, show_spinner=False)
def analyze(image_key: str, image: np.ndarray):
    """Both models on one image (keyed by test index or upload hash)."""
    return analyze_image(get_models().models, image)


@st.cache_data(max_entries=128, show_spinner=False)
def importance(image_key: str, image: np.ndarray, block: str, cls: int, method: str):
    models = get_models().models
    return importance_scores(models, analyze(image_key, image), image, block, cls, method)


@st.cache_data(show_spinner=False)
def channels_df():
    scan, _ = get_scan()
    return channel_table(get_models().models, scan, BLOCKS)


@st.cache_data(max_entries=16, show_spinner="Rendering the activation grid…")
def activation_png(image_key: str, image: np.ndarray, title: str) -> bytes:
    import io

    from vggexplorer.render import activation_sheet

    an = analyze(image_key, image)
    caps = {r: {b: c.block(b) for b in BLOCKS} for r, c in an.captures.items()}
    buf = io.BytesIO()
    activation_sheet(caps, title).save(buf, format="PNG")
    return buf.getvalue()


def upload_key(data: bytes) -> str:
    return "upload-" + hashlib.sha256(data).hexdigest()[:16]


def show_load_problems() -> bool:
    """Show what is missing and how to rebuild it; True if the app can still run its main view."""
    models = get_models()
    for role, msg in models.errors.items():
        st.error(f"**{role} model unavailable.** {msg}")
    _, err = get_test_split()
    if err:
        st.warning(f"**Bundled test split unavailable**: {err}. Upload your own image instead.")
    return bool(models.models)


# ---- URL state: image, block and channel live in the query string -----------------------------

def _int_param(name: str, lo: int, hi: int, default: int, notices: list[str]) -> int:
    raw = st.query_params.get(name)
    if raw is None:
        return default
    try:
        v = int(raw)
        if lo <= v <= hi:
            return v
    except (TypeError, ValueError):
        pass
    notices.append(f"`{name}={raw[:40]}` in the link is not valid (expected {lo}..{hi}); showing {default} instead.")
    return default


def init_state_from_url(n_images: int) -> None:
    """On a session's first run, read ``img``, ``block`` and ``ch`` from the URL into session state."""
    if st.session_state.get("_url_read"):
        return
    notices: list[str] = []
    img_raw = st.query_params.get("img")
    st.session_state["img"] = _int_param("img", 0, max(n_images - 1, 0), default_image(), notices) \
        if img_raw != "upload" else default_image()
    block = st.query_params.get("block", "conv0")
    if block not in BLOCKS:
        notices.append(f"`block={block[:40]}` in the link is not a block (conv0..conv7); showing conv0 instead.")
        block = "conv0"
    st.session_state["block"] = block
    st.session_state["_url_ch"] = st.query_params.get("ch")
    st.session_state["_url_notices"] = notices
    st.session_state["_url_read"] = True


def default_image() -> int:
    """A frog, as in the seed post: test image 6000 is the first frog in ImageFolder order."""
    return 6000


def write_url(img: int | str, block: str, ch: int) -> None:
    """Keep the view in the URL so a link reopens it (only when something changed: no extra reruns)."""
    want = {"img": str(img), "block": block, "ch": str(ch)}
    if {k: st.query_params.get(k) for k in want} != want:
        st.query_params.update(want)
