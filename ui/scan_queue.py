"""The process's scan queue: one scan at a time, first come first served, joined by whoever asks for the same files.

A session asks for a ladder's scan by its key (:func:`vggexplorer.stats.scan_store.ladder_key`) and polls
:meth:`ScanQueue.status` on its reruns: its place in the queue, then the quick pass (the stratified 1,000 images,
so every page can fill) and the full pass (every image, which replaces it), each with its progress and the time
left at its measured rate. A session asking for a key that is queued or running joins that job; a key whose full
pass is stored is done at once. :meth:`ScanQueue.request` only takes a lock and looks at the store, so it never
blocks a Streamlit script; the work runs in one daemon worker thread and never touches Streamlit.

Yielding the CPU: the worker thread lowers its own priority to nice 19 (Linux ``setpriority`` on its thread id);
threads it creates inherit that, including the OpenMP team torch starts for it (measured on this build: the
worker and its OpenMP thread at nice 19, the main thread and its team still at 0). It does not change torch's
thread count: ``torch.set_num_threads`` is process-wide here (torch 2.14, OpenMP backend, measured: called with 1
in a worker thread, the main thread, when it had not used torch yet, and every thread started later, Streamlit's
script threads among them, read ``torch.get_num_threads() == 1``), so the worker uses the same pool size as every
one else and yields by priority alone.

A failed scan keeps its error until the next request for its key, which starts it again; the worker survives
anything the scan raises. ``request(..., full=False)`` runs only the quick pass (the hosted caps).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from vggexplorer.errors import VGGExplorerError
from vggexplorer.stats import scan_store

from .heap import release_memory

STATES = ("queued", "quick", "full", "done", "failed")
WORKER_NICE = 19  # the worker thread's priority: the lowest, so every session's rerun goes first
ScanFn = Callable[..., Path]
# scan_fn(key, checkpoints, split, phase, on_batch, load) -> the stored file of that pass; ``load``: path -> model,
# or None (the scan reads the files itself)


def _scan_into_store(key: str, checkpoints: Mapping[str, Path], split: Any, phase: str,
                     on_batch: Callable[[int, int], None], load: Callable[[Path], Any] | None = None) -> Path:
    return scan_store.scan_ladder(checkpoints, split, phase, on_batch=on_batch, load=load)


@dataclass(frozen=True)
class ScanStatus:
    """Where a ladder's scan stands, for a page to draw.

    ``state``: one of :data:`STATES`. ``position``: place in the queue (1 = next), 0 once running or done.
    ``done`` / ``total``: images of the current pass. ``eta_s``: seconds left in the current pass at its measured
    rate (None before a rate is known). ``quick_ready``: the quick pass is stored. ``path``: the best stored file
    (full over quick; None if neither); ``showing``: which pass it holds. ``error``: why the scan failed.
    """

    key: str
    state: str
    position: int = 0
    done: int = 0
    total: int = 0
    eta_s: float | None = None
    quick_ready: bool = False
    path: Path | None = None
    error: str | None = None

    @property
    def fraction(self) -> float:
        """Share of the current pass done, in [0, 1]; 1 once done."""
        if self.state == "done":
            return 1.0
        return min(max(self.done / self.total, 0.0), 1.0) if self.total > 0 else 0.0

    @property
    def showing(self) -> str | None:
        """``"quick"`` or ``"full"``: the pass in :attr:`path`."""
        return scan_store.phase_of(self.path) if self.path is not None else None

    @property
    def active(self) -> bool:
        """Queued or running: a page should poll again."""
        return self.state in ("queued", "quick", "full")


@dataclass
class _Job:
    key: str
    checkpoints: dict[str, Path]
    split_loader: Callable[[], Any]
    full: bool
    load: Callable[[Path], Any] | None = None  # path -> model for the scan; None: the scan reads the files itself
    state: str = "queued"
    done: int = 0
    total: int = 0
    started: float = 0.0  # when the current pass started (the queue's clock)
    first: tuple[float, int] | None = None  # (time, images) at the pass's first batch: the rate is measured after it
    rate: float | None = None  # images per second in the current pass
    error: str | None = None
    paths: dict[str, Path] = field(default_factory=dict)


def _stored(key: str) -> tuple[Path | None, bool]:
    """(best stored file, quick pass stored)."""
    full, quick = scan_store.cached(key, "full"), scan_store.cached(key, "quick")
    return full or quick, quick is not None


def _message(phase: str, e: BaseException) -> str:
    why = str(e) if isinstance(e, VGGExplorerError) else f"{type(e).__name__}: {e}"
    return f"The {phase} scan failed: {why}"


def lower_priority() -> bool:
    """Give the calling thread the lowest CPU priority (Linux: per thread); threads it starts inherit it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        return True
    except (AttributeError, OSError):  # no setpriority (Windows), or not allowed: run at the normal priority
        return False


class ScanQueue:
    """One worker thread running one scan at a time, FIFO. ``scan_fn`` and ``clock`` (seconds, for the rate) are
    injected in tests."""

    def __init__(self, scan_fn: ScanFn = _scan_into_store, keep_failed: int = 64,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._scan_fn = scan_fn
        self._clock = clock
        self._jobs: dict[str, _Job] = {}  # queued, running, and failed (until retried) jobs by key
        self._pending: deque[_Job] = deque()
        self._running: _Job | None = None
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._keep_failed = keep_failed

    # ---- what sessions call -------------------------------------------------------------------------------
    def request(self, key: str, checkpoints: Mapping[str, str | Path], split_loader: Callable[[], Any],
                full: bool = True, load: Callable[[Path], Any] | None = None) -> ScanStatus:
        """Ask for the scan of ladder ``key`` (``checkpoints`` dense first; ``split_loader()`` returns the split and
        ``load(path)`` each model, both called in the worker: the app passes the models its pages share). Returns at
        once: done if stored (the full pass, or the quick one when ``full=False``), the same job if queued or
        running (``full=True`` extends a quick-only job), else a new job at the end of the queue (also after a
        failure)."""
        with self._cond:
            job = self._jobs.get(key)
            if job is not None and job.state != "failed":
                job.full = job.full or full
                return self._status(job)
            best, quick_ready = _stored(key)
            if best is not None and (scan_store.phase_of(best) == "full" or not full):
                self._jobs.pop(key, None)
                return ScanStatus(key, "done", path=best, quick_ready=quick_ready)
            job = self._jobs[key] = _Job(key, {r: Path(p) for r, p in checkpoints.items()}, split_loader, full, load)
            self._pending.append(job)
            self._ensure_worker()
            self._cond.notify()
            return self._status(job)

    def status(self, key: str) -> ScanStatus | None:
        """Where ``key``'s scan stands: its job if queued, running or failed, else done if a pass is stored, else
        None (never asked for, or evicted since)."""
        with self._cond:
            job = self._jobs.get(key)
            if job is not None:
                return self._status(job)
        best, quick_ready = _stored(key)
        return ScanStatus(key, "done", path=best, quick_ready=quick_ready) if best is not None else None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or running (for tests and the benchmarks); False on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._running is not None:
                left = end - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    return not (self._pending or self._running is not None)
        return True

    # ---- inside -------------------------------------------------------------------------------------------
    def _status(self, job: _Job) -> ScanStatus:  # under the lock
        position = 0
        if job.state == "queued":
            # 1 also between the worker taking it off the queue and starting its first pass
            position = next((i for i, j in enumerate(self._pending, 1) if j is job), 1)
        quick = job.paths.get("quick") or scan_store.cached(job.key, "quick")
        eta = None
        if job.state in ("quick", "full") and job.rate and job.total:
            eta = max(job.total - job.done, 0) / job.rate
        return ScanStatus(job.key, job.state, position, job.done, job.total, eta, quick is not None,
                          job.paths.get("full") or quick, job.error)

    def _ensure_worker(self) -> None:  # under the lock
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="scan-queue", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        lower_priority()
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                job = self._running = self._pending.popleft()
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running = None
                    if job.state == "done":
                        self._jobs.pop(job.key, None)  # from now on the store answers for it
                    self._trim_failed()
                    self._cond.notify_all()

    def _run(self, job: _Job) -> None:
        phase = "quick"
        try:
            split = None
            for phase in scan_store.PHASES:
                with self._cond:
                    if phase == "full" and not job.full:
                        break
                    stored = scan_store.cached(job.key, phase)
                    if stored is not None:  # another process, or an earlier job, stored it
                        job.paths[phase] = stored
                        continue
                    job.state, job.done, job.total = phase, 0, 0
                    job.started, job.first, job.rate = self._clock(), None, None
                if split is None:
                    split = job.split_loader()
                path = self._scan_fn(job.key, job.checkpoints, split, phase, lambda d, t: self._progress(job, d, t),
                                     job.load)
                release_memory()  # the pass's models and activations, freed, back to the system
                with self._cond:
                    job.paths[phase] = Path(path)
            with self._cond:
                job.state = "done"
        except BaseException as e:  # the worker must outlive any scan; the session shows the message
            with self._cond:
                job.state, job.error = "failed", _message(phase, e)

    def _progress(self, job: _Job, done: int, total: int) -> None:
        now = self._clock()
        with self._cond:
            job.done, job.total = int(done), int(total)
            if job.first is None:  # the first batch also paid for loading the models: no rate from it
                job.first = (now, job.done)
                job.rate = None
            elif now > job.first[0] and job.done > job.first[1]:
                job.rate = (job.done - job.first[1]) / (now - job.first[0])

    def _trim_failed(self) -> None:  # under the lock
        failed = [k for k, j in self._jobs.items() if j.state == "failed"]
        for k in failed[: max(0, len(failed) - self._keep_failed)]:
            del self._jobs[k]


QUEUE = ScanQueue()
"""The process's scan queue (every session shares it)."""
