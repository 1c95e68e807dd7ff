"""Files read ahead on a cold process, in threads, and taken by the cached loaders in ``ui/resources.py``.

A read is keyed ``(kind, file_stamp(path))`` (e.g. ``("model", ...)``), so a file changed since is read again,
not taken. This module imports no torch: the test split's decode starts before torch's import (``ui/warm.py``).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Callable, Mapping

from vggexplorer.data.cifar10 import bundled_test_path, load_bundled_test

from vggexplorer.files import file_stamp

_PENDING: dict[tuple, Future] = {}  # key -> the read in flight or done, until a loader takes it
_STARTED: set[str] = set()  # the names of the batches already started (each once per process)
_LOCK = threading.Lock()


def read_ahead(name: str, jobs: Callable[[], Mapping[tuple, Callable[[], Any]]], workers: int) -> None:
    """Start the batch ``name`` on ``workers`` threads, once per process. ``jobs()`` gives key -> read; it is called
    only when the batch starts, so asking again on every run costs a set lookup, not the files' stamps."""
    with _LOCK:
        if name in _STARTED:
            return
        _STARTED.add(name)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"vggexplorer-{name}")
        for key, read in jobs().items():
            _PENDING[key] = pool.submit(read)
        pool.shutdown(wait=False)


def take(key: tuple, load: Callable[[], Any]) -> Any:
    """The result read ahead for ``key`` (waiting for it if needed; its exception re-raised), or ``load()`` now."""
    with _LOCK:
        fut = _PENDING.pop(key, None)
    return fut.result() if fut is not None else load()


def test_split() -> None:
    """Start decoding the bundled test split (about 0.4 s of PNG decoding), once per process."""
    read_ahead("split", lambda: {("split", file_stamp(bundled_test_path())): load_bundled_test}, workers=1)


def first_page() -> None:
    """Start reading what a first page needs, once per process: the test split first (no torch needed), then the
    scan, dense and the default rung, in parallel threads, once their loaders are imported (torch: about 1.2 s on a
    cold process, in the caller's thread)."""
    test_split()
    import os

    from vggexplorer.model.checkpoint import load_model
    from vggexplorer.model.folder_ladder import MODELS_ENV
    from vggexplorer.model.ladder import SHIPPED, scan_path
    from vggexplorer.stats.scan import load_scan

    from .modelset import model_set

    def jobs() -> dict:
        if os.environ.get(MODELS_ENV):  # the app opens on a folder of your own: ui/ladders.py opens it
            return {}
        first = {("scan", file_stamp(scan_path())): partial(load_scan, str(scan_path()))}
        for ref in model_set(SHIPPED, SHIPPED.default.percent).refs().values():
            first[("model", ref.stamp)] = partial(load_model, ref.rung.path)
        return first

    read_ahead("first-page", jobs, workers=2)
