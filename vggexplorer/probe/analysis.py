"""Display scales and the dense-vs-pruned comparison of one image, as plain tensor functions.

A channel's status (weight-dead, zero on this image, ...) is decided in :mod:`vggexplorer.stats.status`.
"""

from __future__ import annotations

import numpy as np
import torch


# ---- display normalization -------------------------------------------------------------------

def per_channel_minmax(maps: torch.Tensor) -> torch.Tensor:
    """``[C, H, W]`` -> each channel scaled to [0, 1] by its own min and max.

    Shows the *pattern* inside every channel, even a weak one; says nothing about which
    channel is stronger. A constant channel (e.g. all zero) maps to 0.
    """
    flat = maps.flatten(1)
    lo = flat.min(1).values.view(-1, 1, 1)
    hi = flat.max(1).values.view(-1, 1, 1)
    span = hi - lo
    return torch.where(span > 0, (maps - lo) / span.clamp_min(1e-12), torch.zeros_like(maps))


def shared_scale(*maps: torch.Tensor) -> float:
    """One ``zmax`` for a layer across all given maps (e.g. dense and pruned): their largest value.

    Post-ReLU maps are >= 0, so ``[0, zmax]`` keeps channels comparable with each other and
    dense comparable with pruned: a dim tile really is a weak channel.
    """
    m = max((float(t.max()) for t in maps if t.numel()), default=0.0)
    return m if m > 0 else 1.0


def value_percentile(*maps: torch.Tensor, q: float) -> float:
    """The ``q``-th percentile of every value of all given maps together (numpy's default: linear between the
    two nearest ranks); 0 when there are none. The top of a robust display scale: values above it saturate."""
    vals = [t.numpy().ravel() for t in maps if t.numel()]
    return float(np.percentile(np.concatenate(vals), q)) if vals else 0.0


def per_channel_of_max(maps: torch.Tensor, channel_max: np.ndarray) -> np.ndarray:
    """``[C, H, W]`` -> float32 ``[0, 1]``: each channel divided by its own maximum ``channel_max[c]`` (e.g. over the
    test split), clipped at 1. A channel whose maximum is 0 (it never fired) reads 1 wherever it fires now."""
    m = maps.numpy()
    mx = np.asarray(channel_max, np.float32).reshape(-1, 1, 1)
    if mx.shape[0] != m.shape[0]:
        raise ValueError(f"need one maximum per channel: {m.shape[0]} channels, {mx.shape[0]} maxima")
    out = np.divide(m, mx, out=(m > 0).astype(np.float32), where=mx > 0)
    return np.clip(out, 0.0, 1.0, out=out).astype(np.float32, copy=False)


# ---- per-image comparison ---------------------------------------------------------------------

def channel_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each channel's map, ``[C, H, W]`` x2 -> ``[C]``.

    Both zero -> 1 (identical); exactly one zero -> 0.
    """
    a, b = a.flatten(1).double(), b.flatten(1).double()
    na, nb = a.norm(dim=1), b.norm(dim=1)
    cos = (a * b).sum(1) / (na * nb).clamp_min(1e-30)
    cos = torch.where((na == 0) & (nb == 0), torch.ones_like(cos), cos)
    cos = torch.where((na == 0) ^ (nb == 0), torch.zeros_like(cos), cos)
    return cos.float()


def channel_relative_difference(dense: torch.Tensor, pruned: torch.Tensor) -> torch.Tensor:
    """``||pruned - dense|| / max(||dense||, ||pruned||)`` per channel, in [0, 2]; 0 when both are zero."""
    d, p = dense.flatten(1).double(), pruned.flatten(1).double()
    denom = torch.maximum(d.norm(dim=1), p.norm(dim=1))
    diff = (p - d).norm(dim=1)
    return torch.where(denom > 0, diff / denom.clamp_min(1e-30), torch.zeros_like(diff)).float()


def most_changed(dense: torch.Tensor, pruned: torch.Tensor, k: int = 10) -> list[tuple[int, float, float]]:
    """The ``k`` channels whose maps changed most: ``(channel, relative difference, cosine)``, largest first."""
    rel = channel_relative_difference(dense, pruned)
    cos = channel_cosine(dense, pruned)
    order = torch.argsort(rel, descending=True, stable=True)[:k]
    return [(int(c), float(rel[c]), float(cos[c])) for c in order]


def top_classes(probs: torch.Tensor, classes: list[str] | tuple[str, ...], k: int = 2) -> list[tuple[str, float]]:
    """``[10]`` probabilities -> the ``k`` most likely ``(class, probability)``."""
    p, i = probs.topk(k)
    return [(classes[int(j)], float(q)) for q, j in zip(p, i)]


def describe_top2(probs: torch.Tensor, classes: list[str] | tuple[str, ...]) -> str:
    """``"frog 71% vs deer 22%"``."""
    (a, pa), (b, pb) = top_classes(probs, classes, 2)
    return f"{a} {pa * 100:.0f}% vs {b} {pb * 100:.0f}%"
