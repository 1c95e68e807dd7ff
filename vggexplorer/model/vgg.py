"""The course-lab VGG for CIFAR-10, described as data.

One list (``VGG_CFG``) describes the network, like torchvision's ``vgg.py``; module
names come out exactly as in the MIT 6.5940 lab (``backbone.conv0..conv7``,
``bn0..bn7``, ``relu0..relu7``, ``pool0..pool3``, ``classifier``) so a lab
state_dict loads with ``strict=True``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable, Mapping, NamedTuple

import torch
from torch import nn

from ..data.cifar10 import CIFAR10_CLASSES

# Channels of each 3x3 conv block; "M" is a 2x2 max pool.
VGG_CFG: list[int | str] = [64, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
NUM_CLASSES = len(CIFAR10_CLASSES)  # the dataset's classes are the network's outputs, in order


POOL = "M"  # in a cfg: a 2x2 max pool; every other entry is a conv block's width


def block_widths(cfg: list[int | str] = VGG_CFG) -> dict[str, int]:
    """Block name -> its channels, in forward order: ``{"conv0": 64, "conv1": 128, ...}``."""
    return {f"conv{i}": int(v) for i, v in enumerate(v for v in cfg if v != POOL)}


def conv_block_names(cfg: list[int | str] = VGG_CFG) -> list[str]:
    """Names of the conv blocks in forward order: ``conv0``..``conv7``."""
    return list(block_widths(cfg))


class Block(NamedTuple):
    """One conv block of a built model: its name (``conv3``), its conv, BN and ReLU, and the position of the ReLU
    among the backbone's children (what follows it is the rest of the network)."""

    name: str
    conv: nn.Module
    bn: nn.Module
    relu: nn.Module
    relu_index: int


def blocks(model: nn.Module) -> "OrderedDict[str, Block]":
    """Block name -> :class:`Block`, in forward order: the one place that knows how the modules are named
    (``backbone.conv3``, ``backbone.bn3``, ``backbone.relu3``). A compact model's packed convs are found too."""
    names = [n for n, _ in model.backbone.named_children()]
    out: "OrderedDict[str, Block]" = OrderedDict()
    i = 0
    while f"conv{i}" in names:
        bb = model.backbone
        out[f"conv{i}"] = Block(f"conv{i}", getattr(bb, f"conv{i}"), getattr(bb, f"bn{i}"), getattr(bb, f"relu{i}"),
                                names.index(f"relu{i}"))
        i += 1
    return out


def short_name(parameter: str) -> str:
    """A parameter's or module's short name, as figures and tables show it: ``backbone.conv3.weight`` -> ``conv3``,
    ``backbone.bn3.bias`` -> ``bn3.bias``, ``classifier.weight`` -> ``classifier``."""
    name = parameter[len("backbone."):] if parameter.startswith("backbone.") else parameter
    return name[: -len(".weight")] if name.endswith(".weight") else name


def parameter_name(block: str) -> str:
    """The state_dict key of a block's (or the classifier's) weight: ``conv3`` -> ``backbone.conv3.weight``."""
    return "classifier.weight" if block == "classifier" else f"backbone.{block}.weight"


class VGG(nn.Module):
    """VGG-style CIFAR-10 network: conv-BN-ReLU blocks, max pools, global average pool, linear head."""

    def __init__(self, cfg: list[int | str] = VGG_CFG, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        layers: list[tuple[str, nn.Module]] = []
        in_ch, n_conv, n_pool = 3, 0, 0
        for v in cfg:
            if v == "M":
                layers.append((f"pool{n_pool}", nn.MaxPool2d(2)))
                n_pool += 1
                continue
            assert isinstance(v, int)
            layers += [
                (f"conv{n_conv}", nn.Conv2d(in_ch, v, kernel_size=3, padding=1, bias=False)),
                (f"bn{n_conv}", nn.BatchNorm2d(v)),
                # inplace like the lab; hooks must clone what they capture.
                (f"relu{n_conv}", nn.ReLU(inplace=True)),
            ]
            in_ch, n_conv = v, n_conv + 1
        self.cfg = list(cfg)
        self.backbone = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Linear(in_ch, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone then global average pool: ``[N, 3, H, W] -> [N, 512]``."""
        return self.backbone(x).mean([2, 3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # [N, 10]


@dataclass(frozen=True)
class LayerCost:
    """Parameters and multiply-accumulates of one layer for one image."""

    name: str
    kind: str
    params: int
    macs: int
    output_shape: tuple[int, ...]


def layer_costs(model: nn.Module, input_size: int = 32) -> list[LayerCost]:
    """Count parameters and MACs of every conv, BN and linear layer with a real forward pass.

    MACs of a conv = output elements x (in_channels / groups) x kernel area; of a linear
    layer = in x out. BN, ReLU and pooling are counted as 0 MACs (the lab's convention).
    """
    costs: list[LayerCost] = []
    handles = []

    def hook(name: str):
        def fn(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            params = sum(p.numel() for p in mod.parameters(recurse=False))
            if isinstance(mod, nn.Conv2d):
                k = mod.kernel_size[0] * mod.kernel_size[1]
                macs = out[0].numel() * (mod.in_channels // mod.groups) * k
                kind = "conv"
            elif isinstance(mod, nn.Linear):
                macs, kind = mod.in_features * mod.out_features, "linear"
            else:
                macs, kind = 0, "bn"
            costs.append(LayerCost(name, kind, params, macs, tuple(out.shape[1:])))
        return fn

    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
            handles.append(mod.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            was_training = model.training
            model.eval()
            p = next(model.parameters())
            model(torch.zeros(1, 3, input_size, input_size, dtype=p.dtype, device=p.device))
            model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return costs


def count_params(model: nn.Module) -> int:
    """All parameters (weights, biases, BN affine); buffers are not parameters."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: int = 32) -> int:
    """Multiply-accumulates for one ``input_size`` x ``input_size`` image."""
    return sum(c.macs for c in layer_costs(model, input_size))


def prunable_parameters(model: nn.Module) -> dict[str, torch.nn.Parameter]:
    """The weights fine-grained pruning acts on: every parameter with dim > 1 (conv and linear)."""
    return {n: p for n, p in model.named_parameters() if p.dim() > 1}


def prunable_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every conv and linear weight by its parameter name, detached, to read: the same tensors as
    :func:`prunable_parameters`, and also a compact model's packed layers (rebuilt)."""
    return {f"{n}.weight": m.weight.detach() for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def count_nonzero_params(model: nn.Module) -> int:
    """Parameters that are not exactly zero (a compact model's packed weights included)."""
    rest = [p for p in model.parameters() if p.dim() <= 1]  # biases and BN affine
    return int(sum(int((w != 0).sum()) for w in prunable_weights(model).values())
               + sum(int((p != 0).sum()) for p in rest))


def sparsity_of(weights: "torch.Tensor | Mapping[str, torch.Tensor] | Iterable[torch.Tensor]") -> float:
    """Fraction of exactly-zero entries in one tensor, or over a set of them (a mapping's values) taken
    together: the one definition of weight sparsity (0 for no entries at all)."""
    ws = [weights] if isinstance(weights, torch.Tensor) else list(
        weights.values() if isinstance(weights, Mapping) else weights)
    return sum(int((w == 0).sum()) for w in ws) / max(sum(w.numel() for w in ws), 1)


def zero_fraction(model: nn.Module) -> float:
    """The ladder's sparsity measure: the fraction of conv + linear weights that are exactly zero."""
    return sparsity_of(prunable_weights(model))


def layer_sparsity(model: nn.Module) -> dict[str, float]:
    """Parameter name -> fraction of exactly-zero entries in that conv or linear weight (a compact model's too)."""
    return {n: sparsity_of(w) for n, w in prunable_weights(model).items()}
