"""Command-line pipeline: ``python -m vggexplorer {train,prune,evaluate,pack-test,...}``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import commands as cmds
from ..views.mosaic import MINMAX, SCALES, SHARED
from .flags import add_config_flags
from ..files import DATA_DIR_HINT
from ..stats.measures import CKA_BATCH


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"CIFAR-10 in ImageFolder layout (train/ and test/ class folders), e.g. {DATA_DIR_HINT}")
    p.add_argument("--download-root", type=Path, default=None,
                   help="download CIFAR-10 here with torchvision (needs internet once)")


def build_parser() -> argparse.ArgumentParser:
    from ..training.prune import PruneConfig
    from ..training.train import TrainConfig

    parser = argparse.ArgumentParser(prog="python -m vggexplorer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train the dense VGG (resumable, checkpoint every epoch)")
    _add_data_args(p)
    p.add_argument("--run-dir", type=Path, default=Path("runs/dense"), help="state, log and cache (default runs/dense)")
    p.add_argument("--out", type=Path, default=Path("checkpoints/dense.pt"))
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/state.pt")
    add_config_flags(p, TrainConfig)

    p = sub.add_parser("prune", help="sensitivity scan, fine-grained magnitude pruning, masked fine-tuning")
    _add_data_args(p)
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/dense.pt"),
                   help="dense, or a pruned rung to prune further with nested masks (default checkpoints/dense.pt)")
    p.add_argument("--run-dir", type=Path, default=Path("runs/pruned"),
                   help="state, scan and log (default runs/pruned)")
    p.add_argument("--out", type=Path, default=Path("checkpoints/pruned.pt"))
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR (scan.json, finetune_state.pt)")
    add_config_flags(p, PruneConfig)

    p = sub.add_parser("evaluate", help="top-1 of a checkpoint on the CIFAR-10 test split")
    p.add_argument("--checkpoint", type=Path, required=True)
    _add_data_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--limit", type=int, default=None,
                   help="only a stratified random sample of N test images (N/10 per class), e.g. 500")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit sample (default 0)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--precision", default="fp32", help="fp32 (default, what the app shows) or bf16")

    p = sub.add_parser("pack-test", help="bundle the test split into vggexplorer/assets/cifar10_test.npz")
    _add_data_args(p)

    p = sub.add_parser("scan", help="per-channel statistics, predictions and CKA of dense and every rung over the "
                                     "test split (writes checkpoints/scan.npz)")
    p.add_argument("--checkpoint", type=Path, action="append", default=None,
                   help="repeat: dense first, then the pruned models (default: the shipped ladder); each pruned one "
                        "is named by its measured percentage of zero weights, as the app names rungs (p80)")
    _add_data_args(p)
    p.add_argument("--out", type=Path, default=None, help="default checkpoints/scan.npz")
    p.add_argument("--k", type=int, default=9, help="top-activating images kept per channel (default 9)")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--cka-batch", type=int, default=CKA_BATCH,
                   help=f"minibatch size of the CKA estimator (default {CKA_BATCH})")
    p.add_argument("--limit", type=int, default=None,
                   help="only a stratified random sample of N test images (N/10 per class, seed 0; the split is "
                        "stored class by class), e.g. 1000 for the app's quick pass")

    p = sub.add_parser("compare", help="dense vs every rung: disagreements, per-class cost (McNemar), CKA, dead counts")
    p.add_argument("--scan", type=Path, default=None, help="scan file to read (default checkpoints/scan.npz)")
    p.add_argument("--recompute", action="store_true", help="run the models on the test split instead of reading the scan")
    p.add_argument("--update-scan", action="store_true",
                   help="recompute the comparison the scan file stores from its own statistics and write it back "
                        "(after a change to what compare reports; no rescan)")
    p.add_argument("--checkpoint", type=Path, action="append", default=None,
                   help="with --recompute: dense first, then the rungs (default: the shipped ladder)")
    _add_data_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("export", help="PNG grid of every activation map of one test image, both models")
    p.add_argument("--image", type=int, required=True, help="index in the test split (0..9999)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--checkpoint", type=Path, action="append", default=None,
                   help="repeat for the pair: dense first, then pruned (default: the shipped two)")
    _add_data_args(p)
    p.add_argument("--scale", choices=[SHARED, MINMAX, "per-channel"], default=SHARED,
                   help=f"{SHARED}: {SCALES[SHARED]} (as the app's default); {MINMAX}: {SCALES[MINMAX]} "
                        "('per-channel' is its older name)")

    p = sub.add_parser("model-card", help="write checkpoints/README.md from the checkpoints' metadata and the scan")
    p.add_argument("--checkpoint", type=Path, action="append", default=None,
                   help="repeat: dense first, then the rungs (default: the shipped ladder)")
    p.add_argument("--scan", type=Path, default=None, help="default checkpoints/scan.npz")
    p.add_argument("--out", type=Path, default=None, help="default checkpoints/README.md")

    p = sub.add_parser("info", help="print a checkpoint's metadata")
    p.add_argument("--checkpoint", type=Path, required=True)

    from .render import add_render_parser

    add_render_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        return getattr(cmds, "cmd_" + args.command.replace("-", "_"))(args)
    except cmds.UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
