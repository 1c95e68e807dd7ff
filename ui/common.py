"""Cached loaders and URL state shared by the app's pages. The only place that caches.

Models and the test split are ``st.cache_resource`` (one read-only copy per process, shared by
every session); per-image results are ``st.cache_data`` (copied per session, so sessions
never share mutable results).
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from vggexplorer import CheckpointError, DataError, ScanError, load_bundled_test, load_model, load_scan
from vggexplorer.checkpoint import MAX_CHECKPOINT_BYTES
from vggexplorer.explore import analyze_image, channel_table, importance_scores
from vggexplorer.model import conv_block_names
from vggexplorer.scan import SCAN_CMD, check_scan_matches

REPO = Path(__file__).resolve().parent.parent
SCAN_NAME = "scan.npz"


_MD_SPECIAL = set("\\`*_[]<>#$~|")  # what can start formatting mid-line (newlines are removed)


def md_escape(text: str, limit: int = 80) -> str:
    """User text (a file name, a URL value) made inert in Streamlit markdown, and shortened.

    A file named ``[win](http://x)`` or ``$\\huge x$`` must show as typed, not as a link or maths.
    """
    text = str(text)
    if len(text) > limit:
        text = text[:limit] + "…"
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text.replace("\n", " "))


def md_code(text: str, limit: int = 40) -> str:
    """User text shown as inline code: only a backtick could end the span, so none survives."""
    text = str(text).replace("`", "'").replace("\n", " ")
    return f"`{text[:limit]}{'…' if len(text) > limit else ''}`"


def ckpt_dir() -> Path:
    """Where the checkpoints and the scan live; VGGEXPLORER_CKPT_DIR points the app at other ones."""
    return Path(os.environ.get("VGGEXPLORER_CKPT_DIR", REPO / "checkpoints"))


def checkpoint_paths() -> dict[str, Path]:
    return {"dense": ckpt_dir() / "dense.pt", "pruned": ckpt_dir() / "pruned.pt"}


def _stamp(*paths: Path) -> tuple:
    """Identity of files on disk (path, mtime, size): a regenerated checkpoint is picked up without a restart."""
    out = []
    for p in paths:
        try:
            st_ = p.stat()
            out.append((str(p), st_.st_mtime_ns, st_.st_size))
        except OSError:
            out.append((str(p), None, None))
    return tuple(out)


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


def get_models() -> Models:
    """The shipped models (loaded once per process and file version, shared read-only by all sessions)."""
    return _load_models(_stamp(*checkpoint_paths().values()))


@st.cache_resource(show_spinner="Loading the dense and pruned checkpoints…", max_entries=2)
def _load_models(stamp: tuple) -> Models:
    out = Models()
    for role, path in checkpoint_paths().items():
        try:
            out.models[role] = load_model(path)
            out.paths[role] = path
        except CheckpointError as e:
            out.errors[role] = f"{e} Re-create it with: `{REBUILD[role]}` (see checkpoints/README.md)."
    return out


def get_test_split():
    """(split, problem message or None): the 10,000 test images, shared read-only by every session."""
    from vggexplorer.data import bundled_test_path

    return _load_test_split(_stamp(bundled_test_path()))


@st.cache_resource(show_spinner="Loading the bundled CIFAR-10 test split…", max_entries=2)
def _load_test_split(stamp: tuple):
    try:
        split = load_bundled_test()
    except DataError as e:
        return None, str(e)
    split.images.setflags(write=False)
    split.labels.setflags(write=False)
    return split, None


def get_scan():
    """(scan, problem message or None) for the shipped checkpoints."""
    return _load_scan(_stamp(ckpt_dir() / SCAN_NAME, *checkpoint_paths().values()))


@st.cache_resource(show_spinner="Loading the dataset scan…", max_entries=2)
def _load_scan(stamp: tuple):
    try:
        scan = load_scan(ckpt_dir() / SCAN_NAME)
    except ScanError as e:
        return None, str(e)
    models = get_models()
    stale = check_scan_matches(scan, {r: p for r, p in models.paths.items() if r in scan.models})
    if stale:
        return scan, (f"The dataset scan was computed on other checkpoints than the ones loaded ({', '.join(stale)}); "
                      f"its statistics may not match. Rebuild it with: `{SCAN_CMD}`")
    return scan, None


# ---- your own checkpoint: per session, by role ------------------------------------------------

MAX_CUSTOM = 8  # distinct uploaded checkpoints kept in memory per process (about 37 MB each)
_REGISTRY_LOCK = threading.Lock()


@st.cache_resource
def _custom_registry() -> dict:
    """SHA-256 of a checkpoint's bytes -> its model (read-only; sessions uploading the same file share it)."""
    return {}


def _register_custom(data: bytes | None, path: str | None, name: str) -> str:
    """Load an uploaded or local checkpoint (weights only, size-limited) and return its key."""
    import io

    if data is None:
        p = Path(path)
        if p.stat().st_size > MAX_CHECKPOINT_BYTES:  # before hashing: never read a huge file into memory
            load_model(p)  # raises the loader's size message
        data = p.read_bytes()
    sha = hashlib.sha256(data).hexdigest()[:16]
    reg = _custom_registry()
    if sha not in reg:
        buf = io.BytesIO(data)
        buf.name = name  # errors name the user's file, not "uploaded file"
        model = load_model(buf)
        model.meta.setdefault("display_name", name)  # before it is shared: cached models are never mutated
        with _REGISTRY_LOCK:
            while len(reg) >= MAX_CUSTOM:
                reg.pop(next(iter(reg)))
            reg[sha] = model
    return sha


def _drop_evicted_custom() -> None:
    """Forget this session's checkpoints that the registry evicted, and say so (it keeps MAX_CUSTOM)."""
    custom = st.session_state.get("custom_models", {})
    gone = [r for r, info in custom.items() if info["sha"] not in _custom_registry()]
    for r in gone:
        st.warning(f"Your {r} checkpoint **{md_escape(custom[r]['name'])}** was unloaded to free memory (the server "
                   f"keeps the last {MAX_CUSTOM} uploaded); showing the shipped {r} model. Load it again to go on.")
        del custom[r]


def models_key() -> str:
    """Which models this session uses, e.g. ``dense=shipped|pruned=3fa2...``: part of every cache key."""
    custom = st.session_state.get("custom_models", {})
    parts = []
    for r, p in checkpoint_paths().items():
        # the shipped file's identity is part of the key, so a regenerated checkpoint never hits stale results
        shipped = "shipped:" + hashlib.sha256(repr(_stamp(p)).encode()).hexdigest()[:12]
        parts.append(f"{r}={custom.get(r, {}).get('sha', shipped)}")
    return "|".join(parts)


def session_models(key: str | None = None) -> dict:
    """Role -> model for this session: the shipped ones, with the session's own checkpoints swapped in."""
    key = key or models_key()
    shipped = get_models().models
    out = {}
    for part in key.split("|"):
        role, sha = part.split("=")
        if sha.startswith("shipped"):
            if role in shipped:
                out[role] = shipped[role]
        elif sha in _custom_registry():
            out[role] = _custom_registry()[sha]
    return out


def session_scan():
    """The shipped scan, without the roles this session replaced (their statistics would be wrong)."""
    scan, err = get_scan()
    custom = set(st.session_state.get("custom_models", {}))
    if scan is None or not custom:
        return scan, err
    from vggexplorer.scan import ScanResult

    kept = ScanResult({r: v for r, v in scan.models.items() if r not in custom}, {}, scan.meta)
    note = (f"Dataset statistics are shown only for the shipped checkpoints; for your own "
            f"({', '.join(sorted(custom))}) compute them with `python -m vggexplorer scan --checkpoint DENSE.pt "
            "--checkpoint PRUNED.pt --out scan.npz`.")
    return kept, note


def checkpoint_sidebar() -> None:
    """Sidebar: explore your own checkpoint (a course-lab state_dict or a vggexplorer checkpoint) in a role."""
    _drop_evicted_custom()
    with st.sidebar.expander("Your own checkpoint"):
        role = st.radio("Role", list(checkpoint_paths()), horizontal=True, key="custom_role")
        up = st.file_uploader("Checkpoint (.pt, .pth)", type=["pt", "pth", "tar", "ckpt", "bin"], key="custom_upload")
        path = None
        if os.environ.get("VGGEXPLORER_HOSTED") != "1":  # a hosted demo must not read server paths
            path = st.text_input("…or a path on this machine", key="custom_path", placeholder="runs/pruned/pruned.pt")
        if st.button("Load", key="custom_load", disabled=up is None and not path):
            try:
                if up is not None:
                    sha = _register_custom(up.getvalue(), None, up.name)
                    name = up.name
                else:
                    p = Path(path).expanduser()
                    if not p.is_file():
                        raise CheckpointError(f"No file at {p}.")
                    sha = _register_custom(None, str(p), p.name)
                    name = p.name
                st.session_state.setdefault("custom_models", {})[role] = {"sha": sha, "name": name}
                st.session_state.pop("custom_error", None)
            except (CheckpointError, OSError) as e:
                st.session_state["custom_error"] = str(e)
            st.rerun()
        if st.session_state.get("custom_error"):
            st.error(md_escape(st.session_state["custom_error"], limit=1500))
        custom = st.session_state.get("custom_models", {})
        for r, info in custom.items():
            st.caption(f"{r}: **{md_escape(info['name'])}**")
        if custom and st.button("Back to the shipped checkpoints", key="custom_reset"):
            st.session_state.pop("custom_models", None)
            st.session_state.pop("custom_error", None)
            st.rerun()
    for r, m in session_models().items():
        bad = m.meta.get("nonfinite") or []
        if bad:
            st.warning(f"The {r} model has NaN or infinite values in {', '.join(bad[:5])}"
                       f"{' …' if len(bad) > 5 else ''}: its outputs are not meaningful.")


# 32 images x ~3 MB of maps for both models: bounded memory on a hosted demo
@st.cache_data(max_entries=32, show_spinner=False)
def analyze(mkey: str, image_key: str, image: np.ndarray):
    """Both models on one image (keyed by the session's models and the test index or upload hash)."""
    return analyze_image(session_models(mkey), image)


@st.cache_data(max_entries=64, show_spinner=False)
def importance(mkey: str, image_key: str, image: np.ndarray, block: str, cls: int, method: str):
    return importance_scores(session_models(mkey), analyze(mkey, image_key, image), image, block, cls, method)


@st.cache_data(max_entries=16, show_spinner=False)
def channels_df(mkey: str):
    scan, _ = session_scan() if mkey == models_key() else get_scan()
    return channel_table(session_models(mkey), scan, BLOCKS)


@st.cache_data(max_entries=16, show_spinner="Rendering the activation grid…")
def activation_png(mkey: str, image_key: str, image: np.ndarray, title: str) -> bytes:
    import io

    from vggexplorer.render import activation_sheet

    an = analyze(mkey, image_key, image)
    caps = {r: {b: c.block(b) for b in BLOCKS} for r, c in an.captures.items()}
    buf = io.BytesIO()
    activation_sheet(caps, title).save(buf, format="PNG")
    return buf.getvalue()


def upload_key(data: bytes) -> str:
    return "upload-" + hashlib.sha256(data).hexdigest()[:16]


def show_load_problems() -> bool:
    """Show what is missing and how to rebuild it; True if the app can still run its main view."""
    models = get_models()
    checkpoint_sidebar()
    custom = st.session_state.get("custom_models", {})
    for role, msg in models.errors.items():
        if role not in custom:
            st.error(f"**{role} model unavailable.** {msg}")
    _, err = get_test_split()
    if err:
        st.warning(f"**Bundled test split unavailable**: {err}. Upload your own image instead.")
    return bool(session_models())


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
    notices.append(f"{md_code(f'{name}={raw}')} in the link is not valid (expected {lo}..{hi}); showing {default} instead.")
    return default


def init_state_from_url(n_images: int) -> None:
    """On a session's first run, read ``img``, ``block`` and ``ch`` from the URL into session state."""
    if st.session_state.get("_url_read"):
        # arriving from another page (e.g. a dead-filter row) that set only block and channel
        st.session_state.setdefault("img", default_image())
        st.session_state.setdefault("block", "conv0")
        return
    notices: list[str] = []
    img_raw = st.query_params.get("img")
    st.session_state["img"] = _int_param("img", 0, max(n_images - 1, 0), default_image(), notices) \
        if img_raw != "upload" else default_image()
    block = st.query_params.get("block", "conv0")
    if block not in BLOCKS:
        notices.append(f"{md_code(f'block={block}')} in the link is not a block (conv0..conv7); showing conv0 instead.")
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
