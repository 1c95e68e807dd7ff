"""The scan queue: one scan at a time, joined by a second session, queued with a place, quick pass then full pass,
its failures kept and retried, at the lowest priority, and never blocking the session that asks."""

from __future__ import annotations

import collections
import os
import threading
import time
from pathlib import Path

import pytest

from vggexplorer.errors import VGGExplorerError
from vggexplorer.stats import scan_store

from ui.scan_queue import ScanQueue

A, B = "a" * 64, "b" * 64
LADDER = {"dense": "dense.pt", "p50": "p50.pt"}  # the fake scan never opens them


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VGGEXPLORER_CACHE", str(tmp_path))


class FakeScan:
    """Stands in for scan_store.scan_ladder: records each call and the worker's nice value, reports 250 of 1000
    images, waits for its gate (open unless ``hold`` names the (key, phase)), reports 1000, writes the file."""

    def __init__(self, hold=(), fail=None, clock=None):
        self.calls, self.nice = [], []
        self.started = collections.defaultdict(threading.Event)
        self.gates = collections.defaultdict(threading.Event)
        self.fail = dict(fail or {})  # (key, phase) -> exceptions to raise, one per call
        self.clock = clock
        for gate in {(k, p) for k in (A, B) for p in scan_store.PHASES} - set(hold):
            self.gates[gate].set()

    def __call__(self, key, checkpoints, split, phase, on_batch, load=None):
        assert split == "the split" and checkpoints == {r: Path(p) for r, p in LADDER.items()}
        self.calls.append((key, phase))
        self.nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        if self.clock is not None:
            self.clock[0] = 10.0
        on_batch(250, 1000)
        self.started[key, phase].set()
        assert self.gates[key, phase].wait(5), "a gate was never opened"
        if self.fail.get((key, phase)):
            raise self.fail[key, phase].pop(0)
        if self.clock is not None:
            self.clock[0] = 12.0
        on_batch(1000, 1000)
        path = scan_store.scan_file(key, phase)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{phase} scan of {key[:4]}".encode())
        return path

    def release(self, key, phase):
        self.gates[key, phase].set()

    def release_all(self):
        for k in list(self.gates):
            self.gates[k].set()


def _queue(fake, **kw):
    return ScanQueue(scan_fn=fake, **kw)


def _wait(event):
    assert event.wait(5), "the worker never got there"


def _until(condition):
    end = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < end, "the worker never got there"
        time.sleep(0.005)


def test_two_sessions_asking_for_the_same_files_share_one_scan():
    fake = FakeScan(hold={(A, "quick")})
    q = _queue(fake)
    first = q.request(A, LADDER, lambda: "the split")
    _wait(fake.started[A, "quick"])
    second = q.request(A, LADDER, lambda: "the split")  # another session, while it runs: joins it
    assert first.state in ("queued", "quick") and second.state == "quick" and second.position == 0
    fake.release_all()
    assert q.wait_idle(5)
    assert fake.calls == [(A, "quick"), (A, "full")]  # one run: each pass once
    done = q.request(A, LADDER, lambda: "the split")  # stored: done at once, no third call
    assert done.state == "done" and done.path == scan_store.scan_file(A, "full") and done.showing == "full"
    assert done.fraction == 1.0 and done.quick_ready and done.position == 0
    assert fake.calls == [(A, "quick"), (A, "full")]


def test_a_second_ladder_waits_its_turn_with_its_place_then_runs():
    fake = FakeScan(hold={(A, "quick")})
    q = _queue(fake)
    q.request(A, LADDER, lambda: "the split")
    _wait(fake.started[A, "quick"])
    waiting = q.request(B, LADDER, lambda: "the split")
    assert (waiting.state, waiting.position, waiting.done, waiting.path) == ("queued", 1, 0, None)
    assert q.status(A).position == 0 and q.status(A).state == "quick"
    assert fake.calls == [(A, "quick")]  # one scan at a time: B has not started
    fake.release_all()
    assert q.wait_idle(5)
    assert fake.calls == [(A, "quick"), (A, "full"), (B, "quick"), (B, "full")]
    assert q.status(B).state == "done" and q.status(B).path == scan_store.scan_file(B, "full")


def test_the_quick_pass_comes_first_then_the_full_pass_replaces_it():
    clock = [0.0]
    fake = FakeScan(hold={(A, "quick"), (A, "full")}, clock=clock)
    q = _queue(fake, clock=lambda: clock[0])
    assert q.status(A) is None
    q.request(A, LADDER, lambda: "the split")
    _wait(fake.started[A, "quick"])
    s = q.status(A)
    # the pass started at 0, its first batch (250 images) at 10: that time was mostly loading, so no estimate yet
    assert (s.state, s.done, s.total, s.fraction, s.quick_ready, s.path, s.showing) == \
        ("quick", 250, 1000, 0.25, False, None, None)
    assert s.eta_s is None and s.active
    fake.release(A, "quick")
    _wait(fake.started[A, "full"])
    s = q.status(A)
    assert (s.state, s.done, s.quick_ready, s.path, s.showing) == \
        ("full", 250, True, scan_store.scan_file(A, "quick"), "quick")
    fake.release(A, "full")
    assert q.wait_idle(5)
    s = q.status(A)
    assert (s.state, s.path, s.showing, s.fraction, s.active) == \
        ("done", scan_store.scan_file(A, "full"), "full", 1.0, False)


def test_the_rate_is_measured_after_the_first_batch():
    clock = [0.0]  # the pass starts at 0

    def scan(key, checkpoints, split, phase, on_batch, load=None):
        clock[0] = 10.0
        on_batch(100, 1000)  # at 10 s, model loading included: no estimate from it
        seen.append(q.status(A).eta_s)
        clock[0] = 12.0
        on_batch(300, 1000)  # 200 more in 2 s: 100 images/s, 700 left -> 7 s
        seen.append(q.status(A).eta_s)
        raise VGGExplorerError("stop here")

    seen = []
    q = ScanQueue(scan_fn=scan, clock=lambda: clock[0])
    q.request(A, LADDER, lambda: "the split")
    assert q.wait_idle(5)
    assert seen == [None, pytest.approx(7.0)]


def test_a_failed_scan_keeps_its_error_the_queue_survives_and_the_next_request_starts_again():
    fake = FakeScan(fail={(A, "quick"): [VGGExplorerError("the checkpoint is gone")],
                          (B, "full"): [RuntimeError("boom")]})
    q = _queue(fake)
    q.request(A, LADDER, lambda: "the split")
    assert q.wait_idle(5)
    s = q.status(A)
    assert (s.state, s.error, s.path, s.quick_ready) == \
        ("failed", "The quick scan failed: the checkpoint is gone", None, False)
    q.request(B, LADDER, lambda: "the split")  # the worker is still there
    assert q.wait_idle(5)
    s = q.status(B)
    # failed in the full pass: the quick one stays usable
    assert (s.state, s.error, s.quick_ready, s.showing) == ("failed", "The full scan failed: RuntimeError: boom",
                                                            True, "quick")
    assert q.status(A).state == "failed"  # kept until asked again
    q.request(A, LADDER, lambda: "the split")
    q.request(B, LADDER, lambda: "the split")
    assert q.wait_idle(5)
    assert q.status(A).state == q.status(B).state == "done"
    assert fake.calls == [(A, "quick"), (B, "quick"), (B, "full"), (A, "quick"), (A, "full"), (B, "full")]


def test_a_split_that_cannot_be_loaded_fails_the_job_with_its_message():
    def loader():
        raise VGGExplorerError("Bundled test split missing")

    q = _queue(FakeScan())
    q.request(A, LADDER, loader)
    assert q.wait_idle(5)
    assert q.status(A).error == "The quick scan failed: Bundled test split missing"


def test_quick_only_runs_one_pass_and_a_later_full_request_adds_the_full_pass():
    fake = FakeScan()
    q = _queue(fake)
    q.request(A, LADDER, lambda: "the split", full=False)
    assert q.wait_idle(5)
    s = q.status(A)
    assert (s.state, s.showing) == ("done", "quick") and fake.calls == [(A, "quick")]
    assert q.request(A, LADDER, lambda: "the split", full=False).state == "done"  # nothing more to do
    q.request(A, LADDER, lambda: "the split")
    assert q.wait_idle(5)
    assert fake.calls == [(A, "quick"), (A, "full")] and q.status(A).showing == "full"


def test_a_full_request_joining_a_quick_only_job_extends_it():
    fake = FakeScan(hold={(A, "quick")})
    q = _queue(fake)
    q.request(A, LADDER, lambda: "the split", full=False)
    _wait(fake.started[A, "quick"])
    q.request(A, LADDER, lambda: "the split")
    fake.release_all()
    assert q.wait_idle(5)
    assert fake.calls == [(A, "quick"), (A, "full")]


def test_a_ladder_stored_by_an_earlier_process_is_done_without_a_scan():
    path = scan_store.scan_file(A, "full")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"scanned yesterday")
    fake = FakeScan()
    q = _queue(fake)
    assert q.status(A).state == "done"
    s = q.request(A, LADDER, lambda: "the split")
    assert (s.state, s.path, s.quick_ready) == ("done", path, False) and fake.calls == []


def test_the_worker_runs_at_the_lowest_priority_and_the_caller_keeps_its_own():
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    fake = FakeScan()
    q = _queue(fake)
    q.request(A, LADDER, lambda: "the split")
    assert q.wait_idle(5)
    assert len(fake.nice) == 2 and min(fake.nice) >= 10
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own


def test_a_request_returns_at_once_while_a_scan_runs_and_while_a_split_loads():
    fake = FakeScan(hold={(A, "quick")})
    loading = threading.Event()
    q = _queue(fake)

    def quick(key, loader=lambda: "the split"):
        t0 = time.perf_counter()
        s = q.request(key, LADDER, loader)
        q.status(key)
        assert time.perf_counter() - t0 < 0.05
        return s

    quick(A)
    _wait(fake.started[A, "quick"])
    assert quick(A).state == "quick"  # joins the running scan
    assert quick(B, lambda: loading.wait(5) and "the split").position == 1
    fake.release_all()
    _until(lambda: q.status(A).state == "done" and q.status(B).state == "quick")  # the worker is in B's loader
    assert quick(B).state == "quick" and quick(A).state == "done"
    loading.set()
    assert q.wait_idle(5)
    assert fake.calls == [(A, "quick"), (A, "full"), (B, "quick"), (B, "full")]
