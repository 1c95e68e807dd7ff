"""Seeded, resumable training of the dense VGG.

Recipe: the course lab's (SGD momentum 0.9, wd 5e-4, batch 512, triangular lr peaking at 0.4 at
30% of training, crop + flip) plus what fast CIFAR recipes add: Nesterov momentum, label
smoothing and lower-resolution early epochs (the net is fully convolutional with global pooling,
so a 16 px epoch costs about a quarter of a 32 px one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..data.cifar10 import Split, stratified_holdout
from ..model.checkpoint import save_checkpoint
from ..model.runtime import hardware_summary, pick_device, pick_precision
from ..model.vgg import CIFAR10_CLASSES, VGG, count_macs, count_nonzero_params, count_params
from .run import run_epochs, steps_per_epoch


@dataclass
class TrainConfig:
    """Everything that decides a training run; stored in the checkpoint as the recipe."""

    epochs: int = 20
    batch_size: int = 512
    lr: float = 0.4
    peak_frac: float = 0.3
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    cutout: int = 0
    # "size:epochs,..." e.g. "16:4,24:2,32:14"; the last entry runs at full resolution.
    resolution_schedule: str = "16:4,24:2,32:14"
    seed: int = 0
    holdout: int = 5000
    precision: str = "auto"
    device: str = "auto"
    max_steps_per_epoch: int | None = None  # for smoke tests
    train_subset: int | None = None  # for smoke tests
    extra: dict[str, Any] = field(default_factory=dict)


def parse_resolution_schedule(spec: str, epochs: int) -> list[int]:
    """``"16:4,24:2,32:14"`` -> the resolution of each epoch; the last size fills any remainder."""
    sizes: list[int] = []
    for part in spec.split(","):
        size, n = part.split(":")
        sizes += [int(size)] * int(n)
    if not sizes:
        raise ValueError(f"empty resolution schedule {spec!r}")
    sizes = sizes[:epochs]
    sizes += [sizes[-1]] * (epochs - len(sizes))
    return sizes


def triangular_lr(step: int, total: int, peak: float, peak_frac: float) -> float:
    """Linear warm-up from 0 to ``peak`` at ``peak_frac`` of training, then linear decay to 0."""
    peak_step = max(1, int(total * peak_frac))
    if step < peak_step:
        return peak * step / peak_step
    return peak * max(0.0, (total - step) / max(1, total - peak_step))


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of ``uint8 [N, H, W, 3]`` images, in [0, 1] units."""
    x = images.reshape(-1, 3).astype(np.float64) / 255.0
    return x.mean(0).round(4).tolist(), x.std(0).round(4).tolist()


def train(cfg: TrainConfig, train_split: Split, run_dir: Path, out: Path, resume: bool = False, progress: bool = True,
          on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train, checkpointing every epoch to ``run_dir/state.pt``; write the final model to ``out``.

    Model selection uses the stratified hold-out slice of the training split; the CLI then
    evaluates the written file on the test split, for the report.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    precision = pick_precision(device, cfg.precision)
    train_idx, val_idx = stratified_holdout(train_split.labels, cfg.holdout, cfg.seed)
    if cfg.train_subset:  # a seeded random subset, not the first (single-class) indices
        keep = np.random.default_rng(cfg.seed).permutation(len(train_idx))[: cfg.train_subset]
        train_idx = np.sort(train_idx[keep])
    mean, std = channel_stats(train_split.images[train_idx])
    sizes = parse_resolution_schedule(cfg.resolution_schedule, cfg.epochs)

    model = VGG().to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=cfg.momentum, nesterov=cfg.nesterov,
                          weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    total_steps = steps_per_epoch(len(train_idx), cfg.batch_size, cfg.max_steps_per_epoch) * cfg.epochs
    done = run_epochs(cfg, model, opt, gen, train_split, train_idx, val_idx, mean, std,
                      state_path=run_dir / "state.pt", resume=resume, epochs=cfg.epochs, batch_size=cfg.batch_size,
                      max_steps=cfg.max_steps_per_epoch,
                      lr_at=lambda i: triangular_lr(i, total_steps, cfg.lr, cfg.peak_frac), precision=precision,
                      crit=nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing), cutout=cfg.cutout,
                      resolutions=sizes, on_epoch=on_epoch,
                      desc=(lambda e: f"epoch {e + 1}/{cfg.epochs} @{sizes[e]}px") if progress else None)
    history, wall = done.history, done.wall_s

    model = model.to("cpu").to(memory_format=torch.contiguous_format).eval()
    meta: dict[str, Any] = {
        "role": "dense",
        "normalization": {"mean": mean, "std": std},
        "classes": list(CIFAR10_CLASSES),
        "recipe": {"command": "train", **asdict(cfg), "precision_used": precision,
                   "train_images": int(len(train_idx)), "holdout_images": int(len(val_idx))},
        "hardware": hardware_summary(device),
        "wall_time_s": round(wall, 1),
        "history": history,
        "metrics": {"val_top1": history[-1]["val_top1"] if history else None,
                    "params": count_params(model), "nonzero_params": count_nonzero_params(model),
                    "macs": count_macs(model)},
    }
    save_checkpoint(out, model, meta, half=True, sparse=False)
    return meta
