"""The job registry: one job per key, joined while it runs, its progress and its error kept."""

from __future__ import annotations

import threading

from vggexplorer.errors import VGGExplorerError

from ui.jobs import Registry


def test_one_job_per_key_and_a_second_request_joins_it():
    reg, release, calls = Registry(), threading.Event(), []

    def work(progress):
        calls.append(1)
        progress(3)
        release.wait(10)
        return "done"

    job = reg.submit("k", 12, work)
    again = reg.submit("k", 12, work)
    assert again is job
    for _ in range(200):
        if job.done == 3:
            break
        threading.Event().wait(0.01)
    assert job.running and job.fraction == 0.25
    release.set()
    assert job.wait(10) and job.result == "done" and job.error is None and job.fraction == 1.0
    assert reg.submit("k", 12, work) is job and calls == [1]  # finished: kept, not run again
    assert reg.get("other") is None


def test_a_failed_job_keeps_its_error_and_runs_again_on_the_next_submit():
    reg, tries = Registry(), []

    def work(progress):
        tries.append(1)
        if len(tries) == 1:
            raise VGGExplorerError("the checkpoint is gone")
        if len(tries) == 2:
            raise RuntimeError("boom")
        return 7

    job = reg.submit("k", 1, work)
    job.wait(10)
    assert job.error == "the checkpoint is gone" and not job.running
    job = reg.submit("k", 1, work)
    job.wait(10)
    assert job.error == "RuntimeError: boom"
    job = reg.submit("k", 1, work)
    job.wait(10)
    assert job.result == 7 and job.error is None


def test_finished_jobs_beyond_keep_are_dropped_oldest_first():
    reg = Registry(keep=2)
    for k in range(4):
        reg.submit(k, 1, lambda progress: None).wait(10)
    reg.submit("last", 1, lambda progress: None).wait(10)
    assert [k for k in range(4) if reg.get(k) is not None] == [2, 3]
