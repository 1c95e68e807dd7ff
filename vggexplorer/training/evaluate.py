"""Accuracy of a model on an in-memory split, single view (no test-time augmentation)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..data.cifar10 import Split, to_float
from ..data.images import normalization
from ..model.runtime import autocast


@torch.no_grad()
def predict_logits(model: torch.nn.Module, images: np.ndarray, batch_size: int = 256,
                   precision: str = "fp32", device: torch.device | None = None,
                   mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                   progress: bool = False) -> torch.Tensor:
    """Logits ``[N, 10]`` (float32, CPU) for ``uint8 [N, 32, 32, 3]`` images. The model must be in eval mode."""
    device = device or next(model.parameters()).device
    out = []
    starts = range(0, len(images), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="evaluating", unit="batch", mininterval=2.0)
    for s in starts:
        x = to_float(torch.from_numpy(images[s:s + batch_size]), mean, std)
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            out.append(model(x).float().cpu())
    return torch.cat(out)


def accuracy_report(logits: torch.Tensor, labels: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """top-1, per-class accuracy and the confusion matrix from logits and labels."""
    pred = logits.argmax(1).numpy()
    labels = np.asarray(labels)
    conf = np.zeros((len(classes), len(classes)), np.int64)
    np.add.at(conf, (labels, pred), 1)
    per_class = {c: float(conf[i, i] / max(conf[i].sum(), 1)) for i, c in enumerate(classes)}
    return {
        "top1": float((pred == labels).mean()),
        "n_images": int(len(labels)),
        "per_class": per_class,
        "confusion": conf.tolist(),
    }


def evaluate(model: torch.nn.Module, split: Split, batch_size: int = 256, precision: str = "fp32",
             progress: bool = False) -> dict[str, Any]:
    """Single-view top-1 of ``model`` on ``split``, with the model's own input normalization."""
    if model.training:
        raise ValueError("evaluate() needs a model in eval mode (BatchNorm running statistics).")
    mean, std = normalization(model)
    logits = predict_logits(model, split.images, batch_size, precision, mean=mean, std=std, progress=progress)
    return accuracy_report(logits, split.labels, split.classes)
