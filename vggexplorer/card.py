"""The model card (checkpoints/README.md), written from the checkpoints' own metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .checkpoint import read_checkpoint, unpack_state_dict

TRAIN_CMD = ("python -m vggexplorer train --data-dir ../shared/data/cifar10 --run-dir runs/dense "
             "--out runs/dense/dense.pt && cp runs/dense/dense.pt checkpoints/dense.pt")
PRUNE_CMD = ("python -m vggexplorer prune --data-dir ../shared/data/cifar10 --checkpoint checkpoints/dense.pt "
             "--target-sparsity {target} --finetune-epochs {epochs} --run-dir runs/pruned --out checkpoints/pruned.pt")
SCAN_CMD = ("python -m vggexplorer scan --checkpoint checkpoints/dense.pt --checkpoint checkpoints/pruned.pt "
            "--out checkpoints/scan.npz")


BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _pct(v: Any) -> str:
    return f"{v * 100:.2f}%" if isinstance(v, (int, float)) else "n/a"


def model_card(dense_path: Path, pruned_path: Path, scan_path: Path | None = None) -> str:
    """Markdown describing both shipped checkpoints: commands, accuracy, sparsity, size, recipe."""
    d, p = read_checkpoint(dense_path), read_checkpoint(pruned_path)
    dm, pm = d["meta"], p["meta"]
    dsd = unpack_state_dict(d["state_dict"], d["sparse"])
    psd = unpack_state_dict(p["state_dict"], p["sparse"])
    layers = [k for k, v in dsd.items() if v.dim() > 1]
    total = sum(dsd[k].numel() for k in layers)
    zeros = sum(int((psd[k] == 0).sum()) for k in layers)
    def nonzero_params(sd) -> int:  # parameters only (BatchNorm buffers are not parameters), as shipped
        return sum(int((v != 0).sum()) for k, v in sd.items() if not k.endswith(BN_BUFFERS))

    rec = dm.get("recipe", {})
    prec = pm.get("recipe", {})
    pr = pm.get("pruning", {})
    lines = [
        "# Model card: the shipped checkpoints",
        "",
        "Both files are plain dicts that `torch.load(path, map_location=\"cpu\", weights_only=True)` reads: the "
        "state_dict of the course-lab VGG (keys `backbone.conv0.weight` ... `classifier.bias`) in fp16, plus "
        "metadata (`meta`: normalization, class names, recipe, hardware, wall time, metrics, and for the pruned "
        "model the thresholds, per-layer sparsity and the sensitivity scan). The pruned file stores only the "
        "non-zero weights and a bit mask per layer. `vggexplorer.load_model` restores fp32 weights; every "
        "accuracy below was measured on the files as they ship, fp32 inference, single view, on the full "
        "10,000-image CIFAR-10 test split.",
        "",
        "This file is generated from the checkpoints: `python -m vggexplorer model-card`.",
        "",
        "| | dense.pt | pruned.pt |",
        "|---|---:|---:|",
        f"| test top-1 | {_pct(dm.get('metrics', {}).get('test_top1'))} | {_pct(pm.get('metrics', {}).get('test_top1'))} |",
        f"| hold-out (5,000 train images) top-1 | {_pct(dm.get('metrics', {}).get('val_top1'))} | "
        f"{_pct(pm.get('metrics', {}).get('val_top1'))} |",
        f"| conv + linear weights exactly zero | {_pct(sum(int((dsd[k] == 0).sum()) for k in layers) / total)} | "
        f"{_pct(zeros / total)} |",
        f"| parameters | {dm.get('metrics', {}).get('params', 0):,} | {pm.get('metrics', {}).get('params', 0):,} |",
        f"| non-zero parameters (as shipped) | {nonzero_params(dsd):,} | {nonzero_params(psd):,} |",
        f"| MACs per 32x32 image (dense count) | {dm.get('metrics', {}).get('macs', 0):,} | "
        f"{pm.get('metrics', {}).get('macs', 0):,} |",
        f"| size on disk | {dense_path.stat().st_size / 2**20:.1f} MiB | {pruned_path.stat().st_size / 2**20:.1f} MiB |",
        f"| wall time | {dm.get('wall_time_s', 0) / 60:.0f} min | {pm.get('wall_time_s', 0) / 60:.0f} min |",
        f"| hardware | {dm.get('hardware', {}).get('cpu', '?')} ({dm.get('hardware', {}).get('cpu_count', '?')} cores) | "
        f"{pm.get('hardware', {}).get('cpu', '?')} |",
        "",
        "## How they were made",
        "",
        "```bash",
        TRAIN_CMD,
        PRUNE_CMD.format(target=pr.get("target_sparsity"), epochs=prec.get("finetune_epochs")),
        SCAN_CMD,
        "python -m vggexplorer evaluate --checkpoint checkpoints/dense.pt --data-dir ../shared/data/cifar10 --json",
        "python -m vggexplorer evaluate --checkpoint checkpoints/pruned.pt --data-dir ../shared/data/cifar10 --json",
        "```",
        "",
        f"**Dense recipe**: {rec.get('epochs')} epochs, SGD (momentum {rec.get('momentum')}, Nesterov "
        f"{rec.get('nesterov')}), weight decay {rec.get('weight_decay')}, batch {rec.get('batch_size')}, triangular "
        f"lr peaking at {rec.get('lr')} at {rec.get('peak_frac', 0) * 100:.0f}% of training, label smoothing "
        f"{rec.get('label_smoothing')}, random crop (pad 4) + flip, resolution schedule "
        f"`{rec.get('resolution_schedule')}` (px:epochs), {rec.get('precision_used')} autocast, channels_last, "
        f"seed {rec.get('seed')}; {rec.get('train_images')} training images, {rec.get('holdout_images')} held out "
        "(stratified, seeded) for model selection and the pruning scan. Inputs normalized with the training "
        f"images' mean {dm.get('normalization', {}).get('mean')} and std {dm.get('normalization', {}).get('std')}.",
        "",
        f"**Pruning**: {pr.get('method')}; rule: {pr.get('rule')}. Sensitivity scan on "
        f"{pr.get('scan', {}).get('images')} held-out training images at sparsities "
        f"{pr.get('scan', {}).get('sparsities')}; per-layer sparsities chosen to reach "
        f"{_pct(pr.get('target_sparsity'))} overall with the smallest tolerated hold-out drop "
        f"({pr.get('tolerated_val_drop', 0) * 100:.2f} points per layer); hold-out top-1 right after pruning "
        f"{_pct(pr.get('val_top1_before_finetune'))}; then {prec.get('finetune_epochs')} epochs of fine-tuning "
        f"(SGD lr {prec.get('finetune_lr')}, cosine, momentum {prec.get('momentum')}, wd {prec.get('weight_decay')}) "
        "with the masks re-applied after every step.",
        "",
        "| layer | weights | sparsity (pruned.pt) | threshold |",
        "|---|---:|---:|---:|",
    ]
    for k in layers:
        s = float((psd[k] == 0).float().mean())
        thr = pr.get("thresholds", {}).get(k)
        lines.append(f"| `{k}` | {dsd[k].numel():,} | {s * 100:.1f}% | {thr:.5f} |" if thr is not None
                     else f"| `{k}` | {dsd[k].numel():,} | {s * 100:.1f}% | |")
    lines += ["", "## Training history (dense)", "", "| epoch | px | train loss | hold-out top-1 | s |",
              "|---:|---:|---:|---:|---:|"]
    for h in dm.get("history", []):
        lines.append(f"| {h['epoch']} | {h['resolution']} | {h['train_loss']:.3f} | {_pct(h['val_top1'])} | "
                     f"{h['epoch_s']:.0f} |")
    if scan_path is not None and scan_path.exists():
        lines += ["", "## Dataset scan", "",
                  f"`{scan_path.name}` ({scan_path.stat().st_size / 1024:.0f} KiB): per-channel statistics of both "
                  f"models over the 10,000 test images, made by `{SCAN_CMD}`; the app reads it and never rescans."]
    return "\n".join(lines) + "\n"
