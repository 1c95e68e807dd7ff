"""Which channels carry the classification of one image.

* ``conv7`` exact logit contribution: after the last ReLU the network is ``pool3`` (max 2x2),
  a global average and one linear layer, so ``logit_k = sum_c W[k, c] * pooled_c + b_k``
  exactly; each term is that channel's contribution.
* gradient x activation for every block: ``sum_hw dlogit_k/da_c * a_c`` from one backward pass
  (a first-order estimate of what removing the channel would cost the logit).
* ablation for one block, on demand: zero one channel at a time (all channels batched, the
  shared prefix computed once) and measure the drop of the class probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..model.vgg import blocks
from .hooks import _as_input, _check_eval, block_hooks, relu_modules


def suffix_modules(model: nn.Module, block: str) -> list[nn.Module]:
    """The backbone modules that follow ``block``'s ReLU (e.g. ``conv7`` -> ``[pool3]``)."""
    found = blocks(model)
    if block not in found:
        raise ValueError(f"unknown block {block!r}; the model has {list(found)}")
    return list(model.backbone.children())[found[block].relu_index + 1:]


def run_from_block(model: nn.Module, block: str, h: torch.Tensor) -> torch.Tensor:
    """Logits from a block's post-ReLU maps ``[N, C, H, W]`` (the rest of the network, no hooks)."""
    for mod in suffix_modules(model, block):
        h = mod(h)
    return model.classifier(h.mean([2, 3]))  # [N, 10]


@dataclass
class Contribution:
    """Exact decomposition of one logit over the last block's channels."""

    per_channel: torch.Tensor  # [C]: W[k, c] * pooled_c
    bias: float
    logit: float  # the model's logit, for the check sum(per_channel) + bias == logit


@torch.no_grad()
def last_block_contributions(model: nn.Module, last_maps: torch.Tensor, cls: int,
                             block: str | None = None) -> Contribution:
    """Exact per-channel logit contributions of the last conv block for one image's maps ``[C, H, W]``."""
    block = block or list(relu_modules(model))[-1]
    h = last_maps.unsqueeze(0)
    for mod in suffix_modules(model, block):
        h = mod(h)  # [1, 512, 2, 2] after pool3
    pooled = h.mean([2, 3])[0]  # [512]
    w = model.classifier.weight[cls]
    b = float(model.classifier.bias[cls]) if model.classifier.bias is not None else 0.0
    per = (w * pooled).float()
    logit = float(model.classifier(pooled.unsqueeze(0))[0, cls])
    return Contribution(per, b, logit)


def gradient_x_activation(model: nn.Module, image, cls: int) -> dict[str, torch.Tensor]:
    """Block -> ``[C]`` gradient x activation of class ``cls``'s logit, summed over positions.

    One forward and one backward pass with ``torch.autograd.grad`` (no ``.grad`` is written to
    the parameters, so a shared model is left unchanged). The maps are the graph's own nodes: nothing
    is copied.
    """
    _check_eval(model)
    x = _as_input(model, image)[:1]
    kept: dict[str, torch.Tensor] = {}

    def keep(name: str, out: torch.Tensor) -> None:
        kept[name] = out  # graph nodes; nothing after the hook modifies them in place

    with torch.enable_grad(), block_hooks(model, keep):
        logits = model(x)
    names = list(kept)
    grads = torch.autograd.grad(logits[0, cls], [kept[n] for n in names])
    return {n: (g * kept[n].detach()).sum((0, 2, 3)).float() for n, g in zip(names, grads)}


@torch.no_grad()
def ablation(model: nn.Module, image, block: str, cls: int, batch_size: int = 256) -> torch.Tensor:
    """``[C]``: drop of class ``cls``'s probability when channel c of ``block`` is zeroed.

    The prefix up to ``block`` runs once; the suffix runs on ``C`` copies of its maps, copy c
    with channel c zeroed, in batches of ``batch_size``.
    """
    _check_eval(model)
    x = _as_input(model, image)[:1]
    kept: dict[str, torch.Tensor] = {}

    def keep(name: str, out: torch.Tensor) -> None:
        kept[name] = out.detach().clone()

    with block_hooks(model, keep, [block]):
        base = model(x).softmax(1)[0, cls]
    a = kept[block]  # [1, C, H, W]
    c = a.shape[1]
    drops = torch.empty(c)
    for s in range(0, c, batch_size):
        idx = torch.arange(s, min(s + batch_size, c))
        h = a.expand(len(idx), -1, -1, -1).clone()  # [B, C, H, W]
        h[torch.arange(len(idx)), idx] = 0.0
        p = run_from_block(model, block, h).softmax(1)[:, cls]
        drops[idx] = (base - p).float()
    return drops
