"""Seeded, resumable training of the dense VGG.

Recipe: the course lab's (SGD momentum 0.9, wd 5e-4, batch 512, triangular lr peaking at 0.4 at
30% of training, crop + flip) plus what fast CIFAR recipes add: Nesterov momentum, label
smoothing and lower-resolution early epochs (the net is fully convolutional with global pooling,
so a 16 px epoch costs about a quarter of a 32 px one).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..model.checkpoint import save_checkpoint
from ..data.cifar10 import Split, augment, stratified_holdout, to_float
from .evaluate import accuracy_report, predict_logits
from ..model.vgg import CIFAR10_CLASSES, VGG, count_macs, count_nonzero_params, count_params
from ..model.runtime import autocast, hardware_summary, pick_device, pick_precision

log = logging.getLogger("vggexplorer.train")


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


def train_step_batches(idx: np.ndarray, cfg: TrainConfig, gen: torch.Generator) -> list[np.ndarray]:
    """A seeded shuffle of ``idx`` cut into batches (the last partial batch kept)."""
    perm = idx[torch.randperm(len(idx), generator=gen).numpy()]
    return [perm[s:s + cfg.batch_size] for s in range(0, len(perm), cfg.batch_size)]


@dataclass
class EpochStats:
    """What one pass over the batches measured."""

    step: int
    loss_sum: float = 0.0
    seen: int = 0
    correct: int = 0


def sgd_epoch(model: nn.Module, opt: torch.optim.Optimizer, batches: list[np.ndarray],
              make_batch: Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]], lr_at: Callable[[int], float],
              step: int, precision: str, crit: nn.Module, desc: str | None,
              after_step: Callable[[], None] | None = None,
              loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None
              ) -> EpochStats:
    """One epoch of SGD over index batches (shared by training and fine-tuning).

    ``make_batch`` turns a batch of indices into device tensors ``(x [B, 3, H, W], y [B])``;
    ``lr_at(step)`` is the schedule; ``after_step`` runs after every optimizer step (e.g. re-applying
    pruning masks); ``loss_fn(logits, x, y)``, when given, replaces ``crit(logits, y)`` for losses that
    need the inputs too (distillation from a teacher); ``desc`` shows a tqdm bar, None runs quietly.
    """
    stats = EpochStats(step)
    it = batches
    if desc is not None:
        from tqdm import tqdm

        it = tqdm(batches, desc=desc, unit="batch", mininterval=5.0)
    device = next(model.parameters()).device
    model.train()
    for b in it:
        lr = lr_at(stats.step)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = make_batch(b)
        with autocast(device, precision):
            logits = model(x)
            loss = loss_fn(logits.float(), x, y) if loss_fn else crit(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if after_step:
            after_step()
        stats.step += 1
        stats.loss_sum += loss.item() * len(b)
        stats.seen += len(b)
        stats.correct += int((logits.argmax(1) == y).sum())
        if desc is not None:
            it.set_postfix(loss=f"{stats.loss_sum / stats.seen:.3f}", lr=f"{lr:.4f}")
    model.eval()
    return stats


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
    steps_per_epoch = -(-len(train_idx) // cfg.batch_size)
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    total_steps = steps_per_epoch * cfg.epochs
    start_epoch, step, history, wall = 0, 0, [], 0.0
    state_path = run_dir / "state.pt"
    if resume and state_path.exists():
        st = torch.load(state_path, map_location=device, weights_only=True)
        if st["config"] != json.loads(json.dumps(asdict(cfg))):
            raise ConfigError(f"{state_path} was written with another config; start a new --run-dir or pass the "
                             f"same options. Saved: {st['config']}")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        gen.set_state(st["generator"])
        start_epoch, step, history, wall = st["epoch"], st["step"], st["history"], st["wall_s"]
        log.info("resumed from %s at epoch %d", state_path, start_epoch)

    crit = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        batches = train_step_batches(train_idx, cfg, gen)[:steps_per_epoch]

        def make_batch(b: np.ndarray, size: int = sizes[epoch]) -> tuple[torch.Tensor, torch.Tensor]:
            x = to_float(torch.from_numpy(train_split.images[b]), mean, std)  # [B, 3, 32, 32]
            x = augment(x, gen, pad=4, cutout=cfg.cutout)
            if size != x.shape[-1]:
                x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
            return x.to(device).contiguous(memory_format=torch.channels_last), \
                torch.from_numpy(train_split.labels[b]).to(device)

        ep = sgd_epoch(model, opt, batches, make_batch, lambda i: triangular_lr(i, total_steps, cfg.lr, cfg.peak_frac),
                       step, precision, crit, f"epoch {epoch + 1}/{cfg.epochs} @{sizes[epoch]}px" if progress else None)
        step = ep.step
        val_logits = predict_logits(model, train_split.images[val_idx], 500, precision, device, mean, std)
        val = accuracy_report(val_logits, train_split.labels[val_idx], CIFAR10_CLASSES)["top1"]
        dt = time.perf_counter() - t0
        wall += dt
        rec = {"epoch": epoch + 1, "resolution": sizes[epoch], "train_loss": ep.loss_sum / max(ep.seen, 1),
               "train_acc": ep.correct / max(ep.seen, 1), "val_top1": val, "epoch_s": round(dt, 1),
               "images_per_s": round(ep.seen / dt, 1)}
        history.append(rec)
        log.info(json.dumps(rec))
        torch.save({"config": asdict(cfg), "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "generator": gen.get_state(), "epoch": epoch + 1, "step": step, "history": history,
                    "wall_s": wall}, run_dir / "state.pt.tmp")
        (run_dir / "state.pt.tmp").replace(state_path)
        if on_epoch:
            on_epoch(rec)

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
