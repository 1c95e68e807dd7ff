"""Fine-grained (element-wise) magnitude pruning, as in the course lab (MIT 6.5940 lab 1).

Per weight tensor (every parameter with dim > 1): ``num_zeros = round(numel * sparsity)``,
``threshold`` = the ``num_zeros``-th smallest ``|w|``, ``mask = |w| > threshold``.
Per-layer sparsities come from a sensitivity scan on a held-out slice of the *training* split
(never the test split); fine-tuning re-applies the masks after every step, so pruned weights
stay exactly zero.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from ..data.cifar10 import Split, stratified_holdout
from ..data.images import normalization
from ..errors import ConfigError
from ..files import atomic_write, file_sha256
from ..model.checkpoint import load_model, save_checkpoint
from ..model.runtime import hardware_summary, pick_device, pick_precision
from ..model.vgg import (CIFAR10_CLASSES, count_macs, count_nonzero_params, count_params, layer_sparsity,
                         prunable_parameters, sparsity_of, zero_fraction)
from .run import run_epochs, steps_per_epoch, val_top1

log = logging.getLogger("vggexplorer.prune")


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> tuple[torch.Tensor, float]:
    """The lab's rule: zero the ``round(numel * sparsity)`` smallest-magnitude weights.

    Returns ``(mask, threshold)`` with ``mask = |w| > threshold`` (bool, same shape). Ties at the
    threshold are pruned too, so the sparsity is at least the requested one.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    num_zeros = round(weight.numel() * sparsity)
    if num_zeros == 0:
        return torch.ones_like(weight, dtype=torch.bool), 0.0
    mag = weight.detach().abs()
    threshold = float(mag.flatten().float().kthvalue(num_zeros).values)
    return mag > threshold, threshold


def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """Zero the pruned weights in place (after every optimizer step during fine-tuning)."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, m in masks.items():
            params[name].mul_(m.to(params[name].dtype))


def prune_model(model: nn.Module, sparsities: Mapping[str, float]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Prune ``model`` in place with per-layer sparsities; return (masks, thresholds)."""
    params = prunable_parameters(model)
    masks, thresholds = {}, {}
    for name, s in sparsities.items():
        masks[name], thresholds[name] = magnitude_mask(params[name], s)
    apply_masks(model, masks)
    return masks, thresholds


def sensitivity_scan(model: nn.Module, eval_fn: Callable[[nn.Module], float], sparsities: list[float],
                     on_layer: Callable[[str, list[float]], None] | None = None,
                     done: Mapping[str, list[float]] | None = None,
                     base_acc: float | None = None) -> dict[str, list[float]]:
    """Accuracy against sparsity for each layer alone; the layer is restored after each point.

    ``done`` holds curves from an interrupted scan, which are kept rather than recomputed. On an
    already-pruned model, a point at or below a layer's current sparsity leaves its mask unchanged
    (the existing zeros are the smallest magnitudes), so it scores ``base_acc`` without a pass.
    """
    curves: dict[str, list[float]] = dict(done or {})
    for name, p in prunable_parameters(model).items():
        if name in curves:
            continue
        original = p.detach().clone()
        current = sparsity_of(original)
        accs = []
        try:
            for s in sparsities:
                if base_acc is not None and round(original.numel() * s) <= round(original.numel() * current):
                    accs.append(base_acc)
                    continue
                mask, _ = magnitude_mask(original, s)
                with torch.no_grad():
                    p.copy_(original * mask)
                accs.append(eval_fn(model))
        finally:
            with torch.no_grad():
                p.copy_(original)
        curves[name] = accs
        if on_layer:
            on_layer(name, accs)
    return curves


def choose_sparsities(curves: Mapping[str, list[float]], scan_sparsities: list[float], sizes: Mapping[str, int],
                      base_acc: float, target: float, max_sparsity: float = 0.95,
                      floor: Mapping[str, float] | None = None) -> tuple[dict[str, float], float]:
    """Per-layer sparsities reaching ``target`` overall with the smallest tolerated accuracy drop.

    ``floor`` holds each layer's current sparsity when pruning an already-pruned model: a layer
    never goes below it (its zeros stay zero: the masks are nested).

    Each layer gets the largest sparsity (0.01 grid) whose scanned accuracy, linearly
    interpolated and made monotone, stays within ``delta`` of the unpruned accuracy; ``delta``
    is bisected until the weighted overall sparsity reaches ``target``. Returns (sparsities, delta).
    """
    grid = np.round(np.arange(0.0, max_sparsity + 1e-9, 0.01), 2)
    xs = np.array([0.0] + list(scan_sparsities))
    envelopes = {}
    for name, accs in curves.items():
        ys = np.array([base_acc] + list(accs))
        interp = np.interp(grid, xs, ys)  # flat beyond the last scanned point
        if grid[-1] > xs[-1]:  # extrapolate past the scan with the last slope, never optimistic
            slope = min(0.0, (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]))
            beyond = grid > xs[-1]
            interp[beyond] = ys[-1] + slope * (grid[beyond] - xs[-1])
        # Monotone (a higher sparsity never looks better), then tilted by a tiny cost per unit of
        # sparsity so that flat or noisy curves above the baseline do not all jump to the maximum
        # at a zero tolerated drop: the overall sparsity then grows smoothly with ``delta``.
        envelopes[name] = np.minimum.accumulate(interp) - 1e-4 * grid
    total = sum(sizes.values())

    def pick(delta: float) -> dict[str, float]:
        out = {}
        for name, env in envelopes.items():
            ok = np.flatnonzero(env >= base_acc - delta)
            out[name] = float(grid[ok[-1]]) if len(ok) else 0.0
            if floor:
                out[name] = max(out[name], float(floor.get(name, 0.0)))
        return out

    def overall(sp: Mapping[str, float]) -> float:
        return sum(sp[n] * sizes[n] for n in sp) / total

    lo, hi = 0.0, 1.0
    if overall(pick(hi)) < target:
        raise ConfigError(f"target sparsity {target} is out of reach with per-layer sparsity at most {max_sparsity}")
    for _ in range(50):
        mid = (lo + hi) / 2
        if overall(pick(mid)) >= target:
            hi = mid
        else:
            lo = mid
    return pick(hi), hi


@dataclass
class PruneConfig:
    """Everything that decides a pruning run; stored in the checkpoint. The ``prune`` command's flags are these
    fields (``--target-sparsity`` ...), with these defaults; a field's ``help`` is its flag's."""

    target_sparsity: float = field(default=0.55, metadata={
        "help": "fraction of all conv and linear weights set to zero"})
    scan_sparsities: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], metadata={
        "help": "comma-separated sparsities the sensitivity scan tries on each layer"})
    scan_images: int = field(default=5000, metadata={"help": "hold-out images used by the sensitivity scan"})
    finetune_epochs: int = 5
    finetune_lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    batch_size: int = 512
    seed: int = 0
    holdout: int = field(default=5000, metadata={
        "help": "hold-out size where the source's recipe records none; otherwise the dense run's slice is reused"})
    precision: str = "auto"
    device: str = "auto"
    max_steps_per_epoch: int | None = None
    max_layer_sparsity: float = field(default=0.95, metadata={
        "help": "no layer is pruned beyond this (the 95% rung needs 0.99)"})
    # Distillation from a teacher (the dense model) during fine-tuning: the loss is
    # (1 - w) * CE(labels) + w * T^2 * KL(softmax(teacher / T) || softmax(student / T)); w = 0 turns it off.
    distill_from: str | None = field(default=None, metadata={
        "help": "teacher checkpoint for a soft-target loss during fine-tuning (e.g. checkpoints/dense.pt)"})
    distill_weight: float = field(default=0.0, metadata={"help": "weight of the soft-target loss (0: off)"})
    distill_temperature: float = 4.0


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, weight: float,
                      temperature: float, crit: nn.Module) -> torch.Tensor:
    """Hinton et al.'s soft-target loss mixed with the hard-label loss ``crit``; logits ``[B, C]``."""
    t = temperature
    soft = nn.functional.kl_div(nn.functional.log_softmax(student / t, 1), nn.functional.log_softmax(teacher / t, 1),
                                reduction="batchmean", log_target=True) * t * t
    return (1 - weight) * crit(student, labels) + weight * soft


def finetune(model: nn.Module, masks: Mapping[str, torch.Tensor], split: Split, train_idx: np.ndarray,
             val_idx: np.ndarray, cfg: PruneConfig, run_dir: Path, resume: bool, progress: bool = True,
             teacher: nn.Module | None = None,
             on_epoch: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """SGD with a cosine schedule; masks re-applied after every step; state saved every epoch.

    With a ``teacher`` (in eval mode, never updated) and ``cfg.distill_weight > 0`` the loss is
    :func:`distillation_loss` against the teacher's logits on the same augmented batch.
    """
    device = next(model.parameters()).device
    mean, std = normalization(model)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.finetune_lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, nesterov=True)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    total = steps_per_epoch(len(train_idx), cfg.batch_size, cfg.max_steps_per_epoch) * cfg.finetune_epochs
    crit = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    def distilled(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t_logits = teacher(x).float()  # [B, 10], under the caller's autocast
        return distillation_loss(logits, t_logits, y, cfg.distill_weight, cfg.distill_temperature, crit)

    done = run_epochs(cfg, model, opt, gen, split, train_idx, val_idx, mean, std,
                      state_path=run_dir / "finetune_state.pt", resume=resume, epochs=cfg.finetune_epochs,
                      batch_size=cfg.batch_size, max_steps=cfg.max_steps_per_epoch,
                      lr_at=lambda i: cfg.finetune_lr * 0.5 * (1 + math.cos(math.pi * i / total)),
                      precision=pick_precision(device, cfg.precision), crit=crit,
                      after_step=lambda: apply_masks(model, masks),  # pruned weights stay exactly zero
                      loss_fn=distilled if teacher is not None and cfg.distill_weight > 0 else None,
                      on_epoch=on_epoch,
                      desc=(lambda e: f"fine-tune {e + 1}/{cfg.finetune_epochs}") if progress else None)
    return done.history


def nested(parent: Mapping[str, torch.Tensor], child: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the weights where a zero of ``parent`` is non-zero in ``child`` (empty: nested masks)."""
    return [n for n, w in parent.items() if bool(((w == 0) & (child[n] != 0)).any())]


def prune_pipeline(cfg: PruneConfig, source_path: Path, split: Split, run_dir: Path, out: Path,
                   resume: bool = False, progress: bool = True,
                   on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Scan, choose per-layer sparsities for the target, prune, fine-tune, save ``out``.

    ``source_path`` is the dense checkpoint or a pruned one (the rung below on the ladder). From a
    pruned source every layer keeps at least its current zeros, so the masks are nested: a weight
    that is zero at one rung stays zero at every higher rung. ``on_epoch(record)`` runs after each
    fine-tuning epoch's state is saved.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    precision = pick_precision(device, cfg.precision)
    model = load_model(source_path)
    source_meta = dict(model.meta)
    from_pruned = source_meta.get("role") == "pruned"
    # The dense model's recipe decides the hold-out slice, whichever rung we start from.
    recipe = source_meta.get("recipe", {})
    dense_recipe = recipe.get("dense_recipe", recipe) if from_pruned else recipe
    dense_path = recipe.get("dense_checkpoint", str(source_path)) if from_pruned else str(source_path)
    parent_weights = {n: p.detach().clone() for n, p in prunable_parameters(model).items()}
    floor = layer_sparsity(model) if from_pruned else {}
    # The same hold-out slice the dense run selected on (same seed and size), so it was never trained on.
    train_idx, val_idx = stratified_holdout(split.labels, dense_recipe.get("holdout", cfg.holdout),
                                            dense_recipe.get("seed", cfg.seed))
    scan_idx = val_idx[np.random.default_rng(cfg.seed).permutation(len(val_idx))[: cfg.scan_images]]
    model = model.to(device).to(memory_format=torch.channels_last)
    model.meta = source_meta
    mean, std = normalization(model)

    def val_acc(m: nn.Module) -> float:
        return val_top1(m, split, scan_idx, precision, mean, std)

    scan_path = run_dir / "scan.json"
    scan = json.loads(scan_path.read_text()) if resume and scan_path.exists() else {}
    if scan.get("sparsities") != cfg.scan_sparsities or scan.get("images") != len(scan_idx):
        scan = {"sparsities": cfg.scan_sparsities, "images": int(len(scan_idx)), "curves": {}}
    if "base_val_top1" not in scan:
        scan["base_val_top1"] = val_acc(model)

    def save_scan(name: str, accs: list[float]) -> None:
        scan["curves"][name] = accs
        with atomic_write(scan_path) as tmp:
            tmp.write_text(json.dumps(scan, indent=1))
        log.info("scan %s: %s", name, " ".join(f"{a:.4f}" for a in accs))

    t0 = time.perf_counter()
    sensitivity_scan(model, val_acc, cfg.scan_sparsities, on_layer=save_scan, done=scan["curves"],
                     base_acc=scan["base_val_top1"])
    scan_s = time.perf_counter() - t0
    sizes = {n: p.numel() for n, p in prunable_parameters(model).items()}
    chosen, delta = choose_sparsities(scan["curves"], cfg.scan_sparsities, sizes, scan["base_val_top1"],
                                      cfg.target_sparsity, cfg.max_layer_sparsity, floor)
    log.info("chosen sparsities (tolerated drop %.4f): %s", delta, json.dumps(chosen))
    masks, thresholds = prune_model(model, chosen)
    model.eval()
    acc_before_ft = val_acc(model)
    log.info("overall sparsity %.4f, val top-1 before fine-tuning %.4f", zero_fraction(model), acc_before_ft)
    teacher = None
    if cfg.distill_from and cfg.distill_weight > 0:
        teacher = load_model(cfg.distill_from).to(device).to(memory_format=torch.channels_last).eval()
        teacher.requires_grad_(False)
    history = finetune(model, masks, split, train_idx, val_idx, cfg, run_dir, resume, progress, teacher, on_epoch)
    model = model.to("cpu").to(memory_format=torch.contiguous_format).eval()
    broken = nested(parent_weights, dict(prunable_parameters(model)))
    if broken:  # cannot happen while masks are re-applied after every step; never ship it if it does
        raise RuntimeError(f"masks are not nested over {source_path}: {broken}")
    achieved = layer_sparsity(model)
    meta = {
        "role": "pruned",
        "normalization": source_meta.get("normalization"),
        "classes": source_meta.get("classes", list(CIFAR10_CLASSES)),
        "recipe": {"command": "prune", **asdict(cfg), "precision_used": precision,
                   "source_checkpoint": str(source_path), "source_sha256": file_sha256(source_path),
                   "source_overall_sparsity": sparsity_of(parent_weights),
                   "dense_checkpoint": dense_path, "dense_recipe": dense_recipe},
        "pruning": {
            "method": "fine-grained magnitude pruning, per-layer threshold"
                      + (", nested on the source's masks" if from_pruned else ""),
            "rule": "mask = |w| > threshold (threshold = k-th smallest |w|, k = round(numel * sparsity)); "
                    "after fine-tuning with masks re-applied, mask == (weight != 0)",
            "target_sparsity": cfg.target_sparsity,
            "overall_sparsity": zero_fraction(model),
            "sparsity_per_layer": achieved,
            "source_sparsity_per_layer": floor,
            "chosen_sparsity_per_layer": chosen,
            "thresholds": thresholds,
            "tolerated_val_drop": delta,
            "val_top1_before_finetune": acc_before_ft,
            "scan": {**scan, "images": int(len(scan_idx)), "split": "train hold-out", "wall_s": round(scan_s, 1)},
        },
        "hardware": hardware_summary(device),
        "wall_time_s": round(time.perf_counter() - t_start, 1),
        "history": history,
        "metrics": {"val_top1": history[-1]["val_top1"] if history else acc_before_ft,
                    "dense_val_top1": (source_meta.get("metrics", {}).get("dense_val_top1") if from_pruned
                                       else source_meta.get("metrics", {}).get("val_top1")),
                    "params": count_params(model), "nonzero_params": count_nonzero_params(model),
                    "macs": count_macs(model)},
    }
    save_checkpoint(out, model, meta, half=True, sparse=True)
    return meta
