"""The scan of your own ladder: its throughput against bare inference, and the quick pass against the full one.

    python -m benchmarks.bench_scan [--images 2000] [--repeats 6] [--batch 250] [--quick-runs 3] [--full-runs 1]
                                    [--no-write]

1. **Throughput.** A pair (``checkpoints/dense.pt`` and ``checkpoints/pruned-90.pt``) on a stratified subset of
   ``--images`` test images: :func:`~vggexplorer.stats.scan.scan_models` (per-channel statistics, predictions, the
   pair's correlations and CKA, as the app's scan computes them) against bare inference (the same two models, the
   same images in the same order, the same batch and input conversion, a plain forward without hooks). ``--batch``:
   default ``run_scan``'s, the one the app's scan uses.
   Also, without a target, :func:`~vggexplorer.stats.scan.run_scan` as the app's scan queue runs it (loading both
   checkpoints, the scan, the comparison, the compressed save). Interleaved, medians of ``--repeats`` after one
   warm-up each, torch's default thread count (the app's scan worker uses the same: it only lowers its priority).
   Target: scan / bare >= 0.85x, in model-images per second.
2. **Quick pass against full pass, end to end.** The Dead filters page (``from ui.pages import dead_filters;
   dead_filters.render()`` under AppTest) with ``VGGEXPLORER_MODELS`` on a temporary folder holding copies of the
   two files, a fresh scan cache (``VGGEXPLORER_CACHE``, a new temporary folder), fresh Streamlit caches and a fresh
   :class:`ui.scan_queue.ScanQueue` each time. The clock starts at the page's first run (which asks the queue
   for the scan: ``QUEUE.request``) and stops when a run of the page has finished showing the rung's totals line
   over the quick pass, or over the full pass. In between the page is rerun as soon as the queue reports a pass
   stored (the browser's page polls every second; that delay is left out of both). The full measurement includes
   the quick pass and the page drawn over it, as a user sees it. ``--quick-runs`` quick and ``--full-runs`` full
   measurements alternate (quick, full, quick, ...) after one quick warm-up; a quick measurement stops the full
   pass it started. Target: quick / full <= 15%. ``--full-runs 0`` measures the quick pass only (a smoke test).

Results are printed and written to the ``scan`` section of benchmarks/README.md.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch

from benchmarks._report import arguments, interleaved, machine, write_section
from vggexplorer import load_bundled_test, load_model
from vggexplorer.data.cifar10 import stratified_indices, to_float
from vggexplorer.data.images import normalization
from vggexplorer.files import REPO_ROOT
from vggexplorer.stats import scan_store
from vggexplorer.stats.scan import QUICK_IMAGES, run_scan, scan_models, scan_order

PAIR = ("dense.pt", "pruned-90.pt")
BATCH = scan_store.APP_BATCH  # what the app's scans (scan_store.scan_ladder) use
THROUGHPUT_TARGET = 0.85
QUICK_TARGET = 0.15
PAGE = "from ui.pages import dead_filters\ndead_filters.render()"
TOTALS = "weight-dead ·"  # in the rung's totals line: "N weight-dead · N activation-dead · N dormant · N weakened"
SHOWS = {"quick": "quick stratified sample", "full": "the full test split"}  # the page's coverage line


# ---- 1. throughput ----------------------------------------------------------------------------------

def throughput(split, n_images: int, repeats: int, batch: int) -> dict:
    ckpt = REPO_ROOT / "checkpoints"
    paths = {"dense": ckpt / PAIR[0], "p90": ckpt / PAIR[1]}
    models = {role: load_model(p) for role, p in paths.items()}
    idx = stratified_indices(split.labels, n_images)
    order = idx[scan_order(len(idx))]  # the scan's visiting order, so that both read the images alike

    def bare() -> None:
        with torch.no_grad():
            for s in range(0, len(order), batch):
                u8 = torch.from_numpy(split.images[order[s:s + batch]])
                for m in models.values():
                    m(to_float(u8, *normalization(m)))

    def scan() -> None:
        scan_models(models, split, batch_size=batch, progress=False, indices=idx)

    with tempfile.TemporaryDirectory() as tmp:
        def app_pass() -> None:  # what the scan queue runs per pass (scan_store.scan_ladder -> run_scan)
            run_scan(paths, split, Path(tmp) / "scan.npz", batch_size=batch, progress=False, indices=idx)

        t_bare, t_scan, t_app = interleaved(bare, scan, app_pass, repeats=repeats)
    n = len(idx) * len(models)
    r = {"images": len(idx), "models": len(models), "bare": n / t_bare, "scan": n / t_scan, "app": n / t_app,
         "ratio": t_bare / t_scan, "app_ratio": t_bare / t_app, "repeats": repeats, "batch": batch}
    print(f"throughput, {len(idx)} images x {len(models)} models: bare {r['bare']:.0f} img/s, scan {r['scan']:.0f} "
          f"img/s ({r['ratio']:.3f}x), the app's pass {r['app']:.0f} img/s ({r['app_ratio']:.3f}x)", flush=True)
    return r


# ---- 2. quick pass against full pass, end to end ---------------------------------------------------------

class _Stopped(Exception):
    """Raised in the scan's ``on_batch`` to stop the pass a quick measurement leaves running."""


def _fresh_queue():
    """A new :class:`ui.scan_queue.ScanQueue` in place of the process's, whose scans stop when the event is set."""
    from ui import scan_queue

    stop = threading.Event()

    def scan_fn(key, checkpoints, split, phase, on_batch, load=None):
        def tick(done: int, total: int) -> None:
            if stop.is_set():
                raise _Stopped()
            on_batch(done, total)
        return scan_store.scan_ladder(checkpoints, split, phase, on_batch=tick, load=load)

    queue = scan_queue.QUEUE = scan_queue.ScanQueue(scan_fn=scan_fn)
    return queue, stop


def _texts(at) -> str:
    return " ".join(e.value for e in [*at.markdown, *at.caption, *at.info])


def _shows(at, phase: str) -> bool:
    if at.exception:
        raise RuntimeError(f"the page raised: {[e.value for e in at.exception]}")
    text = _texts(at)
    return TOTALS in text and SHOWS[phase] in text


def time_to_page(phase: str, key: str, timeout_s: float = 1800) -> dict:
    """Seconds from the page's first run (fresh caches, fresh queue) until a run shows the totals over ``phase``."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    queue, stop = _fresh_queue()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["VGGEXPLORER_CACHE"] = cache
        st.cache_resource.clear()
        st.cache_data.clear()

        def passes():  # (the quick pass stored, the job over); a fresh cache has neither
            s = queue.status(key)
            if s is not None and s.state == "failed":
                raise RuntimeError(s.error)
            return (False, False) if s is None else (s.quick_ready, s.state == "done")

        seen = (False, False)
        t0 = time.perf_counter()
        at = AppTest.from_string(PAGE, default_timeout=timeout_s)
        at.run()
        ends = [time.perf_counter() - t0]  # when each page run ended
        while not _shows(at, phase):
            while passes() == seen:  # rerun once the queue has stored another pass (or during the last run)
                if time.perf_counter() - t0 > timeout_s:
                    raise RuntimeError(f"no {phase} page after {timeout_s:.0f} s: {queue.status(key)}")
                time.sleep(0.05)
            seen = passes()
            at.run()
            ends.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - t0
        stop.set()  # a quick measurement leaves the full pass running: stop it before the next measurement
        queue.wait_idle(timeout=600)
    print(f"{phase} pass: Dead filters page complete after {seconds:.1f} s (page runs ended at "
          f"{', '.join(f'{t:.1f}' for t in ends)} s)", flush=True)
    return {"phase": phase, "seconds": seconds, "ends": ends}


def quick_vs_full(quick_runs: int, full_runs: int) -> dict:
    from vggexplorer.model.folder_ladder import open_folder
    from vggexplorer.stats.scan_store import ladder_key

    ckpt = REPO_ROOT / "checkpoints"
    saved = {k: os.environ.get(k) for k in ("VGGEXPLORER_MODELS", "VGGEXPLORER_CACHE", "VGGEXPLORER_SCAN")}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "my-ladder"
        folder.mkdir()
        for name in PAIR:
            shutil.copy(ckpt / name, folder / name)
        os.environ["VGGEXPLORER_MODELS"] = str(folder)
        os.environ.pop("VGGEXPLORER_SCAN", None)
        key = ladder_key({r.role: r.path for r in open_folder(folder).rungs})  # what the page asks the queue for
        try:
            time_to_page("quick", key)  # warm-up: imports, the first AppTest, the file hashes
            order = ["quick", "full"] * min(quick_runs, full_runs) + ["quick"] * max(quick_runs - full_runs, 0) \
                + ["full"] * max(full_runs - quick_runs, 0)
            times: dict[str, list[float]] = {"quick": [], "full": []}
            for phase in order:
                times[phase].append(time_to_page(phase, key)["seconds"])
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    quick = statistics.median(times["quick"])
    full = statistics.median(times["full"]) if times["full"] else None
    return {"quick": quick, "quick_all": times["quick"], "full": full, "full_all": times["full"],
            "ratio": quick / full if full else None}


# ---- the report ---------------------------------------------------------------------------------------

def _met(ok: bool | None) -> str:
    return "not measured" if ok is None else ("yes" if ok else "**no**")


def _runs(ts: list[float]) -> str:
    if len(ts) == 1:
        return "1 run"
    return f"median of {len(ts)}: " + ", ".join(f"{t:.1f}" for t in sorted(ts)) + " s"


def report(t: dict, e: dict, threads: int) -> str:
    lines = [
        "## Scan of your own ladder (`python -m benchmarks.bench_scan`)", "",
        f"Machine: {machine()}. fp32; the scan at torch's default thread count ({threads}), as the app's scan "
        "worker runs it.", "",
        f"**Throughput.** dense and pruned 90% (`checkpoints/{PAIR[0]}`, `checkpoints/{PAIR[1]}`) on "
        f"{t['images']:,} stratified test images, batch {t['batch']}, in model-images per second; medians of "
        f"{t['repeats']} interleaved runs after one warm-up each, the order rotating (bare, scan, pass; scan, pass, "
        "bare; ...). Bare inference: the same two models, images, "
        "order, batch and input conversion, a plain forward without hooks.", "",
        "| | img/s | / bare inference | target | met |",
        "|---|---:|---:|---:|---|",
        f"| bare inference (no hooks) | {t['bare']:.0f} | 1.000x | | |",
        f"| scan (`scan_models`: per-channel statistics, predictions, the pair's correlations and CKA) | "
        f"{t['scan']:.0f} | **{t['ratio']:.3f}x** | >= {THROUGHPUT_TARGET}x | {_met(t['ratio'] >= THROUGHPUT_TARGET)} |",
        f"| the app's pass (`run_scan`: + loading both checkpoints, the comparison, the compressed save) | "
        f"{t['app']:.0f} | {t['app_ratio']:.3f}x | | |", "",
        f"**Quick pass against full pass, end to end.** The Dead filters page (AppTest) on a folder ladder "
        "(`VGGEXPLORER_MODELS`, copies of the two files), each time with a fresh scan cache, fresh Streamlit caches "
        "and a fresh scan queue: from the page's first run (which asks the queue for the scan) until a run of the "
        f"page has finished showing the rung's totals line over the quick pass ({QUICK_IMAGES:,} stratified images), "
        "or over the full pass (10,000 images; it includes the quick pass and the page drawn over it, as a user "
        "sees it). The page is rerun as soon as the queue has stored a pass (the browser's page polls every "
        "second). Quick and full measurements alternate, after one quick warm-up.", "",
        "| | Dead filters page complete | runs | target | met |",
        "|---|---:|---|---:|---|",
        f"| quick pass | {e['quick']:.1f} s | {_runs(e['quick_all'])} | | |",
    ]
    if e["full"] is None:
        lines.append("| full pass | not measured (`--full-runs 0`) | | | |")
    else:
        lines += [f"| full pass | {e['full']:.1f} s | {_runs(e['full_all'])} | | |",
                  f"| quick / full | **{e['ratio'] * 100:.1f}%** | | <= {QUICK_TARGET * 100:.0f}% | "
                  f"{_met(e['ratio'] <= QUICK_TARGET)} |"]
    return "\n".join(lines)


def main() -> None:
    args = arguments(__doc__, {"images": 2000, "repeats": 6, "quick-runs": 3, "full-runs": 1, "batch": BATCH},
                     "no-write")
    threads = torch.get_num_threads()
    split = load_bundled_test()
    t = throughput(split, args.images, args.repeats, args.batch)
    e = quick_vs_full(args.quick_runs, args.full_runs)
    if e["ratio"] is not None:
        print(f"quick / full: {e['quick']:.1f} s / {e['full']:.1f} s = {e['ratio'] * 100:.1f}%", flush=True)
    body = report(t, e, threads)
    if not args.no_write:
        write_section("scan", body)
    print(body)


if __name__ == "__main__":
    main()
