"""Other sessions while the app scans your models: does the app stay usable?

    python -m benchmarks.bench_busy [--changes 15]

In one process, as on a server: a session on the shipped ladder changes the test image (the Explorer's full
rerun, both models, every figure: AppTest, server side, as ``bench_app`` times it) ``--changes`` times with the
machine idle, then as many times while the scan queue (``ui.scan_queue``, the thread the app starts for your
models; nice 19, torch's default threads) scans a ladder of three models (``scripts/make_student_ladder.py``) on a
fresh scan cache. Images differ between all runs, so none is served from a cache. Reports medians and the ratio;
target: reruns while a scan runs <= 2x their idle latency. Writes its section of benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from benchmarks._report import machine, write_section

REPO = Path(__file__).resolve().parent.parent
LADDER = REPO / "runs" / "student-ladder"
TARGET = 2.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--changes", type=int, default=15)
    args = ap.parse_args()
    if not LADDER.exists():
        subprocess.run([sys.executable, str(REPO / "scripts" / "make_student_ladder.py"), str(LADDER)], check=True)
    os.environ["VGGEXPLORER_CACHE"] = tempfile.mkdtemp(prefix="bench-busy-")  # a fresh cache: the scan must run

    from streamlit.testing.v1 import AppTest

    from vggexplorer.data.cifar10 import load_bundled_test
    from vggexplorer.model.folder_ladder import open_folder
    from vggexplorer.stats.scan_store import ladder_key
    from ui.resources import scan_model
    from ui.scan_queue import QUEUE

    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=300)
    at.run()
    assert not at.exception, at.exception

    def change(i: int) -> float:
        t0 = time.perf_counter()
        at.number_input(key="pick_within").set_value(10 + 37 * i).run()
        assert not at.exception, at.exception
        return time.perf_counter() - t0

    idle = [change(i) for i in range(args.changes)]
    ladder = open_folder(LADDER)
    checkpoints = {r.role: r.path for r in ladder.rungs}
    key = ladder_key(checkpoints)
    # as the app asks (ui.resources.scan_source): the worker runs twins of the models the pages share
    QUEUE.request(key, checkpoints, load_bundled_test, full=True, load=partial(scan_model, ladder))
    while (s := QUEUE.status(key)) is not None and (s.state == "queued" or not s.total):
        time.sleep(0.2)  # until the scan is past loading its models: its batches are what competes
    busy, states = [], []
    for i in range(args.changes):
        busy.append(change(args.changes + i))
        states.append(QUEUE.status(key).state)
    still = sum(s in ("quick", "full") for s in states)
    ratio = statistics.median(busy) / statistics.median(idle)
    QUEUE.wait_idle(timeout=900)
    lines = ["## Other sessions while a scan runs (`python -m benchmarks.bench_busy`)", "", f"Machine: {machine()}.", "",
             f"A session on the shipped ladder changes the test image (the Explorer's full rerun, server side, AppTest): "
             f"{args.changes} times idle, then {args.changes} times while the app's scan queue scans a ladder of "
             f"three models of your own in the same process ({LADDER.relative_to(REPO)}, fresh cache; the scan was "
             f"running during {still} of the {args.changes} busy reruns).", "",
             "| | median | max | ratio | target | met |", "|---|---:|---:|---:|---:|---|",
             f"| idle | {statistics.median(idle) * 1000:.0f} ms | {max(idle) * 1000:.0f} ms | 1.00x | | |",
             f"| while a scan runs | {statistics.median(busy) * 1000:.0f} ms | {max(busy) * 1000:.0f} ms | "
             f"**{ratio:.2f}x** | <= {TARGET:g}x | {'yes' if ratio <= TARGET else 'NO'} |"]
    print("\n".join(lines))
    write_section("busy", "\n".join(lines))


if __name__ == "__main__":
    main()
