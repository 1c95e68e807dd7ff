"""The app's fragments, and the once-only ``gc.freeze`` that every run, full or fragment, may do."""

from __future__ import annotations

import functools
import gc
import threading
from typing import Callable

import streamlit as st

FIRST_RUN_DONE = threading.Event()  # set by ui/nav.py after the process's first full run
_FROZEN = threading.Event()
_FREEZE_LOCK = threading.Lock()


def freeze_once() -> None:
    """At the start of the process's second run, full or fragment (see :func:`fragment`): move what is alive
    (torch, plotly, the package, the loaded models) out of the garbage collector's sight, once.

    Streamlit runs a full collection after every script run (``runner.postScriptGC``). With torch and plotly
    imported that is about 240,000 objects and 130-270 ms here, on every click; frozen (``gc.freeze``), only
    what later runs create is traversed. By the second run the first run's garbage has been collected, so none
    of it is frozen. Frozen objects are still freed when their last reference goes; only their reference
    cycles are never collected.
    """
    if _FROZEN.is_set() or not FIRST_RUN_DONE.is_set():
        return
    with _FREEZE_LOCK:
        if not _FROZEN.is_set():
            gc.freeze()
            _FROZEN.set()


def frozen() -> bool:
    return _FROZEN.is_set()


def fragment(fn: Callable) -> Callable:
    """``st.fragment`` for the app's fragments: a fragment's rerun also does the once-only freeze.

    A session that, after its first page, only clicks inside fragments never runs a full page again: without
    this its every click would pay Streamlit's full collection (measured: 165-230 ms per block change).
    """
    @functools.wraps(fn)
    def run_fragment(*args, **kwargs):
        freeze_once()
        return fn(*args, **kwargs)

    return st.fragment(run_fragment)
