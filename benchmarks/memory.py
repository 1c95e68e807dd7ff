"""Server memory of the app, per torch build: what a hosted demo needs.

    python -m benchmarks.memory [--python PATH ...] [--images 20]

For each interpreter (default: this one, plus ``runs/cpu-venv/bin/python`` if it exists; make it
with ``python -m venv runs/cpu-venv && runs/cpu-venv/bin/pip install torch==2.13.0 streamlit plotly
numpy pandas pillow tqdm``: a CPU-only torch, as a host should use) it starts ``streamlit run`` on
loopback and records the server's resident memory (VmRSS, and the peak VmHWM, from /proc):

1. idle, right after start-up (no session yet);
2. after one browser session drew the Explorer (both models loaded, the bundled test split read);
3. after that session stepped through ``--images`` more test images and opened the Dead filters
   and Models pages (the peak over the whole run is reported too).

Results go to benchmarks/README.md. Loopback only; bounded: one session, ``--images`` reruns.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from benchmarks._report import machine, write_section
from tests.browser import EXPLORER_CHARTS, REPO, browser_page, rss_mb, streamlit_server, wait_for_app

def torch_version(python: str) -> str:
    return subprocess.run([python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True,
                          check=True).stdout.strip()


def measure(python: str, images: int) -> dict:
    version = torch_version(python)
    with streamlit_server(python=python) as (url, proc):
        idle, _ = rss_mb(proc.pid)
        with browser_page() as page:
            page.goto(url + "/")
            wait_for_app(page, min_charts=EXPLORER_CHARTS)
            first, _ = rss_mb(proc.pid)
            step = page.locator('[data-testid="stNumberInputStepUp"]').first
            for _ in range(images):
                before = page.evaluate("() => location.search")  # the view lives in the URL: ?img=...
                step.click()
                page.wait_for_function("(b) => location.search !== b", arg=before, timeout=120_000)
                wait_for_app(page, min_charts=EXPLORER_CHARTS)
            for name in ("Dead filters", "Models"):
                page.get_by_test_id("stSidebarNav").get_by_text(name).click()
                wait_for_app(page, min_charts=1)
            assert page.locator('[data-testid="stException"]').count() == 0
            after, peak = rss_mb(proc.pid)
    return {"python": python, "torch": version, "idle": idle, "first": first,
            "after": after, "peak": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", action="append", help="server interpreter (repeatable)")
    ap.add_argument("--images", type=int, default=20)
    args = ap.parse_args()
    pythons = args.python or [sys.executable] + [str(p) for p in [REPO / "runs" / "cpu-venv" / "bin" / "python"]
                                                 if p.exists()]
    rows = []
    for py in pythons:
        r = measure(py, args.images)
        rows.append(r)
        print(r, flush=True)
    lines = ["## Server memory per torch build (`python -m benchmarks.memory`)", "",
             f"Machine: {machine()}. One browser session: the Explorer, {args.images} more test images, "
             "then the Dead filters and Models pages. Resident memory of the `streamlit run` process, from /proc.", "",
             "| torch build | server idle | after the first page | after the session | peak |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['torch']} | {r['idle']:.0f} MB | {r['first']:.0f} MB | "
                     f"{r['after']:.0f} MB | {r['peak']:.0f} MB |")
    cpu = [r for r in rows if "+cpu" in r["torch"]]
    gpu = [r for r in rows if "+cu" in r["torch"]]
    if cpu and gpu:
        lines += ["", f"A hosted demo should install a CPU-only torch: on a machine without a GPU the CUDA build "
                      f"costs {gpu[0]['after'] - cpu[0]['after']:.0f} MB more after the session "
                      f"({gpu[0]['peak'] - cpu[0]['peak']:.0f} MB more at the peak), for nothing."]
    write_section("memory", "\n".join(lines))


if __name__ == "__main__":
    main()
