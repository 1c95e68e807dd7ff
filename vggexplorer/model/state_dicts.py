"""What training scripts save, turned into the course-lab VGG's state_dict.

A checkpoint written by someone else's code is a state_dict with some of these on it, in any combination:

- a wrapper dict: the weights under ``"state_dict"``, ``"model"``, ``"model_state_dict"`` or ``"net"``, with the
  epoch, the optimizer, the accuracy ... beside them, a wrapper inside a wrapper too;
- key prefixes: ``module.`` (``nn.DataParallel`` / DDP) and ``_orig_mod.`` (``torch.compile``), nested, in any order;
- ``torch.nn.utils.prune``'s re-parametrisation: ``<name>_orig`` and ``<name>_mask`` instead of ``<name>``; the
  weight the pruned model runs with is ``orig * mask``, so the mask's zeros are the pruned weights;
- fp16 or bf16 tensors (run in fp32).

:func:`normalise_state_dict` undoes them all and says, in one short phrase, what it found.
"""

from __future__ import annotations

import pickletools
import zipfile
from typing import Any, Mapping

import torch

from ..errors import VGGExplorerError
from .vgg import NUM_CLASSES, VGG_CFG, block_widths

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net")
# a module name that wrapping adds to every key below it -> what adds it
WRAPPER_MODULES = {"module": "DataParallel", "_orig_mod": "torch.compile"}
PRUNE = "torch.nn.utils.prune"
HALF_DTYPES = {torch.float16: "fp16", torch.bfloat16: "bf16"}
SAVE_WEIGHTS = "torch.save(model.state_dict(), path)"  # the one-line fix for a file that is not plain weights


class CheckpointError(VGGExplorerError, RuntimeError):
    """A checkpoint cannot be used; the message names the problem and the fix."""


def is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap(obj: Any, name: str) -> tuple[Mapping[str, torch.Tensor], list[str]]:
    """The tensor dict inside ``obj`` and the wrapper keys passed on the way (``[]`` for a bare state_dict)."""
    path: list[str] = []
    while isinstance(obj, Mapping) and not is_tensor_dict(obj) and len(path) < 8:
        key = next((k for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if key is None:
            break
        path.append(key)
        obj = obj[key]
    if not is_tensor_dict(obj):
        keys = sorted(map(str, obj))[:8] if isinstance(obj, Mapping) else None
        found = f"its keys are {keys}" if keys is not None else f"it holds a {type(obj).__name__}"
        under = f" (under {' > '.join(repr(k) for k in path)})" if path else ""
        raise CheckpointError(
            f"{name} holds no state_dict of tensors: {found}{under}. Expected a vggexplorer checkpoint, a state_dict, "
            f"or a dict with the weights under {', '.join(repr(k) for k in WRAPPER_KEYS)}. Save the weights with "
            f"{SAVE_WEIGHTS}.")
    return obj, path


def strip_wrapper_modules(sd: Mapping[str, torch.Tensor], name: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``module.`` and ``_orig_mod.`` removed wherever they are in a key, and what added them, in
    :data:`WRAPPER_MODULES` order (``["DataParallel", "torch.compile"]``)."""
    out: dict[str, torch.Tensor] = {}
    found: set[str] = set()
    for key, t in sd.items():
        parts = key.split(".")
        kept = [p for p in parts[:-1] if p not in WRAPPER_MODULES] + parts[-1:]
        found |= {p for p in parts[:-1] if p in WRAPPER_MODULES}
        new = ".".join(kept)
        if new in out:
            raise CheckpointError(f"{name} holds '{new}' twice once the 'module.' and '_orig_mod.' prefixes are "
                                  f"removed: it is two models in one file. Save one model with {SAVE_WEIGHTS}.")
        out[new] = t
    return out, [what for module, what in WRAPPER_MODULES.items() if module in found]


def fold_prune_masks(sd: Mapping[str, torch.Tensor], name: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``<p>_orig`` and ``<p>_mask`` folded into ``<p> = orig * mask`` (what the pruned model runs with), and the
    folded names ``<p>``, in the file's order."""
    out = dict(sd)
    folded = []
    for key in sd:
        base = key[: -len("_orig")]
        if not key.endswith("_orig") or base + "_mask" not in sd:
            continue
        orig, mask = out.pop(key), out.pop(base + "_mask")
        if base in sd:
            raise CheckpointError(f"{name} holds '{base}' and also '{key}' with '{base}_mask': keep one. "
                                  "torch.nn.utils.prune.remove(module, 'weight') makes the pruning permanent.")
        if orig.shape != mask.shape:
            raise CheckpointError(f"{name}: '{key}' is {tuple(orig.shape)} but its mask '{base}_mask' is "
                                  f"{tuple(mask.shape)}: the file is damaged.")
        out[base] = orig.float() * mask.float()
        folded.append(base)
    return out, folded


def normalise_state_dict(obj: Any, name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The course-lab state_dict in whatever ``obj`` is (see the module's docstring), and what was found:
    ``{"source": "DataParallel torch.nn.utils.prune fp16 state_dict under 'model'", "folded_masks": [...]}``."""
    sd, path = unwrap(obj, name)
    half = sorted({HALF_DTYPES[t.dtype] for t in sd.values() if t.dtype in HALF_DTYPES})
    sd, wrapped = strip_wrapper_modules(sd, name)
    sd, folded = fold_prune_masks(sd, name)
    words = wrapped + ([PRUNE] if folded else []) + half
    source = " ".join((words or ([] if path else ["bare"])) + ["state_dict"])
    if path:
        source += " under " + " > ".join(repr(k) for k in path)
    return sd, {"source": source, "folded_masks": folded}


def check_keys(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], name: str) -> None:
    """Raise :class:`CheckpointError` naming shape mismatches (first: the first layer that differs, with both
    shapes), missing and unexpected keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    extra = [k for k in state_dict if k not in expected]
    shapes = [(k, tuple(state_dict[k].shape), tuple(v.shape)) for k, v in expected.items()
              if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f"missing keys {missing[:6]}{' ...' if len(missing) > 6 else ''}")
    if extra:
        problems.append(f"unexpected keys {extra[:6]}{' ...' if len(extra) > 6 else ''}")
    if shapes:
        rest = [f"{k}: file {f} vs {e}" for k, f, e in shapes[1:7]]
        if rest:
            more = len(shapes) - 1
            problems.insert(0, f"{more} more {'tensor differs' if more == 1 else 'tensors differ'} ({'; '.join(rest)}"
                               f"{' ...' if len(shapes) > 7 else ''})")
        key, got, want = shapes[0]
        if key == "classifier.weight" and got[1:] == want[1:]:
            why = (f"This model has {got[0]} outputs; VGG Explorer needs the {NUM_CLASSES} CIFAR-10 classes.")
        else:
            why = ("This looks like a channel-pruned model (other conv widths), which VGG Explorer cannot compare "
                   f"channel by channel: it needs the course-lab widths {list(block_widths().values())}, with "
                   "pruned weights set to zero.")
        raise CheckpointError(f"{name} has wrong shapes for the course-lab VGG: {key} is {got} in the file and "
                              f"{want} in the course-lab VGG. {why}"
                              + (f" Also: {'; '.join(problems)}." if problems else ""))
    if problems:
        raise CheckpointError(
            f"{name} does not match the course-lab VGG {VGG_CFG}: " + "; ".join(problems) + ". Expected keys like "
            "'backbone.conv0.weight' and 'classifier.weight' ('module.' and '_orig_mod.' prefixes and "
            "torch.nn.utils.prune's weight_orig/weight_mask are read as well).")


def pickled_globals(source: Any, limit: int = 1 << 24) -> set[str]:
    """The ``module.name`` of every class a ``torch.save`` zip's pickle imports, read with :mod:`pickletools`
    (nothing is unpickled, nothing runs); empty when the file cannot be read that way."""
    try:
        if hasattr(source, "seek"):
            source.seek(0)
        with zipfile.ZipFile(source) as z:
            member = next(n for n in z.namelist() if n.endswith("data.pkl"))
            if z.getinfo(member).file_size > limit:
                return set()
            data = z.read(member)
        found, strings = set(), []
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                found.add(".".join(str(arg).split(" ", 1)))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.add(".".join(strings[-2:]))
            elif isinstance(arg, str):
                strings.append(arg)
        return found
    except Exception:
        return set()
    finally:
        if hasattr(source, "seek"):
            source.seek(0)


def is_whole_model(refused: str, globals_: set[str]) -> bool:
    """Whether a pickle that imports ``refused`` (and ``globals_``) is a whole ``torch.save(model)``: it pickles
    ``torch.nn`` modules."""
    return any(g.startswith("torch.nn.modules.") for g in {refused, *globals_})
