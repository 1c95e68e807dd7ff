"""Capture overhead against a bare forward, and scan throughput against bare inference.

    python -m benchmarks.bench_engine [--repeats 15] [--scan-images 2000]

Timings are interleaved (bare, hooked, bare, hooked, ...) so that load from other processes on
this shared 2-core machine hits both sides alike; medians and their ratio are reported and
written to benchmarks/README.md.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks._report import interleaved, machine, write_section
from vggexplorer import capture_activations, load_bundled_test, load_model, preprocess
from vggexplorer.data.cifar10 import stratified_indices
from vggexplorer.model.ladder import LADDER
from vggexplorer.stats.scan import scan_models

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--scan-images", type=int, default=2000)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    split = load_bundled_test()
    models = {r.role: load_model(r.path) for r in (LADDER[0], LADDER[1])}
    rows = []
    for role, m in models.items():
        for bs in (1, 256):
            x = preprocess(split.images[:bs], m)
            reps = args.repeats if bs == 1 else max(5, args.repeats // 3)

            def bare():
                with torch.no_grad():
                    m(x)

            bare_s, cap_s = interleaved(bare, lambda: capture_activations(m, x), repeats=reps)
            rows.append((role, bs, bare_s, cap_s))
            print(f"{role} batch {bs}: bare {bare_s * 1e3:.1f} ms, capture {cap_s * 1e3:.1f} ms, "
                  f"ratio {cap_s / bare_s:.3f}", flush=True)

    idx = stratified_indices(split.labels, args.scan_images)  # the scan's subsets are stratified, never the first N
    sub = split.subset(idx)
    ladder = {r.role: load_model(r.path) for r in LADDER if r.path.exists()}

    def bare_inference():
        with torch.no_grad():
            for m in ladder.values():
                for s in range(0, len(sub), 250):
                    m(preprocess(sub.images[s:s + 250], m))

    def stats_only():  # per-channel statistics and predictions, no pairs
        scan_models(ladder, split, batch_size=250, progress=False, pairs=[], indices=idx)

    def full_scan():  # what `python -m vggexplorer scan` runs: plus correlations and every pair's CKA
        scan_models(ladder, split, batch_size=250, progress=False, indices=idx)

    t_bare, t_stats, t_full = interleaved(bare_inference, stats_only, full_scan, repeats=3)
    n = len(sub) * len(ladder)
    print(f"scan of {len(ladder)} models: bare {n / t_bare:.0f} img/s, stats {n / t_stats:.0f} img/s "
          f"({t_bare / t_stats:.3f}x), full {n / t_full:.0f} img/s ({t_bare / t_full:.3f}x)")
    body = [
        "## Activation engine (`python -m benchmarks.bench_engine`)",
        "",
        f"Machine: {machine()}. fp32, medians of interleaved runs.",
        "",
        "| model | batch | bare forward | `capture_activations` | capture / bare | target |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for role, bs, b, c in rows:
        body.append(f"| {role} | {bs} | {b * 1e3:.1f} ms | {c * 1e3:.1f} ms | {c / b:.3f}x | <= {1.25 if bs == 1 else 1.10}x |")
    body += [
        "",
        f"Scan of {len(sub)} test images with all {len(ladder)} models ({', '.join(ladder)}), batch 250, "
        "throughput in model-images per second (medians of 3 interleaved runs):",
        "",
        "| | img/s | / bare inference | target |",
        "|---|---:|---:|---:|",
        f"| bare inference (no hooks) | {n / t_bare:.0f} | 1.000x | |",
        f"| scan: per-channel stats (mean, fires, density, max, top-9), predictions | {n / t_stats:.0f} | "
        f"{t_bare / t_stats:.3f}x | >= 0.85x |",
        f"| full scan: + per-channel correlation with dense + minibatch CKA of every pair and block | "
        f"{n / t_full:.0f} | {t_bare / t_full:.3f}x | >= 0.80x |",
    ]
    if not args.no_write:
        write_section("engine", "\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()
