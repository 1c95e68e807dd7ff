"""Hooked inference: the post-ReLU maps of every conv block, safe on a model shared by many threads.

A model cached by Streamlit (``st.cache_resource``) is shared by every session and thread, so
registering hooks on it is a mutation of shared state. Two rules keep that correct:

* a per-model lock serialises hook registration + forward + removal, so only one capture's
  hooks are ever attached to a model at a time, and they are removed in ``finally``;
* each hook writes into per-call state and also checks the calling thread, so a plain forward
  that another thread runs on the same model at the same time is never recorded.

The ReLUs are in-place, so hooks clone what they keep.
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

from .images import preprocess

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
    out: "OrderedDict[str, nn.Module]" = OrderedDict()
    for name, mod in model.backbone.named_children():
        if name.startswith("relu"):
            out["conv" + name[len("relu"):]] = mod
    return out


@contextmanager
def block_hooks(model: nn.Module, on_block: Callable[[str, torch.Tensor], Any],
                blocks: list[str] | None = None) -> Iterator[None]:
    """Attach forward hooks after each block's ReLU for the duration of the ``with``.

    ``on_block(name, output)`` runs only for forwards on the calling thread; if it returns a
    tensor, that tensor replaces the block's output (used for ablation). Holds the model's lock
    for the whole ``with`` and always removes the hooks.
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
def capture_activations(model: nn.Module, images: Any, blocks: list[str] | None = None) -> Capture:
    """One forward pass recording every block's post-ReLU maps, plus logits and probabilities.

    ``images``: PIL image(s), uint8 array(s) ``[N, H, W, 3]``, or a preprocessed float tensor
    ``[N, 3, 32, 32]``. The model must be in eval mode; it is not modified.
    """
    _check_eval(model)
    x = _as_input(model, images)
    acts: "OrderedDict[str, torch.Tensor]" = OrderedDict()

    def keep(name: str, out: torch.Tensor) -> None:
        # clone: the ReLU is in-place and later code may reuse the buffer
        acts[name] = out.detach().to("cpu", torch.float32, memory_format=torch.contiguous_format, copy=True)

    with block_hooks(model, keep, blocks):
        logits = model(x).float().cpu()
    return Capture(acts, logits, logits.softmax(1))


@torch.no_grad()
def forward_blocks_manually(model: nn.Module, x: torch.Tensor) -> tuple["OrderedDict[str, torch.Tensor]", torch.Tensor]:
    """Reference without hooks: walk ``model.backbone`` module by module (used by tests)."""
    acts: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    h = x
    for name, mod in model.backbone.named_children():
        h = mod(h)
        if name.startswith("relu"):
            acts["conv" + name[len("relu"):]] = h.clone()
    logits = model.classifier(h.mean([2, 3]))
    return acts, logits
