"""Hooked inference: the post-ReLU maps of every conv block, safe on a model shared by many threads.

A model cached by Streamlit (``st.cache_resource``) is shared by every session and thread, so
registering hooks on it is a mutation of shared state. Two rules keep that correct:

* a per-model lock serialises hook registration + forward + removal, so only one capture's
  hooks are ever attached to a model at a time, and they are removed in ``finally``;
* each hook writes into per-call state and also checks the calling thread, so a plain forward
  that another thread runs on the same model at the same time is never recorded.

The ReLUs are in-place: a hook *before* a ReLU (say on its BatchNorm) would see the tensor it
kept overwritten. After the ReLU the tensor is final as long as the module that consumes it next
only reads it; here that is a Conv2d or a MaxPool2d. So captures keep the ReLU's output without
a copy when the next module is known to be read-only, and clone it otherwise (any module with
``inplace=True``, or of an unknown kind). Skipping a 420 MB copy per 256-image batch is what keeps
a capture within 10% of a bare forward; ``tests/probe/test_hooks.py`` checks both paths.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ..data.images import preprocess
from ..model.vgg import blocks

_LOCKS: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The lock that serialises hooked passes on ``model`` (one per model object)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


def relu_modules(model: nn.Module) -> "OrderedDict[str, nn.Module]":
    """Block name (``conv0``..) -> the ReLU that ends it, in forward order."""
    return OrderedDict((name, b.relu) for name, b in blocks(model).items())


# Modules that never write into their input.
_READ_ONLY = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Linear, nn.Flatten, nn.Identity)


def needs_copy(model: nn.Module) -> dict[str, bool]:
    """Block -> whether a kept post-ReLU tensor must be cloned because the next module may modify it."""
    children = list(model.backbone.children())
    out = {}
    for name, b in blocks(model).items():
        nxt = children[b.relu_index + 1] if b.relu_index + 1 < len(children) else None
        safe = isinstance(nxt, _READ_ONLY) and not getattr(nxt, "inplace", False)
        out[name] = not safe
    return out


def own(out: torch.Tensor, copy: bool) -> torch.Tensor:
    """A float32 CPU tensor that no later module will write into.

    Its memory format is the one the forward produced (oneDNN's convolutions return channels-last
    on CPU): converting 420 MB per 256 images to NCHW would cost as much as the copy avoided.
    """
    if copy or out.dtype != torch.float32 or out.device.type != "cpu":
        return out.detach().to("cpu", torch.float32, copy=True)
    return out.detach()


@contextmanager
def block_hooks(model: nn.Module, on_block: Callable[[str, torch.Tensor], Any],
                blocks: list[str] | None = None) -> Iterator[None]:
    """Attach forward hooks after each block's ReLU for the duration of the ``with``.

    ``on_block(name, output)`` runs only for forwards on the calling thread (a returned tensor
    would replace the block's output, as with any forward hook). Holds the model's lock for the
    whole ``with`` and always removes the hooks.
    """
    owner = threading.get_ident()
    relus = relu_modules(model)
    wanted = blocks or list(relus)
    unknown = [b for b in wanted if b not in relus]
    if unknown:
        raise ValueError(f"unknown blocks {unknown}; the model has {list(relus)}")

    def make(name: str):
        def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> torch.Tensor | None:
            if threading.get_ident() != owner:
                return None
            return on_block(name, out)
        return hook

    with model_lock(model):
        handles = []
        try:
            for name in wanted:
                handles.append(relus[name].register_forward_hook(make(name)))
            yield
        finally:
            for h in handles:
                h.remove()


@dataclass
class Capture:
    """Result of one hooked forward pass."""

    activations: "OrderedDict[str, torch.Tensor]"  # block -> [N, C, H, W] float32, CPU
    logits: torch.Tensor  # [N, 10] float32
    probs: torch.Tensor  # [N, 10] float32, softmax of logits

    def block(self, name: str, index: int = 0) -> torch.Tensor:
        """One image's maps of one block: ``[C, H, W]``."""
        return self.activations[name][index]


def _as_input(model: nn.Module, images: Any) -> torch.Tensor:
    """Float tensors ``[N, 3, H, W]`` pass through (already preprocessed); anything else is preprocessed."""
    if isinstance(images, torch.Tensor) and images.is_floating_point():
        return images if images.dim() == 4 else images.unsqueeze(0)
    return preprocess(images, model)


def _check_eval(model: nn.Module) -> None:
    if model.training:
        # Switching a shared model to eval here would be a mutation other threads can see.
        raise ValueError("The model is in training mode (BatchNorm would update its statistics). "
                         "Call model.eval() once after loading; vggexplorer.load_model does this.")


@torch.no_grad()
def block_output(model: nn.Module, images: Any, block: str) -> torch.Tensor:
    """``block``'s post-ReLU maps ``[N, C, H, W]``, running the backbone only as far as that block.

    Nothing after a block can change its output, so the rest of the network is skipped (for ``conv1``
    that is 87% of the multiply-accumulates). No hooks: the model is only called, never modified.
    """
    _check_eval(model)
    relus = relu_modules(model)
    if block not in relus:
        raise ValueError(f"unknown block {block!r}; the model has {list(relus)}")
    x = _as_input(model, images)
    for layer in model.backbone.children():
        x = layer(x)  # the in-place ReLU writes into this call's own intermediate
        if layer is relus[block]:
            return x.float()
    raise AssertionError("unreachable: the block's ReLU is in the backbone")


@torch.no_grad()
def capture_activations(model: nn.Module, images: Any, blocks: list[str] | None = None) -> Capture:
    """One forward pass recording every block's post-ReLU maps, plus logits and probabilities.

    ``images``: PIL image(s), uint8 array(s) ``[N, H, W, 3]``, or a preprocessed float tensor
    ``[N, 3, 32, 32]``. The model must be in eval mode; it is not modified.
    """
    _check_eval(model)
    x = _as_input(model, images)
    acts: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    copy = needs_copy(model)

    def keep(name: str, out: torch.Tensor) -> None:
        acts[name] = own(out, copy[name])

    with block_hooks(model, keep, blocks):
        logits = model(x).float().cpu()
    return Capture(acts, logits, logits.softmax(1))
