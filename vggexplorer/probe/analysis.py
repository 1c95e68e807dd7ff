"""Display scales, dense-vs-pruned comparison and dead filters, as plain tensor functions.

Definitions (also in the README):

* **weight-dead**: every weight of the filter (``conv.weight[c]``, all input channels and taps)
  is exactly zero. Its conv output is 0, but BatchNorm then adds a constant, so a weight-dead
  filter can still emit a constant positive map after the ReLU.
* **activation-dead**: over the whole test split, the channel's post-ReLU output fires
  (is > 0 at any position) on fewer than ``min_fire_fraction`` of the images; with the
  default 0.0 this means "zero everywhere on every test image".
* **zero on this image**: the channel's post-ReLU map is exactly zero everywhere for the
  current image.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..model.vgg import blocks

DEFAULT_MIN_FIRE_FRACTION = 0.0


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


# ---- dead filters -----------------------------------------------------------------------------

def conv_modules(model: nn.Module) -> dict[str, nn.Conv2d]:
    """Block name -> its conv layer."""
    return {n: b.conv for n, b in blocks(model).items()}


def weight_dead(model: nn.Module) -> dict[str, torch.Tensor]:
    """Block -> ``bool [C]``: every weight of the output filter is exactly zero."""
    return {n: (m.weight.detach().flatten(1) == 0).all(1) for n, m in conv_modules(model).items()}


def filter_sparsity(model: nn.Module) -> dict[str, torch.Tensor]:
    """Block -> ``float [C]``: fraction of each filter's weights that are zero."""
    return {n: (m.weight.detach().flatten(1) == 0).float().mean(1) for n, m in conv_modules(model).items()}


def activation_dead(fire_fraction: Mapping[str, torch.Tensor],
                    min_fire_fraction: float = DEFAULT_MIN_FIRE_FRACTION) -> dict[str, torch.Tensor]:
    """Block -> ``bool [C]`` from a scan's per-channel fire fractions.

    ``min_fire_fraction=0`` flags channels that never fire on any image; a positive value
    flags channels firing on fewer than that fraction of images.
    """
    if min_fire_fraction <= 0:
        return {n: f <= 0 for n, f in fire_fraction.items()}
    return {n: f < min_fire_fraction for n, f in fire_fraction.items()}


def zero_on_image(maps: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Block -> ``bool [C]``: the channel's map ``[C, H, W]`` is zero everywhere on this image."""
    return {n: (m.flatten(1) <= 0).all(1) for n, m in maps.items()}


