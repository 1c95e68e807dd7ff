"""Pruned models kept small in memory: sparse conv layers hold only their non-zero weights.

A hosted demo holds dense and every rung of the ladder at once (the Explorer's ladder row runs them
all). At 90% zeros a conv layer's 4 bytes per weight become 8 bytes per *non-zero* weight (an int32
position and an fp32 value): the 95% rung's convolutions take 3.4 MB instead of 35 MB. The weight is
rebuilt, exactly, each time the layer runs, so every output equals the full model's bit for bit.

A compact model is for inference and inspection only: its packed weights are buffers, not
parameters, so pruning, training and parameter counts need the model :func:`~vggexplorer.load_model`
returns.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import model_from_checkpoint, read_checkpoint, unpack_mask
from .vgg import VGG, short_name

# Packing pays when it at least halves a layer: 8 bytes per non-zero against 4 per weight.
MAX_DENSITY = 0.25


class PackedConv2d(nn.Conv2d):
    """A conv layer that stores its non-zero weights only; ``weight`` is rebuilt (fp32, exact) on each use."""

    def __init__(self, conv: nn.Conv2d, index: torch.Tensor, values: torch.Tensor) -> None:
        """``conv``'s shape and bias, and its non-zero weights: flat positions ``index`` and their ``values``."""
        with torch.device("meta"):  # the full weight is never allocated
            super().__init__(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                             conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode)
        del self._parameters["weight"]
        if conv.bias is not None:
            self.bias = nn.Parameter(conv.bias.detach(), requires_grad=False)
        self.register_buffer("nz_index", index.to(torch.int32))
        self.register_buffer("nz_value", values.float())
        self.weight_shape = (conv.out_channels, conv.in_channels // conv.groups, *conv.kernel_size)

    def reset_parameters(self) -> None:
        """Nothing to initialise: the weights come from the layer packed."""

    @property
    def weight(self) -> torch.Tensor:  # type: ignore[override]
        w = torch.zeros(math.prod(self.weight_shape), dtype=self.nz_value.dtype)
        w[self.nz_index.long()] = self.nz_value
        return w.view(self.weight_shape)


def load_compact(path: str | Path, max_density: float = MAX_DENSITY) -> VGG:
    """The checkpoint at ``path`` with its conv layers of at most ``max_density`` non-zero weights packed, built
    from the file's packed non-zeros: those layers are never unpacked in full (a transient full copy would
    stay resident in the allocator). Every output equals :func:`~vggexplorer.load_model`'s bit for bit."""
    ckpt = dict(read_checkpoint(path))
    sparse = dict(ckpt.get("sparse", {}))
    held = {}  # name -> packed entry
    for name, p in list(sparse.items()):
        numel = math.prod(int(d) for d in p["shape"])
        if name.startswith("backbone.conv") and name.endswith(".weight") and p["values"].numel() <= max_density * numel:
            held[name] = sparse.pop(name)
    # a stand-in of the right shape and no memory, so the strict key and shape checks still run
    ckpt["state_dict"] = {**ckpt.get("state_dict", {}),
                          **{n: torch.zeros(()).expand(*(int(d) for d in p["shape"])) for n, p in held.items()}}
    ckpt["sparse"] = sparse
    model = model_from_checkpoint(ckpt, str(path), folder=Path(path).parent)  # its folder's normalization.json
    for name, p in held.items():
        index = torch.from_numpy(np.flatnonzero(unpack_mask(name, p, str(path))))
        layer = short_name(name)
        setattr(model.backbone, layer, PackedConv2d(model.backbone.get_submodule(layer), index, p["values"]))
    return model
