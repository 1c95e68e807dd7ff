"""One copy of each checkpoint per process, whoever loads it: the pages' caches and the scan worker.

The pages hold their models in ``st.cache_resource`` (:mod:`ui.resources`); the scan worker (:mod:`ui.scan_queue`)
scans the same files. Loading them twice would hold every model of an uploaded ladder twice while its scan runs
(three models: about 110 MB). So every load goes through :func:`shared`: a model that anyone in the process still
holds is returned, not read again, and two threads asking for the same file at once read it once.

The worker then runs a :func:`twin`: module objects of its own over the very same tensors. Hooks it attaches are
its own, and so is the per-model lock that serialises hooked passes (:func:`vggexplorer.probe.hooks.model_lock`):
a nice-19 worker holding the lock of a model the sessions use would make every session wait on it.
"""

from __future__ import annotations

import copy
import threading
import weakref
from itertools import chain
from typing import Callable, Hashable

from torch import nn

from vggexplorer.probe.hooks import model_lock

_LIVE: "weakref.WeakValueDictionary[Hashable, nn.Module]" = weakref.WeakValueDictionary()  # held by someone
_LOCKS: dict[Hashable, threading.Lock] = {}  # one per key: concurrent loads of one file read it once
_GUARD = threading.Lock()


def shared(key: Hashable, load: Callable[[], nn.Module]) -> nn.Module:
    """The model for ``key`` (e.g. ``("model", file stamp)``) that this process already holds, else ``load()``'s,
    remembered for as long as anyone holds it."""
    with _GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:
        model = _LIVE.get(key)
        if model is None:
            model = load()
            _LIVE[key] = model
        return model


def twin(model: nn.Module) -> nn.Module:
    """A module tree of its own over ``model``'s parameters and buffers, not copies of them: its hooks and its lock
    are its own. Read-only like ``model``: an eval-mode forward writes into neither."""
    tensors = {id(t): t for t in chain(model.parameters(), model.buffers())}  # deepcopy's memo: "already copied"
    with model_lock(model):  # no capture's hooks are attached to ``model`` while its modules are copied
        out = copy.deepcopy(model, memo=tensors)
    for m in out.modules():  # and none are copied, whatever happens in between
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
    # the twin keeps ``model`` alive, so that :func:`shared` still finds it: a page asking for the file while the
    # twin runs gets these tensors rather than a second copy (a plain attribute, not a submodule)
    object.__setattr__(out, "_twin_of", model)
    return out
