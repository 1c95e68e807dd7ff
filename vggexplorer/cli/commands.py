"""The CLI's subcommands as plain functions of parsed arguments."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ..model.checkpoint import load_model, read_checkpoint
from ..data.cifar10 import load_split, save_bundled_test

from ..errors import ConfigError, VGGExplorerError
from ..files import atomic_write
from ..views.mosaic import SHARED
from .flags import config_from_args

UserError = (VGGExplorerError, FileNotFoundError)


def _file_log(run_dir: Path, name: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    h = logging.FileHandler(run_dir / name)
    h.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logging.getLogger("vggexplorer").addHandler(h)


def _run_splits(args: argparse.Namespace, log_name: str):
    """What a training run starts with: its log file in the run dir, and the train and test splits (cached there)."""
    _file_log(args.run_dir, log_name)
    cache = args.run_dir / "cache" if args.data_dir else None
    return (load_split("train", args.data_dir, args.download_root, cache_dir=cache),
            load_split("test", args.data_dir, args.download_root, cache_dir=cache))


def cmd_train(args: argparse.Namespace) -> int:
    from ..training.train import TrainConfig, train

    cfg = config_from_args(TrainConfig, args)
    train_split, test_split = _run_splits(args, "train.log")
    meta = train(cfg, train_split, args.run_dir, args.out, resume=args.resume)
    finalize_metrics(args.out, test_split)
    logging.getLogger("vggexplorer").info("wrote %s (val top-1 %.4f)", args.out, meta["metrics"]["val_top1"])
    return 0


def finalize_metrics(path: Path, test_split) -> dict:
    """Evaluate the file as it ships (fp16 weights, packed) on the test split and store the result in it."""
    import torch

    from ..training.evaluate import evaluate

    model = load_model(path)
    rep = evaluate(model, test_split, precision="fp32", progress=True)
    ckpt = read_checkpoint(path)
    ckpt["meta"].setdefault("metrics", {})
    ckpt["meta"]["metrics"].update({"test_top1": rep["top1"], "test_images": rep["n_images"],
                                    "test_per_class": rep["per_class"]})
    with atomic_write(path) as tmp:
        torch.save(ckpt, tmp)
    return rep


def cmd_prune(args: argparse.Namespace) -> int:
    from ..training.prune import PruneConfig, prune_pipeline

    cfg = config_from_args(PruneConfig, args)
    train_split, test_split = _run_splits(args, "prune.log")
    prune_pipeline(cfg, args.checkpoint, train_split, args.run_dir, args.out, resume=args.resume)
    finalize_metrics(args.out, test_split)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..training.evaluate import evaluate
    from ..model.vgg import count_macs, count_nonzero_params, count_params, prunable_parameters, zero_fraction

    model = load_model(args.checkpoint)
    split = load_split("test", args.data_dir, args.download_root)
    if args.limit and args.limit < len(split):
        # a stratified, seeded random sample (limit/10 images per class): the split is sorted by class
        from ..data.cifar10 import stratified_indices

        split = split.subset(stratified_indices(split.labels, args.limit, seed=args.seed))
    rep = evaluate(model, split, batch_size=args.batch_size, precision=args.precision, progress=not args.json)
    weights = prunable_parameters(model)
    total_w = sum(p.numel() for p in weights.values())
    rep.update({
        "checkpoint": str(args.checkpoint),
        "role": model.meta.get("role"),
        "data": str(args.data_dir or args.download_root or "bundled test split"),
        "precision": args.precision,
        "params": count_params(model),
        "nonzero_params": count_nonzero_params(model),
        "prunable_weights": total_w,
        "zero_fraction": zero_fraction(model),  # conv + linear weights exactly zero
        "macs": count_macs(model),
        "size_on_disk_bytes": Path(args.checkpoint).stat().st_size,
    })
    rep.pop("confusion")
    if args.json:
        print(json.dumps(rep))
    else:
        print(f"{args.checkpoint}: top-1 {rep['top1'] * 100:.2f}% on {rep['n_images']} images "
              f"({rep['data']}), {rep['zero_fraction'] * 100:.2f}% of conv+linear weights zero")
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


def _measured_roles(paths: list[Path]) -> dict[str, Path]:
    """Role -> checkpoint for your own models, named as the app names rungs: the first given is ``dense``, each
    other one ``p<percent>`` by its measured percentage of zero conv+linear weights (rounded to a whole percent),
    in ladder order (by that percentage). Two with the same percentage: :class:`ConfigError` naming both files."""
    from ..model.ladder import rung_role
    from ..model.vgg import zero_fraction

    roles: dict[str, Path] = {"dense": Path(paths[0])}
    percent = {"dense": 0}
    for p in paths[1:]:
        pct = round(100 * zero_fraction(load_model(p)))
        role = rung_role(pct)
        if role == "dense":
            raise ConfigError(f"{p} has {pct}% of its conv+linear weights zero (rounded), like a dense model: give "
                              f"the dense model first (now {roles['dense']}), then the pruned ones")
        if role in roles:
            raise ConfigError(f"{roles[role]} and {p} both have {pct}% of their conv+linear weights zero (rounded): "
                              "rungs are named by that percentage, so give only one of them")
        roles[role], percent[role] = Path(p), pct
    return dict(sorted(roles.items(), key=lambda kv: percent[kv[0]]))  # dense (0) first


def _roles(paths: list[Path] | None, max_models: int | None = None) -> dict[str, Path]:
    """Role -> checkpoint: the shipped ladder by default; given paths are dense first, then the pruned ones, named
    by their measured sparsity (:func:`_measured_roles`)."""
    from ..model.ladder import LADDER

    if not paths:
        missing = [r for r in LADDER if not r.path.exists()]
        if missing:
            raise ConfigError("missing checkpoints: " + ", ".join(str(r.path) for r in missing)
                              + ". Make them with scripts/make_ladder.sh (see checkpoints/README.md), "
                                "or pass --checkpoint for each model, dense first.")
        return {r.role: r.path for r in LADDER}
    if max_models and len(paths) > max_models:
        raise ConfigError(f"give at most {max_models} --checkpoint (dense first, then pruned)")
    return _measured_roles(paths)


def cmd_scan(args: argparse.Namespace) -> int:
    from ..data.cifar10 import stratified_indices
    from ..model.ladder import scan_path
    from ..stats.scan import SAMPLE_SEED, coverage, run_scan

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    roles = _roles(args.checkpoint)
    out = args.out or scan_path()
    split = load_split("test", args.data_dir, args.download_root)
    indices = stratified_indices(split.labels, args.limit, SAMPLE_SEED) if args.limit else None
    res = run_scan(roles, split, out, k=args.k, batch_size=args.batch_size, indices=indices,
                   cka_batch=args.cka_batch)
    size = Path(out).stat().st_size
    print(f"wrote {out} ({size / 1024:.0f} KiB): {len(res.roles)} models ({', '.join(res.roles)}), "
          f"{coverage(res)}, {res.meta['wall_s']} s")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ..stats.compare import compare_scan, format_table
    from ..stats.scan import load_scan

    if args.recompute:
        from ..stats.scan import scan_models

        roles = _roles(args.checkpoint)
        models = {r: load_model(p) for r, p in roles.items()}
        scan = scan_models(models, load_split("test", args.data_dir, args.download_root), progress=not args.json)
        scan.meta["checkpoints"] = {r: str(p) for r, p in roles.items()}  # zero fractions: scan_models records them
        report = compare_scan(scan)
    elif args.update_scan:
        from ..stats.scan import refresh_comparison

        report = refresh_comparison(args.scan).meta["compare"]
    else:
        scan = load_scan(args.scan)
        report = scan.meta.get("compare") or compare_scan(scan)
    if args.json:
        print(json.dumps(report))
    else:
        print(format_table(report))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..probe.hooks import capture_activations
    from ..probe.analysis import describe_top2
    from ..views.render import activation_sheet

    split = load_split("test", args.data_dir, args.download_root)
    if not 0 <= args.image < len(split):
        raise ConfigError(f"--image must be in 0..{len(split) - 1}, got {args.image}")
    caps, parts = {}, []
    from ..model.ladder import DEFAULT_RUNG, DENSE

    for role, path in _roles(args.checkpoint or [DENSE.path, DEFAULT_RUNG.path], max_models=2).items():
        model = load_model(path)
        cap = capture_activations(model, split.images[args.image:args.image + 1])
        caps[role] = {b: a[0] for b, a in cap.activations.items()}
        parts.append(f"{role}: {describe_top2(cap.probs[0], model.meta.get('classes') or split.classes)}")
    label = split.classes[int(split.labels[args.image])]
    title = f"test image {args.image} ({split.filenames[args.image]}, label {label}); " + "; ".join(parts)
    sheet = activation_sheet(caps, title, shared=(args.scale == SHARED))
    with atomic_write(args.out) as tmp:
        sheet.save(tmp)  # the format from the suffix, which the temporary name keeps
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")
    return 0


def cmd_model_card(args: argparse.Namespace) -> int:
    from .card import model_card
    from ..model.ladder import ckpt_dir, scan_path

    out = args.out or ckpt_dir() / "README.md"
    text = model_card(_roles(args.checkpoint), args.scan or scan_path())
    with atomic_write(out) as tmp:
        tmp.write_text(text)
    print(f"wrote {out}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from .render import cmd_render as render

    return render(args)
