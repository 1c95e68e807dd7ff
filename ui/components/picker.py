"""The Explorer's image, chosen in the sidebar: a test image (class, index within the class, random, gallery) or an upload."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from vggexplorer.errors import VGGExplorerError
from vggexplorer.data.images import read_upload, to_uint8_32
from vggexplorer.model.vgg import CIFAR10_CLASSES

from .. import state
from ..markup import md_escape

SOURCES = {"test": "Test split", "upload": "Upload"}
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp"]


@dataclass(frozen=True)
class Picked:
    """The image to explore."""

    key: str  # "test-6000" or "upload-<sha>": names downloads and per-image widgets
    image: np.ndarray  # uint8 [32, 32, 3], the model input
    caption: str  # markdown; user text escaped
    preview: Any = None  # the upload as the user gave it (a thumbnail), for uploads


def pick(split) -> Picked | None:
    """Sidebar: the image source and its pickers. None (with a message drawn) until there is an image."""
    sources = list(SOURCES) if split is not None else ["upload"]
    if state.view().source not in sources:
        state.update(source=sources[0])
    st.sidebar.radio("Image source", [SOURCES[s] for s in sources], horizontal=True,
                     **state.bind_labelled("source", SOURCES))
    return _test_image(split) if state.view().source == "test" else _upload()


def _first_of_class(split, name: str) -> dict:
    return {"img": int(np.flatnonzero(split.labels == CIFAR10_CLASSES.index(name))[0])}


def _nth_of_class(class_idx: np.ndarray, n: int) -> dict:
    return {"img": int(class_idx[min(int(n), len(class_idx) - 1)])}


def _random(n_images: int) -> None:
    state.update(img=int(np.random.default_rng().integers(0, n_images)))


def _test_image(split) -> Picked:
    idx = min(state.view().img, len(split) - 1)
    cls_i = int(split.labels[idx])
    class_idx = np.flatnonzero(split.labels == cls_i)
    within = int(np.searchsorted(class_idx, idx))
    bar = st.sidebar
    bar.selectbox("Class", CIFAR10_CLASSES,
                  **state.bind("pick_class", CIFAR10_CLASSES[cls_i], lambda name: _first_of_class(split, name)))
    bar.number_input(f"Image within the class (0..{len(class_idx) - 1})", 0, len(class_idx) - 1, step=1,
                     **state.bind("pick_within", within, lambda n: _nth_of_class(class_idx, n)))
    bar.button(":material/casino: Random test image", width="stretch", on_click=_random, args=(len(split),),
               key="random")
    # Closed until opened, and only then drawn: its 8 thumbnails and 8 buttons cost a cold start about 0.15-0.2 s
    # (medians of 9, benchmarks/README.md). Opened, it stays open for the session.
    gallery = bar.expander("Gallery: neighbours in this class", key="gallery", on_change="rerun")
    if gallery.open:
        with gallery:
            start = max(0, min(within - 4, len(class_idx) - 8))
            cols = st.columns(4)
            for j, gi in enumerate(class_idx[start:start + 8]):
                with cols[j % 4]:
                    st.image(split.images[gi], width=48)
                    st.button(f"{start + j}", key=f"gallery_{j}", help=f"test image {gi}", on_click=state.update,
                              kwargs={"img": int(gi)}, type="primary" if gi == idx else "secondary")
    return Picked(f"test-{idx}", split.images[idx],
                  f"test image {idx} · {split.filenames[idx]} · ground truth **{CIFAR10_CLASSES[cls_i]}**")


def _upload() -> Picked | None:
    up = st.sidebar.file_uploader("Your image (PNG, JPEG, WebP)", type=UPLOAD_TYPES)
    if up is None:
        state.set_upload(None)
        st.info("Upload an image in the sidebar, or switch the source back to the test split.")
        return None
    data = up.getvalue()
    key = "upload-" + hashlib.sha256(data).hexdigest()[:16]
    rec = state.upload()
    if rec is None or rec["key"] != key:
        # decoded once per file, not on every rerun; only a thumbnail stays in the session (bounded memory)
        try:
            pil, notes = read_upload(data, up.name)
        except VGGExplorerError as e:
            state.set_upload(None)
            st.error(f"**Could not use this file.** {md_escape(str(e), limit=500)}")
            return None
        if pil.size != (32, 32):
            notes.append("shorter side resized to 32 px and centre-cropped")
        preview = pil.copy()
        preview.thumbnail((320, 320))
        rec = {"key": key, "name": up.name, "image": to_uint8_32(pil), "preview": preview, "notes": notes}
        state.set_upload(rec)
    return Picked(key, rec["image"], f"your upload **{md_escape(rec['name'])}** ({'; '.join(rec['notes'])}); "
                                     "ground truth unknown", rec["preview"])
