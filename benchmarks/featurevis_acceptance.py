"""Acceptance of the feature visualisation: does each render excite its channel >= 1.5x more than the best test image?

32 channels per block, drawn with a fixed seed from conv1, conv4 and conv7 among the channels alive in both dense
and the 95% rung (not weight-dead in either, and above 0 on at least one test image in both). Each is rendered
in both models with the default settings (256 steps, seed 0) and compared with the largest spatial-mean
post-ReLU activation any of the test images gives it. Prints a Markdown table and the fraction >= 1.5x.

    nice -n 10 .venv/bin/python -m benchmarks.featurevis_acceptance [--per-block 32] [--test-images 10000]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vggexplorer.cli.render import test_sample
from vggexplorer.data.cifar10 import load_bundled_test
from vggexplorer.model.checkpoint import load_model
from vggexplorer.model.vgg import blocks
from vggexplorer.probe.featurevis import Settings, best_test_activation, render_channels, weight_dead

REPO = Path(__file__).resolve().parent.parent

BLOCKS = ("conv1", "conv4", "conv7")
MODELS = {"dense": REPO / "checkpoints" / "dense.pt", "p95": REPO / "checkpoints" / "pruned-95.pt"}
TARGET = 1.5


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-block", type=int, default=32)
    ap.add_argument("--test-images", type=int, default=10000)
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0, help="seed of the channel draw and of the renders")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a render setting, e.g. --set lr=0.02 (repeatable)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    models = {r: load_model(p) for r, p in MODELS.items()}
    split = load_bundled_test()
    images = split.images[test_sample(split.labels, args.test_images)]  # stratified below 10,000, never the first N
    settings = Settings.for_steps(args.steps)
    for kv in args.set:
        name, value = kv.split("=", 1)
        settings = dataclasses.replace(settings, **{name: type(getattr(settings, name))(value)})
    print(f"{len(images)} test images, seed {args.seed}, {args.threads} thread(s), settings {settings.to_dict()}",
          flush=True)
    print("| block | channel | model | render | best test image | ratio | >= 1.5x |\n|---|---:|---|---:|---:|---:|---|",
          flush=True)
    ratios: dict[str, list[float]] = {r: [] for r in models}
    for block in BLOCKS:
        width = blocks(models["dense"])[block].conv.out_channels
        best = {r: best_test_activation(m, block, range(width), images)[0] for r, m in models.items()}
        alive = np.ones(width, bool)
        for r, m in models.items():
            alive &= ~weight_dead(m, block) & (best[r] > 0)
        rng = np.random.default_rng(args.seed)
        chans = sorted(int(c) for c in rng.choice(np.flatnonzero(alive), min(args.per_block, int(alive.sum())),
                                                  replace=False))
        for r, m in models.items():
            for rend in render_channels(m, block, chans, settings, seed=args.seed, batch=len(chans)):
                b = float(best[r][rend.channel])
                ratio = rend.activation / b
                ratios[r].append(ratio)
                print(f"| {block} | {rend.channel} | {r} | {rend.activation:.3f} | {b:.3f} | {ratio:.2f} | "
                      f"{'yes' if ratio >= TARGET else 'NO'}{' (' + rend.dead + ')' if rend.dead else ''} |", flush=True)
        print(f"<!-- {block} done, {alive.sum()} of {width} alive in both, {time.time() - t0:.0f} s -->", flush=True)
    every = [x for v in ratios.values() for x in v]
    print()
    for r, v in ratios.items():
        v = np.asarray(v)
        print(f"{r}: {np.mean(v >= TARGET) * 100:.1f}% of {len(v)} renders >= {TARGET}x (median ratio "
              f"{np.median(v):.2f}, min {v.min():.2f})")
    print(f"all: {np.mean(np.asarray(every) >= TARGET) * 100:.1f}% of {len(every)} >= {TARGET}x; "
          f"{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
