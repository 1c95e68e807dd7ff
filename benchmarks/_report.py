"""Write a benchmark's markdown section into benchmarks/README.md between its markers."""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

README = Path(__file__).resolve().parent / "README.md"


def interleaved(*fns, repeats: int) -> tuple[float, ...]:
    """Median seconds of each function, run in turn after one warm-up of each, so that load from other processes
    falls on all of them alike. The order rotates from one repetition to the next (a b c, b c a, c a b, ...): what
    runs right after another function pays for the state it leaves (measured: a scan run right after bare inference
    read about 5% slower than the same scan run second; benchmarks/README.md, scan), so no function always follows
    the same one."""
    for f in fns:
        f()
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        for k in range(len(fns)):
            i = (r + k) % len(fns)
            t0 = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - t0)
    return tuple(statistics.median(ts) for ts in times)


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")


def write_section(name: str, body: str) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)


def arguments(doc: str, counts: dict[str, int], *flags: str, **texts: str) -> argparse.Namespace:
    """A benchmark's command line: ``--NAME N`` for each of ``counts`` (with its default), on/off ``--FLAG``s,
    and ``--NAME TEXT`` options (with their defaults)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in counts.items():
        ap.add_argument(f"--{name}", type=int, default=default)
    for flag in flags:
        ap.add_argument(f"--{flag}", action="store_true")
    for name, default in texts.items():
        ap.add_argument(f"--{name}", default=default)
    return ap.parse_args()
