"""The app's pages and the moves between them.

The Explorer lives at ``/explorer``, and the root URL shows it too: a hidden default page that draws the
Explorer with the link's parameters (``/?img=123&block=conv3`` is the same view as
``/explorer?img=123&block=conv3``). Streamlit serves a ``default=True`` page only at the root and does not
route its ``url_path``, so a default Explorer page would make ``/explorer`` a "Page not found". The root draws
the Explorer in place rather than handing over with ``st.switch_page``: a hand-over is a second script run,
about 0.2 s of every cold start (measured).
"""

from __future__ import annotations

import functools
import gc
import threading
from typing import Callable

import streamlit as st

from . import readahead, state


def _explorer() -> None:
    from . import explorer

    explorer.render()


def _dead_filters() -> None:
    from . import dead_filters

    dead_filters.render()


def _models() -> None:
    from . import model_view

    model_view.render()


def _disagreements() -> None:
    from . import disagreements

    disagreements.render()


def _root() -> None:
    _explorer()


# Page objects are made per run: st.navigation marks the one it returns as callable, so a Page shared
# by every session (a module constant) would be a race between sessions.
def _explorer_page() -> st.Page:
    return st.Page(_explorer, title="Explorer", icon=":material/search:", url_path="explorer")


def run() -> None:
    from . import resources

    _freeze_once()
    readahead.first_page()  # the files of a first page, in parallel threads (ui/warm.py started them already)
    st.navigation([
        st.Page(_root, title="VGG Explorer", url_path="home", default=True, visibility="hidden"),
        _explorer_page(),
        st.Page(_dead_filters, title="Dead filters", icon=":material/block:", url_path="dead-filters"),
        st.Page(_disagreements, title="Disagreements", icon=":material/compare_arrows:", url_path="disagreements"),
        st.Page(_models, title="Models", icon=":material/straighten:", url_path="models"),
    ]).run()
    _FIRST_RUN_DONE.set()
    resources.prefetch_ladder()


_FIRST_RUN_DONE = threading.Event()
_FROZEN = threading.Event()
_FREEZE_LOCK = threading.Lock()


def _freeze_once() -> None:
    """At the start of the process's second run, full or fragment (see :func:`fragment`): move what is alive
    (torch, plotly, the package, the loaded models) out of the garbage collector's sight, once.

    Streamlit runs a full collection after every script run (``runner.postScriptGC``). With torch and plotly
    imported that is about 240,000 objects and 130-270 ms here, on every click; frozen (``gc.freeze``), only
    what later runs create is traversed. By the second run the first run's garbage has been collected, so none
    of it is frozen. Frozen objects are still freed when their last reference goes; only their reference
    cycles are never collected.
    """
    if _FROZEN.is_set() or not _FIRST_RUN_DONE.is_set():
        return
    with _FREEZE_LOCK:
        if not _FROZEN.is_set():
            gc.freeze()
            _FROZEN.set()


def fragment(fn: Callable) -> Callable:
    """``st.fragment`` for the app's fragments: a fragment's rerun also does the once-only freeze.

    A session that, after its first page, only clicks inside fragments never runs :func:`run` again: without
    this its every click would pay Streamlit's full collection (measured: 165-230 ms per block change).
    """
    @functools.wraps(fn)
    def run_fragment(*args, **kwargs):
        _freeze_once()
        return fn(*args, **kwargs)

    return st.fragment(run_fragment)


def open_in_explorer(block: str, ch: int, pruned: int | None = None) -> None:
    """Show ``block``'s channel ``ch`` (on rung ``pruned``, if given) across the ladder in the Explorer, the rest of
    the view unchanged."""
    extra = {} if pruned is None else {"pruned": pruned}
    st.switch_page(_explorer_page(), query_params=state.link_params(block=block, ch=ch, panel="ladder", **extra))


def open_image(img: int) -> None:
    """Show test image ``img`` in the Explorer (block, channel and rung unchanged)."""
    st.switch_page(_explorer_page(), query_params=state.link_params(img=img, source="test"))
