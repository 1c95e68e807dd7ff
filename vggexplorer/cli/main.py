"""Command-line pipeline: ``python -m vggexplorer {train,prune,evaluate,pack-test,...}``."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import fields
from pathlib import Path

from . import commands as cmds
from ..files import DATA_DIR_HINT
from ..stats.measures import CKA_BATCH


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"CIFAR-10 in ImageFolder layout (train/ and test/ class folders), e.g. {DATA_DIR_HINT}")
    p.add_argument("--download-root", type=Path, default=None,
                   help="download CIFAR-10 here with torchvision (needs internet once)")


def build_parser() -> argparse.ArgumentParser:
    from ..training.train import TrainConfig

    parser = argparse.ArgumentParser(prog="python -m vggexplorer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train the dense VGG (resumable, checkpoint every epoch)")
    _add_data_args(p)
    p.add_argument("--run-dir", type=Path, default=Path("runs/dense"), help="state, log and cache (default runs/dense)")
    p.add_argument("--out", type=Path, default=Path("checkpoints/dense.pt"))
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/state.pt")
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        if f.name == "extra":
            continue
        flag = "--" + f.name.replace("_", "-")
        val = getattr(defaults, f.name)
        if isinstance(val, bool):
            p.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=val,
                           help=f"default {val}")
        else:
            typ = int if f.name in ("max_steps_per_epoch", "train_subset") else type(val)
            p.add_argument(flag, type=typ, default=val, help=f"default {val}")

    p = sub.add_parser("prune", help="sensitivity scan, fine-grained magnitude pruning, masked fine-tuning")
    _add_data_args(p)
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/dense.pt"),
                   help="dense, or a pruned rung to prune further with nested masks (default checkpoints/dense.pt)")
    p.add_argument("--target-sparsity", type=float, default=0.55,
                   help="fraction of all conv and linear weights set to zero (default 0.55)")
    p.add_argument("--run-dir", type=Path, default=Path("runs/pruned"))
    p.add_argument("--out", type=Path, default=Path("checkpoints/pruned.pt"))
    p.add_argument("--finetune-epochs", type=int, default=5)
    p.add_argument("--finetune-lr", type=float, default=0.01)
    p.add_argument("--scan-sparsities", type=str, default="0.3,0.4,0.5,0.6,0.7,0.8,0.9")
    p.add_argument("--scan-images", type=int, default=5000, help="hold-out images used by the sensitivity scan")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="auto")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--max-steps-per-epoch", type=int, default=None)
    p.add_argument("--max-layer-sparsity", type=float, default=0.95,
                   help="no layer is pruned beyond this (default 0.95; the 95%% rung needs 0.99)")
    p.add_argument("--distill-from", type=Path, default=None,
                   help="teacher checkpoint for a soft-target loss during fine-tuning (e.g. checkpoints/dense.pt)")
    p.add_argument("--distill-weight", type=float, default=0.0, help="weight of the soft-target loss (default 0: off)")
    p.add_argument("--distill-temperature", type=float, default=4.0)

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
                   help="repeat: dense first, then the pruned models in ladder order (default: the shipped ladder)")
    _add_data_args(p)
    p.add_argument("--out", type=Path, default=None, help="default checkpoints/scan.npz")
    p.add_argument("--k", type=int, default=9, help="top-activating images kept per channel (default 9)")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--cka-batch", type=int, default=CKA_BATCH,
                   help=f"minibatch size of the CKA estimator (default {CKA_BATCH})")
    p.add_argument("--limit", type=int, default=None, help="only the first N test images")

    p = sub.add_parser("compare", help="dense vs every rung: disagreements, per-class cost (McNemar), CKA, dead counts")
    p.add_argument("--scan", type=Path, default=None, help="scan file to read (default checkpoints/scan.npz)")
    p.add_argument("--recompute", action="store_true", help="run the models on the test split instead of reading the scan")
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
    p.add_argument("--scale", choices=["shared", "per-channel"], default="shared")

    p = sub.add_parser("model-card", help="write checkpoints/README.md from the checkpoints' metadata and the scan")
    p.add_argument("--checkpoint", type=Path, action="append", default=None,
                   help="repeat: dense first, then the rungs (default: the shipped ladder)")
    p.add_argument("--scan", type=Path, default=None, help="default checkpoints/scan.npz")
    p.add_argument("--out", type=Path, default=None, help="default checkpoints/README.md")

    p = sub.add_parser("info", help="print a checkpoint's metadata")
    p.add_argument("--checkpoint", type=Path, required=True)
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
