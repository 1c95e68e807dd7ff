"""The session's state and its URL: the only code that reads or writes ``st.session_state`` and ``st.query_params``.

The view (test image, block, channel, pruned rung, the mosaics' colour scale, the channel's open panel, and
whether the image is an upload) is one frozen :class:`View` kept in the session. The URL mirrors it (``img``,
``block``, ``ch``, ``pruned``, ``scale``, ``panel``) so a link
reopens the view: the URL is read when it changed outside this module (a new session, a pasted link,
another page's ``st.switch_page(..., query_params=...)``) and written back after the Explorer drew.

Widgets that edit the view are bound with :func:`bind` / :func:`bind_field`: their value is set from the
view before they are drawn and their change callback writes the view, so the view is the one truth and a
widget that is not drawn on another page loses nothing. The session's own ladder (the folder it opened, or its
uploads' folder), its last image upload and the own-ladder error live here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Callable, Mapping

import streamlit as st

from vggexplorer.model.ladder import DEFAULT_RUNG
from vggexplorer.model.vgg import block_widths, conv_block_names
from vggexplorer.views.mosaic import SCALES

from .markup import md_code
BLOCKS = conv_block_names()
BLOCK_CHANNELS = block_widths()
DEFAULT_IMAGE = 6000  # a frog, as in the seed post: the first frog in ImageFolder order
URL_KEYS = ("img", "block", "ch", "pruned", "scale", "panel")
# The Explorer's panels under the mosaics, one open at a time (only the open one is computed and drawn):
# URL value -> tab label.
PANELS = {"channel": "This channel, dense vs pruned", "ladder": "Across the sparsity ladder",
          "similarity": "Similarity on this image", "classification": "What carries the classification",
          "looks-for": "What this channel looks for"}

_VIEW, _URL, _OWN, _OWN_ERROR, _UPLOAD = "view", "view_url", "own_ladder", "own_error", "upload"
_MODEL_UPLOADS = "model_uploads"  # how many ladders this session has opened from uploads
_MARKS = "mosaic_marks"


@dataclass(frozen=True)
class View:
    """What the Explorer shows."""

    img: int = DEFAULT_IMAGE  # test image index (kept while an upload is shown)
    block: str = BLOCKS[0]
    ch: int = 0
    pruned: int = DEFAULT_RUNG.percent  # the pruned slot's rung, by its percentage of zero weights
    scale: str = next(iter(SCALES))  # the mosaics' colour scale (vggexplorer.views.mosaic.SCALES)
    panel: str = next(iter(PANELS))  # the open panel under the mosaics
    source: str = "test"  # "test" or "upload"

    def clamped(self) -> "View":
        return replace(self, ch=min(max(int(self.ch), 0), BLOCK_CHANNELS[self.block] - 1))

    def params(self) -> dict[str, str]:
        """The view as the URL holds it."""
        return {"img": "upload" if self.source == "upload" else str(self.img), "block": self.block,
                "ch": str(self.ch), "pruned": str(self.pruned), "scale": self.scale, "panel": self.panel}


def view() -> View:
    return st.session_state.get(_VIEW) or View()


def update(**changes: Any) -> View:
    """Change fields of the view (the channel is kept within the block's channels)."""
    v = replace(view(), **changes).clamped()
    st.session_state[_VIEW] = v
    if "ch" in changes:
        st.session_state.pop(_MARKS, None)  # mark the new channel in every mosaic
    return v


# ---- URL round trip ---------------------------------------------------------------------------

@dataclass
class _Parsed:
    changes: dict = field(default_factory=dict)
    notices: list = field(default_factory=list)

    def bad(self, name: str, raw: str, expected: str, fallback: Any) -> None:
        self.notices.append(f"{md_code(f'{name}={raw}')} in the link is not valid (expected {expected}); "
                            f"showing {fallback} instead.")


def _int_or_none(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def _first_rung(percents: list[int]) -> int:
    """The rung a view falls back to on a ladder with these ``percents``: the shipped default, else its first."""
    return DEFAULT_RUNG.percent if DEFAULT_RUNG.percent in percents else percents[0]


def parse_url(params: dict[str, str | None], n_images: int, base: View,
              percents: list[int]) -> tuple[View, list[str]]:
    """The view a link asks for, on top of ``base`` (keys the link lacks keep ``base``'s values), and a notice
    naming each value that was not valid (that field falls back to its default). ``percents``: the ladder's rungs."""
    p = _Parsed()
    default = View(pruned=_first_rung(percents))
    img, block, ch, pruned, scale, panel = (params.get(k) for k in URL_KEYS)
    if img == "upload":
        p.notices.append("The link pointed at an uploaded image, which a link cannot carry; showing test image "
                         f"{default.img} instead.")
        p.changes.update(img=default.img, source="test")
    elif img is not None:
        i = _int_or_none(img)
        ok = i is not None and 0 <= i < n_images
        p.changes.update(img=i if ok else default.img, source="test")
        if not ok:
            p.bad("img", img, f"0..{max(n_images - 1, 0)}", default.img)
    if block is not None:
        ok = block in BLOCK_CHANNELS
        p.changes["block"] = block if ok else default.block
        if not ok:
            p.bad("block", block, f"{BLOCKS[0]}..{BLOCKS[-1]}", default.block)
    if pruned is not None:
        pct = _int_or_none(pruned)
        ok = pct in percents
        p.changes["pruned"] = pct if ok else default.pruned
        if not ok:
            p.bad("pruned", pruned, " / ".join(map(str, percents)), default.pruned)
    if scale is not None:
        ok = scale in SCALES
        p.changes["scale"] = scale if ok else default.scale
        if not ok:
            p.bad("scale", scale, " / ".join(SCALES), default.scale)
    if panel is not None:
        ok = panel in PANELS
        p.changes["panel"] = panel if ok else default.panel
        if not ok:
            p.bad("panel", panel, " / ".join(PANELS), default.panel)
    if ch is not None:
        top = BLOCK_CHANNELS[p.changes.get("block", base.block)] - 1
        c = _int_or_none(ch)
        ok = c is not None and 0 <= c <= top
        p.changes["ch"] = c if ok else default.ch
        if not ok:
            p.bad("ch", ch, f"0..{top} for {p.changes.get('block', base.block)}", default.ch)
    return replace(base, **p.changes).clamped(), p.notices


def sync_from_url(n_images: int, percents: list[int]) -> list[str]:
    """Adopt the URL's view if the URL changed since this module last read or wrote it; notices for bad values.
    ``percents``: the rungs of the session's ladder (a view on a rung the ladder lacks moves to its first rung)."""
    url = {k: st.query_params.get(k) for k in URL_KEYS}
    if view().pruned not in percents:
        update(pruned=_first_rung(percents))
    if st.session_state.get(_URL) == url:
        return []
    v, notices = parse_url(url, n_images, view(), percents)
    st.session_state[_VIEW] = v
    st.session_state[_URL] = url
    return notices


def write_url() -> None:
    """Put the view in the URL (only what changed: no extra rerun)."""
    want = view().params()
    if {k: st.query_params.get(k) for k in want} != want:
        st.query_params.update(want)
    st.session_state[_URL] = want


def link_params(**changes: Any) -> dict[str, str]:
    """The URL parameters of the current view with ``changes``, e.g. for ``st.switch_page(..., query_params=...)``."""
    return replace(view(), **changes).clamped().params()


# ---- widgets bound to the view ----------------------------------------------------------------

def _from_widget(key: str, to_view: Callable[[Any], dict]) -> None:
    update(**to_view(st.session_state[key]))


def bind(key: str, shown: Any, to_view: Callable[[Any], dict]) -> dict:
    """Keyword arguments for a widget showing ``shown``, whose change updates the view with ``to_view(value)``."""
    st.session_state[key] = shown
    return {"key": key, "on_change": _from_widget, "args": (key, to_view)}


def bind_field(name: str) -> dict:
    """:func:`bind` for a widget that edits one field of the view directly; its key is the field's name."""
    return bind(name, getattr(view(), name), lambda value: {name: value})


def bind_labelled(name: str, labels: Mapping[str, str]) -> dict:
    """:func:`bind_field` for a widget that shows the field's values by their labels (value -> label), e.g. the
    tabs of :data:`PANELS` or the image sources; its key is the field's name."""
    value_of = {label: value for value, label in labels.items()}
    return bind(name, labels[getattr(view(), name)], lambda label: {name: value_of[label]})


def _picked(key: str, slot: str) -> None:
    event = st.session_state.get(key) or {}
    points = (event.get("selection") or {}).get("points") or []
    # the mosaic's trace 1 holds one invisible point per channel, in channel order: point index = channel
    picked = [int(p["point_index"]) for p in points if p.get("curve_number") == 1 and "point_index" in p]
    if picked:
        kept = mark(slot)
        update(ch=picked[0])
        # The clicked mosaic marks the tile itself (its selection): its figure keeps the mark it was drawn
        # with, so it is not redrawn. The other one loses its mark, which would be out of date.
        st.session_state[_MARKS] = {slot: kept}


def chart_pick(key: str, slot: str) -> dict:
    """Keyword arguments for ``st.plotly_chart`` of ``slot``'s mosaic: a click on a tile makes it the view's channel.

    The callback runs before the rerun, so one click is one rerun (of the fragment that holds the chart).
    """
    return {"key": key, "on_select": partial(_picked, key, slot), "selection_mode": "points"}


def mark(slot: str) -> int | None:
    """The channel marked in ``slot``'s mosaic figure: the view's channel, except after a click (see ``_picked``)."""
    marks = st.session_state.get(_MARKS)
    return view().ch if marks is None else marks.get(slot)


def new_mosaics() -> None:
    """The mosaics are drawn anew (another image, block, scale or model): mark the view's channel in each."""
    st.session_state.pop(_MARKS, None)


# ---- the session's own ladder, its upload ---------------------------------------------------------

def own_ladder() -> str | None:
    """The folder of the ladder this session opened (a folder on this machine, or its uploads' folder); None: the
    app's ladder."""
    return st.session_state.get(_OWN)


def set_own_ladder(folder: str | None) -> None:
    if folder is None:
        st.session_state.pop(_OWN, None)
    else:
        st.session_state[_OWN] = str(folder)
    st.session_state.pop(_OWN_ERROR, None)


def own_error() -> str | None:
    return st.session_state.get(_OWN_ERROR)


def set_own_error(message: str | None) -> None:
    if message is None:
        st.session_state.pop(_OWN_ERROR, None)
    else:
        st.session_state[_OWN_ERROR] = message


def model_uploads() -> int:
    """How many ladders this session has opened from its uploads: part of the model uploaders' keys, so that each
    opened ladder gives empty uploaders, and the server lets go of the files' bytes (they are on disk by then)."""
    return st.session_state.get(_MODEL_UPLOADS, 0)


def count_model_upload() -> None:
    st.session_state[_MODEL_UPLOADS] = model_uploads() + 1


def upload() -> dict | None:
    """The session's decoded upload: ``{"key", "name", "image", "preview", "notes"}``."""
    return st.session_state.get(_UPLOAD)


def set_upload(record: dict | None) -> None:
    if record is None:
        st.session_state.pop(_UPLOAD, None)
    else:
        st.session_state[_UPLOAD] = record
