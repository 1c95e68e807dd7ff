"""The CLI's subcommands as plain functions of parsed arguments."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import fields
from pathlib import Path

from .checkpoint import CheckpointError, load_model, read_checkpoint
from .data import DataError, load_split, save_bundled_test

from .errors import ConfigError, VGGExplorerError

UserError = (VGGExplorerError, FileNotFoundError)


def _file_log(run_dir: Path, name: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    h = logging.FileHandler(run_dir / name)
    h.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logging.getLogger("vggexplorer").addHandler(h)


def cmd_train(args: argparse.Namespace) -> int:
    from .train import TrainConfig, train

    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name != "extra"})
    _file_log(args.run_dir, "train.log")
    cache = args.run_dir / "cache" if args.data_dir else None
    train_split = load_split("train", args.data_dir, args.download_root, cache_dir=cache)
    test_split = load_split("test", args.data_dir, args.download_root, cache_dir=cache)
    meta = train(cfg, train_split, args.run_dir, args.out, resume=args.resume)
    finalize_metrics(args.out, test_split)
    logging.getLogger("vggexplorer").info("wrote %s (val top-1 %.4f)", args.out, meta["metrics"]["val_top1"])
    return 0


def finalize_metrics(path: Path, test_split) -> dict:
    """Evaluate the file as it ships (fp16 weights, packed) on the test split and store the result in it."""
    import torch

    from .evaluate import evaluate

    model = load_model(path)
    rep = evaluate(model, test_split, precision="fp32", progress=True)
    ckpt = read_checkpoint(path)
    ckpt["meta"].setdefault("metrics", {})
    ckpt["meta"]["metrics"].update({"test_top1": rep["top1"], "test_images": rep["n_images"],
                                    "test_per_class": rep["per_class"]})
    tmp = path.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)
    return rep


def cmd_prune(args: argparse.Namespace) -> int:
    from .prune import PruneConfig, prune_pipeline

    cfg = PruneConfig(target_sparsity=args.target_sparsity, finetune_epochs=args.finetune_epochs,
                      finetune_lr=args.finetune_lr,
                      scan_sparsities=[float(s) for s in args.scan_sparsities.split(",")],
                      scan_images=args.scan_images, batch_size=args.batch_size, seed=args.seed,
                      precision=args.precision, max_steps_per_epoch=args.max_steps_per_epoch,
                      max_layer_sparsity=args.max_layer_sparsity,
                      distill_from=str(args.distill_from) if args.distill_from else None,
                      distill_weight=args.distill_weight, distill_temperature=args.distill_temperature)
    _file_log(args.run_dir, "prune.log")
    cache = args.run_dir / "cache" if args.data_dir else None
    train_split = load_split("train", args.data_dir, args.download_root, cache_dir=cache)
    test_split = load_split("test", args.data_dir, args.download_root, cache_dir=cache)
    prune_pipeline(cfg, args.checkpoint, train_split, args.run_dir, args.out, resume=args.resume)
    finalize_metrics(args.out, test_split)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate
    from .model import count_macs, count_nonzero_params, count_params, prunable_parameters

    model = load_model(args.checkpoint)
    split = load_split("test", args.data_dir, args.download_root)
    if args.limit and args.limit < len(split):
        # a stratified, seeded random sample (limit/10 images per class): the split is sorted by class
        from .data import stratified_holdout

        split = split.subset(stratified_holdout(split.labels, args.limit, seed=args.seed)[1])
    rep = evaluate(model, split, batch_size=args.batch_size, precision=args.precision, progress=not args.json)
    weights = prunable_parameters(model)
    total_w = sum(p.numel() for p in weights.values())
    zero_w = sum(int((p == 0).sum()) for p in weights.values())
    rep.update({
        "checkpoint": str(args.checkpoint),
        "role": model.meta.get("role"),
        "data": str(args.data_dir or args.download_root or "bundled test split"),
        "precision": args.precision,
        "params": count_params(model),
        "nonzero_params": count_nonzero_params(model),
        "prunable_weights": total_w,
        "weight_sparsity": zero_w / total_w,
        "macs": count_macs(model),
        "size_on_disk_bytes": Path(args.checkpoint).stat().st_size,
    })
    rep.pop("confusion")
    if args.json:
        print(json.dumps(rep))
    else:
        print(f"{args.checkpoint}: top-1 {rep['top1'] * 100:.2f}% on {rep['n_images']} images "
              f"({rep['data']}), weight sparsity {rep['weight_sparsity'] * 100:.1f}%")
        for c, a in rep["per_class"].items():
            print(f"  {c:>10s} {a * 100:6.2f}%")
    return 0


def cmd_pack_test(args: argparse.Namespace) -> int:
    split = load_split("test", args.data_dir, args.download_root)
    path = save_bundled_test(split)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, {len(split)} images)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    ckpt = read_checkpoint(args.checkpoint)
    json.dump(ckpt["meta"], sys.stdout, indent=1, default=str)
    print()
    return 0


def _roles(paths: list[Path] | None) -> dict[str, Path]:
    from .data import REPO_ROOT

    paths = paths or [REPO_ROOT / "checkpoints" / "dense.pt", REPO_ROOT / "checkpoints" / "pruned.pt"]
    if len(paths) > 2:
        raise ConfigError("give one or two --checkpoint (dense first, then pruned)")
    return dict(zip(["dense", "pruned"] if len(paths) == 2 else ["model"], paths))


def cmd_scan(args: argparse.Namespace) -> int:
    from .scan import run_scan

    split = load_split("test", args.data_dir, args.download_root)
    res = run_scan(_roles(args.checkpoint), split, args.out, k=args.k, batch_size=args.batch_size,
                   stop_after=args.limit)
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out} ({size / 1024:.0f} KiB): {res.meta['n_images']} images, {res.meta['wall_s']} s")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .activations import capture_activations
    from .analysis import describe_top2
    from .render import activation_sheet

    split = load_split("test", args.data_dir, args.download_root)
    if not 0 <= args.image < len(split):
        raise ConfigError(f"--image must be in 0..{len(split) - 1}, got {args.image}")
    caps, parts = {}, []
    for role, path in _roles(args.checkpoint).items():
        model = load_model(path)
        cap = capture_activations(model, split.images[args.image:args.image + 1])
        caps[role] = {b: a[0] for b, a in cap.activations.items()}
        parts.append(f"{role}: {describe_top2(cap.probs[0], model.meta.get('classes') or split.classes)}")
    label = split.classes[int(split.labels[args.image])]
    title = f"test image {args.image} ({split.filenames[args.image]}, label {label}); " + "; ".join(parts)
    sheet = activation_sheet(caps, title, shared=(args.scale == "shared"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")
    return 0


def cmd_model_card(args: argparse.Namespace) -> int:
    from .card import model_card

    args.out.write_text(model_card(args.dense, args.pruned, args.scan))
    print(f"wrote {args.out}")
    return 0
