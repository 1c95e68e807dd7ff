"""Server memory of the app, per torch build: what a hosted demo needs.

    python -m benchmarks.memory [--python PATH ...] [--images 20] [--own-ladder] [--own-images 5]
                                [--scan-timeout 1800] [--quick-only]

For each interpreter (default: this one, plus ``runs/cpu-venv/bin/python`` if it exists; make it
with ``python -m venv runs/cpu-venv && runs/cpu-venv/bin/pip install torch==2.13.0 streamlit plotly
numpy pandas pillow tqdm``: a CPU-only torch, as a host should use) it starts ``streamlit run`` on
loopback and records the server's resident memory (VmRSS, and the peak VmHWM, from /proc):

1. idle, right after start-up (no session yet);
2. after one browser session drew the Explorer (both models loaded, the bundled test split read);
3. after that session stepped through ``--images`` more test images and opened the Dead filters
   and Models pages (the peak over the whole run is reported too).

Then, with ``--own-ladder`` (alone: only this scenario; part of the default run), a process serving the shipped
ladder plus one uploaded ladder of three models, on the CPU-only interpreters among them (budget: peak <= 1.1 GB;
``runs/cpu-venv`` has no vggexplorer installed, so the server runs with ``PYTHONPATH`` on the checkout), with a
fresh ``VGGEXPLORER_CACHE``:

1. session 1 browses the shipped ladder: the Explorer, ``--own-images`` more test images, Dead filters, Models;
2. session 2 (another tab) opens Dead filters, uploads in the sidebar a copy of ``checkpoints/dense.pt`` as dense and
   copies of ``pruned-75.pt`` and ``pruned-90.pt`` as pruned, chooses "As the checkpoint says", presses "Open these
   models", waits for the quick pass and then the full pass of their scan (up to ``--scan-timeout`` seconds), then
   opens Disagreements, Models and the Explorer's ladder panel (``?panel=ladder``) on them;
3. the server's peak resident memory (VmHWM) over the whole run is reported, with the RSS at each step.

``--quick-only`` serves with ``VGGEXPLORER_FULL_SCAN=0`` (the quick pass only): a smoke test, not the budget.

Results go to benchmarks/README.md (the own-ladder rows in their own block of the memory section, so either
scenario can be rerun alone). Loopback only; bounded: ``--images`` and ``--own-images`` reruns, one scan.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._report import README, machine, write_section
from tests.browser import (EXPLORER_CHARTS, REPO, browser_page, no_errors, rss_mb, streamlit_server,
                           wait_for_app)

OWN_BUDGET_MB = 1100  # a process serving the shipped ladder plus one uploaded ladder of three models (CPU-only torch)
OWN_UPLOADS = {"dense": "dense.pt", "pruned": ("pruned-75.pt", "pruned-90.pt")}  # copied from checkpoints/
OWN = "memory-own"  # its block inside the memory section
SHOWS = {"quick": "Statistics over a quick stratified sample", "full": "Statistics over the full test split"}
PAGE_HAS = "(s) => document.querySelector('[data-testid=\"stMain\"]')?.innerText.includes(s)"

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


def _nav(page, name: str, min_charts: int = 1) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(name).click()
    wait_for_app(page, min_charts=min_charts)
    no_errors(page)


def _browse_shipped(page, url: str, images: int) -> None:
    """Session 1: the Explorer, ``images`` more test images, Dead filters, Models (the shipped ladder)."""
    page.goto(url + "/")
    wait_for_app(page, min_charts=EXPLORER_CHARTS)
    step = page.locator('[data-testid="stNumberInputStepUp"]').first
    for _ in range(images):
        before = page.evaluate("() => location.search")
        step.click()
        page.wait_for_function("(b) => location.search !== b", arg=before, timeout=120_000)
        wait_for_app(page, min_charts=EXPLORER_CHARTS)
    for name in ("Dead filters", "Models"):
        _nav(page, name)


def _upload_ladder(page, files: dict) -> None:
    """In the sidebar's "Your own models": the normalization, the dense file, the pruned files, then "Open"."""
    exp = page.get_by_test_id("stSidebar").get_by_test_id("stExpander").filter(has_text="Your own models")
    exp.locator("summary").click()
    exp.get_by_role("radiogroup", name="Input normalization").get_by_text("As the checkpoint says").click()
    wait_for_app(page, min_charts=0)
    for label, paths in (("Dense model", [files["dense"]]), ("Pruned models", files["pruned"])):
        box = exp.get_by_test_id("stFileUploader").filter(has_text=label)
        box.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([str(p) for p in paths])
        for p in paths:  # the file is uploaded and its name listed
            box.get_by_text(p.name).wait_for(timeout=120_000)
        wait_for_app(page, min_charts=0)
    exp.get_by_role("button", name="Open these models").click(timeout=120_000)  # enabled once both are in


def measure_own(python: str, images: int, scan_timeout: float, quick_only: bool) -> dict:
    """A server serving the shipped ladder (session 1) and an uploaded ladder of three models (session 2)."""
    version = torch_version(python)
    with tempfile.TemporaryDirectory() as tmp:
        up = Path(tmp) / "to-upload"
        up.mkdir()
        files = {"dense": up / f"my-{OWN_UPLOADS['dense']}", "pruned": [up / f"my-{n}" for n in OWN_UPLOADS["pruned"]]}
        for src, dst in zip([OWN_UPLOADS["dense"], *OWN_UPLOADS["pruned"]], [files["dense"], *files["pruned"]]):
            shutil.copy(REPO / "checkpoints" / src, dst)
        env = {"VGGEXPLORER_CACHE": str(Path(tmp) / "cache"), "PYTHONPATH": str(REPO),
               "VGGEXPLORER_MODELS": "", "VGGEXPLORER_SCAN": "", "VGGEXPLORER_HOSTED": "",
               "VGGEXPLORER_FULL_SCAN": "0" if quick_only else "1"}
        with streamlit_server(env=env, python=python) as (url, proc):
            r = {"python": python, "torch": version, "quick_only": quick_only, "images": images, "steps": []}

            def mark(step: str) -> float:  # the RSS now; the peak so far goes into r["steps"] too
                rss, hwm = rss_mb(proc.pid)
                r["steps"].append((step, rss, hwm))
                print(f"{step}: server RSS {rss:.0f} MB, peak so far {hwm:.0f} MB", flush=True)
                return rss

            r["idle"] = mark("idle")
            with browser_page() as one:
                _browse_shipped(one, url, images)
                r["shipped"] = mark("session 1 (shipped ladder)")
                two = one.context.browser.new_page(viewport=one.viewport_size)  # another session, same server
                two.goto(url + "/dead-filters")
                wait_for_app(two, min_charts=1)
                _upload_ladder(two, files)
                t0 = time.perf_counter()
                mark("session 2 pressed Open")
                for phase in ("quick",) if quick_only else ("quick", "full"):
                    two.wait_for_function(PAGE_HAS, arg=SHOWS[phase], timeout=scan_timeout * 1000, polling=1000)
                    r[f"{phase}_s"] = time.perf_counter() - t0
                    r[phase] = mark(f"{phase} pass shown after {r[f'{phase}_s']:.0f} s")
                wait_for_app(two, min_charts=1)
                no_errors(two)
                mark("Dead filters drawn")
                said = " ".join(two.get_by_test_id("stSidebar").get_by_test_id("stCaptionContainer").all_inner_texts())
                assert "your ladder" in said and files["dense"].name in said, said[:400]
                for name in ("Disagreements", "Models"):
                    _nav(two, name)
                    mark(name)
                _nav(two, "Explorer", EXPLORER_CHARTS)
                mark("Explorer")
                two.get_by_role("tab", name="Across the sparsity ladder").click()
                two.wait_for_function("() => location.search.includes('panel=ladder')", timeout=60_000)
                wait_for_app(two, min_charts=EXPLORER_CHARTS)
                no_errors(two)
                r["after"] = mark("Explorer's ladder panel")
                r["peak"] = r["steps"][-1][2]
    return r


def _block(text: str, name: str) -> str | None:
    """The marked block ``name`` in ``text``, markers included, or None."""
    m = re.search(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", text, flags=re.S)
    return m.group(0) if m else None


def own_lines(rows: list[dict]) -> list[str]:
    lines = ["### A shipped ladder plus an uploaded ladder of three models (`python -m benchmarks.memory --own-ladder`)",
             "", f"Machine: {machine()}. One server, a fresh scan cache. Session 1 browses the shipped ladder (the "
             f"Explorer, {rows[0]['images']} more test images, Dead filters, Models); session 2, in another tab, "
             "uploads in the sidebar copies of `checkpoints/dense.pt` (dense), `pruned-75.pt` and `pruned-90.pt` "
             "(pruned), \"As the checkpoint says\", \"Open these models\", waits for the scan (the quick pass, then "
             "the full one; time from the click to each shown on Dead filters) and opens Disagreements, Models and the "
             "Explorer's ladder panel (`?panel=ladder`) on it. Resident memory of the `streamlit run` process, from "
             "/proc; peak: VmHWM over the whole run.", "",
             "| torch build | server idle | after session 1 | quick pass shown | full pass shown | after session 2 "
             "| peak | budget | met |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        full = "not run (`--quick-only`)" if r["quick_only"] else f"{r['full']:.0f} MB ({r['full_s']:.0f} s)"
        met = ("not judged (quick pass only)" if r["quick_only"] else "not judged (not the CPU-only build)"
               if "+cpu" not in r["torch"] else "yes" if r["peak"] <= OWN_BUDGET_MB else "**no**")
        lines.append(f"| {r['torch']} | {r['idle']:.0f} MB | {r['shipped']:.0f} MB | {r['quick']:.0f} MB "
                     f"({r['quick_s']:.0f} s) | {full} | {r['after']:.0f} MB | **{r['peak']:.0f} MB** | "
                     f"<= {OWN_BUDGET_MB} MB | {met} |")
    for r in rows:
        lines += ["", f"{r['torch']}, the peak so far after each step: "
                  + " · ".join(f"{step} {hwm:.0f} MB" for step, _, hwm in r["steps"]) + "."]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", action="append", help="server interpreter (repeatable)")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--own-ladder", action="store_true", help="only the scenario with an uploaded ladder")
    ap.add_argument("--own-images", type=int, default=5, help="own ladder: test images session 1 steps through")
    ap.add_argument("--scan-timeout", type=float, default=1800, help="seconds to wait for each pass of its scan")
    ap.add_argument("--quick-only", action="store_true", help="own ladder: the quick pass only (a smoke test)")
    args = ap.parse_args()
    pythons = args.python or [sys.executable] + [str(p) for p in [REPO / "runs" / "cpu-venv" / "bin" / "python"]
                                                 if p.exists()]
    cpu_pythons = [py for py in pythons if "+cpu" in torch_version(py)]
    if not cpu_pythons:
        print("no CPU-only torch among the interpreters: the own-ladder scenario runs on the first one, and its "
              "budget (for the CPU-only build) is not judged", flush=True)
    own = []
    for py in cpu_pythons or pythons[:1]:
        r = measure_own(py, args.own_images, args.scan_timeout, args.quick_only)
        own.append(r)
        print(r, flush=True)
    own_block = f"<!-- {OWN}:start -->\n" + "\n".join(own_lines(own)) + f"\n<!-- {OWN}:end -->"
    if args.own_ladder:
        text = README.read_text() if README.exists() else ""
        if _block(text, OWN) is not None:
            write_section(OWN, own_block.split("\n", 1)[1].rsplit("\n", 1)[0])
        else:  # the first time: append the block to the memory section as it stands
            current = _block(text, "memory")
            body = current.split("\n", 1)[1].rsplit("\n", 1)[0] if current else \
                "## Server memory per torch build (`python -m benchmarks.memory`)"
            write_section("memory", body.rstrip() + "\n\n" + own_block)
        return
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
    lines += ["", own_block]
    write_section("memory", "\n".join(lines))


if __name__ == "__main__":
    main()
