"""Background jobs shared by every session: one job per key, run once per process, its progress polled.

A session that needs something slow (a channel's renders) submits it under a key and draws the job's progress; a
session that asks for the same key while it runs joins that job instead of starting another. The work runs in a
daemon thread and never touches Streamlit (no session's script waits for it). The thread does not change torch's
process-wide thread count: the jobs are kept short and run on the same intra-op pool as everyone else.

A finished job keeps its result until the registry drops it (the oldest finished ones beyond ``keep``); the result
is also wherever the work wrote it (the renders' disk cache). A failed job keeps its error, and the next submit
under its key starts it again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from vggexplorer.errors import VGGExplorerError

Work = Callable[[Callable[[int], None]], Any]  # work(progress) -> result; progress(done) with 0 <= done <= total


@dataclass
class Job:
    key: Hashable
    total: int
    done: int = 0
    result: Any = None
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return not self.finished.is_set()

    @property
    def fraction(self) -> float:
        """The share of the work done, in [0, 1] (1 once finished)."""
        if self.finished.is_set():
            return 1.0
        return min(max(self.done / self.total, 0.0), 1.0) if self.total > 0 else 0.0

    def progress(self, done: int) -> None:
        self.done = int(done)

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)


class Registry:
    """The process's jobs by key."""

    def __init__(self, keep: int = 64) -> None:
        self._jobs: "OrderedDict[Hashable, Job]" = OrderedDict()
        self._lock = threading.Lock()
        self.keep = keep

    def get(self, key: Hashable) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def submit(self, key: Hashable, total: int, work: Work) -> Job:
        """The job under ``key``: the one running or finished, or a new one started on ``work`` (also when the
        last one failed)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.error is None:
                return job
            job = self._jobs[key] = Job(key, int(total))
            self._jobs.move_to_end(key)
            self._trim()
        threading.Thread(target=self._run, args=(job, work), name=f"job-{hash(key) & 0xffff:04x}", daemon=True).start()
        return job

    def _run(self, job: Job, work: Work) -> None:
        try:
            job.result = work(job.progress)
        except VGGExplorerError as e:
            job.error = str(e)
        except Exception as e:  # the session shows it; the thread must not die silently
            job.error = f"{type(e).__name__}: {e}"
        finally:
            job.finished.set()

    def _trim(self) -> None:
        done = [k for k, j in self._jobs.items() if not j.running]
        for k in done[: max(0, len(done) - self.keep)]:
            del self._jobs[k]


REGISTRY = Registry()
