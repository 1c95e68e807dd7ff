"""The mechanics every training run shares: dense training and masked fine-tuning both run through here.

A run is a config (a dataclass), a model, an SGD optimizer and one seeded generator that decides both the order
of the batches and the augmentation. :func:`run_epochs` cuts each epoch into batches, steps through them
(:func:`sgd_epoch`), measures top-1 on the hold-out slice (:func:`val_top1`), logs one metrics record per epoch
(:func:`epoch_record`) and saves the run's state (:func:`save_state`, atomically). A run started again with
``resume`` continues from that state (:func:`load_state`) exactly where it stopped, and refuses a state that was
written with another config, naming the fields that differ.

The state file is what ``torch.load(..., weights_only=True)`` reads: ``{"config", "model", "optimizer",
"generator", "epoch", "step", "history", "wall_s"}``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.cifar10 import Split, augment, to_float
from ..errors import ConfigError
from ..files import atomic_write
from ..model.runtime import autocast
from ..model.vgg import CIFAR10_CLASSES
from .evaluate import accuracy_report, predict_logits

log = logging.getLogger("vggexplorer.run")
VAL_BATCH = 500  # images per forward pass when measuring the hold-out top-1


# ---- the run's state: config check, resume, atomic save ------------------------------------------

def config_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as the plain data the state file stores (and compares on resume)."""
    return json.loads(json.dumps(asdict(cfg)))


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``"name (saved X, now Y)"`` for every field whose value differs, in the current config's order; a field
    only one side has counts as differing."""
    missing = "(none)"
    names = list(current) + [k for k in saved if k not in current]
    return [f"{n} (saved {saved.get(n, missing)!r}, now {current.get(n, missing)!r})"
            for n in names if saved.get(n, missing) != current.get(n, missing)]


def check_config(path: Path, saved: Mapping[str, Any] | None, cfg: Any) -> None:
    """Raise :class:`ConfigError` when the state at ``path`` was written with a config other than ``cfg``."""
    diff = config_differences(saved or {}, config_dict(cfg))
    if diff:
        raise ConfigError(f"{path} was written with another config: " + "; ".join(diff)
                          + ". Use a new --run-dir, or the same flags as that run.")


@dataclass
class Progress:
    """Where a run stands: epochs done, optimizer steps taken, one metrics record per epoch, seconds spent."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0


def save_state(path: Path, cfg: Any, model: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator,
               progress: Progress) -> None:
    """Write the run's state to ``path`` atomically: a killed run leaves the previous epoch's state, never half."""
    state = {"config": config_dict(cfg), "model": model.state_dict(), "optimizer": opt.state_dict(),
             "generator": gen.get_state(), "epoch": progress.epoch, "step": progress.step,
             "history": progress.history, "wall_s": progress.wall_s}
    with atomic_write(path) as tmp:
        torch.save(state, tmp)


def load_state(path: Path, cfg: Any, model: nn.Module, opt: torch.optim.Optimizer,
               gen: torch.Generator) -> Progress:
    """Restore model, optimizer and generator from the state at ``path`` (after :func:`check_config`) and
    return where the run stood. States written before ``wall_s`` was saved resume with 0 s spent."""
    device = next(model.parameters()).device
    st = torch.load(path, map_location=device, weights_only=True)
    check_config(path, st.get("config"), cfg)
    model.load_state_dict(st["model"])
    opt.load_state_dict(st["optimizer"])
    gen.set_state(st["generator"].cpu())  # a CPU generator, whatever map_location did
    log.info("resumed from %s at epoch %d", path, st["epoch"])
    return Progress(st["epoch"], st["step"], list(st["history"]), float(st.get("wall_s", 0.0)))


# ---- batching -------------------------------------------------------------------------------------

def steps_per_epoch(n: int, batch_size: int, max_steps: int | None = None) -> int:
    """Batches in one epoch over ``n`` images (the last partial batch counts), capped at ``max_steps``."""
    steps = -(-n // batch_size)
    return min(steps, max_steps) if max_steps else steps


def epoch_batches(idx: np.ndarray, batch_size: int, gen: torch.Generator,
                  max_steps: int | None = None) -> list[np.ndarray]:
    """One epoch's batches: a seeded shuffle of ``idx`` cut into ``batch_size`` pieces (the last partial one
    kept), the first ``max_steps`` of them when given. Every index lands in exactly one batch."""
    perm = idx[torch.randperm(len(idx), generator=gen).numpy()]
    batches = [perm[s:s + batch_size] for s in range(0, len(perm), batch_size)]
    return batches[:max_steps] if max_steps else batches


def make_batch(split: Split, b: np.ndarray, mean: Sequence[float] | None, std: Sequence[float] | None,
               gen: torch.Generator, device: torch.device, cutout: int = 0,
               size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``b`` of ``split`` as a training batch on ``device``: normalized, randomly cropped (pad 4) and
    flipped (and cut out) with ``gen``, resized to ``size`` px when given. ``(x [B, 3, H, W], y [B])``."""
    x = augment(to_float(torch.from_numpy(split.images[b]), mean, std), gen, pad=4, cutout=cutout)  # [B, 3, 32, 32]
    if size is not None and size != x.shape[-1]:
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return x.to(device).contiguous(memory_format=torch.channels_last), torch.from_numpy(split.labels[b]).to(device)


# ---- one epoch, validation, metrics ---------------------------------------------------------------

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
    """One epoch of SGD over index batches.

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


def val_top1(model: nn.Module, split: Split, idx: np.ndarray, precision: str, mean: Sequence[float] | None,
             std: Sequence[float] | None) -> float:
    """Top-1 of ``model`` (in eval mode) on images ``idx`` of ``split``, unaugmented."""
    device = next(model.parameters()).device
    logits = predict_logits(model, split.images[idx], VAL_BATCH, precision, device, mean, std)
    return accuracy_report(logits, split.labels[idx], CIFAR10_CLASSES)["top1"]


def epoch_record(epoch: int, stats: EpochStats, val: float, seconds: float, **extra: Any) -> dict[str, Any]:
    """The metrics of one epoch (1-based ``epoch``), as the history and the log keep them; ``extra`` (e.g. the
    resolution) goes after the epoch number."""
    return {"epoch": epoch, **extra, "train_loss": stats.loss_sum / max(stats.seen, 1),
            "train_acc": stats.correct / max(stats.seen, 1), "val_top1": val, "epoch_s": round(seconds, 1),
            "images_per_s": round(stats.seen / max(seconds, 1e-9), 1)}


# ---- the loop -------------------------------------------------------------------------------------

def run_epochs(cfg: Any, model: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator, split: Split,
               train_idx: np.ndarray, val_idx: np.ndarray, mean: Sequence[float] | None,
               std: Sequence[float] | None, *, state_path: Path, resume: bool, epochs: int, batch_size: int,
               max_steps: int | None, lr_at: Callable[[int], float], precision: str, crit: nn.Module,
               cutout: int = 0, resolutions: Sequence[int] | None = None,
               after_step: Callable[[], None] | None = None,
               loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
               desc: Callable[[int], str] | None = None,
               on_epoch: Callable[[dict[str, Any]], None] | None = None) -> Progress:
    """Run ``epochs`` epochs of SGD on ``split[train_idx]``, saving the state to ``state_path`` after each.

    With ``resume`` and a state at ``state_path``, the run continues from it (same config or
    :class:`ConfigError`). ``resolutions[epoch]`` resizes that epoch's batches and is logged; ``desc(epoch)``
    labels a progress bar (None: quiet); ``on_epoch(record)`` runs after each epoch's state is saved. The
    other arguments are :func:`sgd_epoch`'s. Returns the final :class:`Progress`.
    """
    device = next(model.parameters()).device
    progress = load_state(state_path, cfg, model, opt, gen) if resume and state_path.exists() else Progress()
    for epoch in range(progress.epoch, epochs):
        t0 = time.perf_counter()
        size = resolutions[epoch] if resolutions is not None else None
        batches = epoch_batches(train_idx, batch_size, gen, max_steps)
        ep = sgd_epoch(model, opt, batches, lambda b: make_batch(split, b, mean, std, gen, device, cutout, size),
                       lr_at, progress.step, precision, crit, desc(epoch) if desc else None, after_step, loss_fn)
        val = val_top1(model, split, val_idx, precision, mean, std)
        dt = time.perf_counter() - t0
        rec = epoch_record(epoch + 1, ep, val, dt, **({"resolution": size} if size is not None else {}))
        log.info(json.dumps(rec))
        progress = Progress(epoch + 1, ep.step, progress.history + [rec], progress.wall_s + dt)
        save_state(state_path, cfg, model, opt, gen, progress)
        if on_epoch:
            on_epoch(rec)
    return progress
