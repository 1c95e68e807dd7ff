"""Self-describing checkpoints: weights plus the metadata that made them.

A shipped checkpoint is a plain dict that ``torch.load(..., weights_only=True)`` reads:

    {"format": "vggexplorer", "version": 1,
     "arch": {"cfg": [...], "num_classes": 10},
     "state_dict": {name: tensor},              # dense weights (fp16 or fp32)
     "sparse": {name: {"values": tensor,        # only the non-zeros, in row-major order
                       "mask": uint8 tensor,    # np.packbits of (weight != 0)
                       "shape": [..]}},
     "meta": {"role", "normalization", "classes", "recipe", "metrics", "pruning", ...}}

A bare course-lab state_dict (keys like ``backbone.conv0.weight``, plain or under
``"state_dict"``) loads too; it carries no metadata, so it is run as the lab ran it:
``ToTensor()`` inputs with no mean/std normalization.
"""

from __future__ import annotations

from ..errors import VGGExplorerError
from ..files import atomic_write

import json
import math
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .vgg import CIFAR10_CLASSES, NUM_CLASSES, VGG, VGG_CFG, sparsity_of

FORMAT = "vggexplorer"
VERSION = 1
MAX_CHECKPOINT_BYTES = 200 * 1024 * 1024  # a VGG of this size is 35 MB in fp32


class CheckpointError(VGGExplorerError, RuntimeError):
    """A checkpoint cannot be used; the message names the problem and the fix."""


def pack_state_dict(state_dict: Mapping[str, torch.Tensor], half: bool = True,
                    sparse: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, Any]]]:
    """Split a state_dict into dense tensors and (if ``sparse``) packed non-zeros of the dim>1 weights.

    Floating tensors go to fp16 when ``half``; masks are bit-packed, so a 50%-sparse conv weight
    costs 2 bytes per non-zero plus 1 bit per element.
    """
    dense: dict[str, torch.Tensor] = {}
    packed: dict[str, dict[str, Any]] = {}
    for name, t in state_dict.items():
        t = t.detach().cpu()
        if t.is_floating_point() and half:
            t = t.half()
        if sparse and t.dim() > 1:
            nz = t != 0
            packed[name] = {
                "values": t[nz].clone(),
                "mask": torch.from_numpy(np.packbits(nz.numpy().reshape(-1))),
                "shape": list(t.shape),
            }
        else:
            dense[name] = t.clone()
    return dense, packed


def unpack_mask(name: str, packed: Mapping[str, Any], source: str | None = None) -> np.ndarray:
    """A packed tensor's mask (see :func:`pack_state_dict`) as a flat bool array of its ``numel``, checked against
    its values: a count that differs raises :class:`CheckpointError` naming the tensor (and ``source``, the file)."""
    numel = math.prod(int(s) for s in packed["shape"])
    mask = np.unpackbits(packed["mask"].numpy())[:numel].astype(bool)
    if int(mask.sum()) != packed["values"].numel():
        where = f" in {source}" if source else ""
        raise CheckpointError(f"Sparse tensor '{name}'{where} has {packed['values'].numel()} values for "
                              f"{int(mask.sum())} mask bits: the file is damaged. Re-create it with "
                              "`python -m vggexplorer prune`.")
    return mask


def unpack_state_dict(dense: Mapping[str, torch.Tensor],
                      packed: Mapping[str, Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`pack_state_dict`, with every floating tensor back in fp32."""
    out: dict[str, torch.Tensor] = {}
    for name, t in dense.items():
        out[name] = t.float() if t.is_floating_point() else t
    for name, p in packed.items():
        mask = unpack_mask(name, p)
        full = torch.zeros(mask.size, dtype=torch.float32)
        full[torch.from_numpy(mask)] = p["values"].float()
        out[name] = full.view([int(s) for s in p["shape"]])
    return out


def make_checkpoint(model: torch.nn.Module, meta: dict[str, Any], half: bool = True,
                    sparse: bool = False) -> dict[str, Any]:
    """Build the dict that :func:`save_checkpoint` writes."""
    dense, packed = pack_state_dict(model.state_dict(), half=half, sparse=sparse)
    return {
        "format": FORMAT,
        "version": VERSION,
        "arch": {"cfg": list(getattr(model, "cfg", VGG_CFG)), "num_classes": NUM_CLASSES},
        "state_dict": dense,
        "sparse": packed,
        "meta": meta,
    }


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict[str, Any], half: bool = True,
                    sparse: bool = False) -> Path:
    """Write a self-describing checkpoint atomically (temp file, then rename)."""
    path = Path(path)
    # Round-trip through JSON so the metadata is plain data that weights_only loading accepts.
    meta = json.loads(json.dumps(meta))
    with atomic_write(path) as tmp:
        torch.save(make_checkpoint(model, meta, half=half, sparse=sparse), tmp)
    return path


def read_checkpoint(source: str | Path | Any, max_bytes: int = MAX_CHECKPOINT_BYTES) -> dict[str, Any]:
    """Read a file (path or binary file object) with ``weights_only=True`` and normalise it to our dict layout.

    Never unpickles code: a pickle that would run code is refused with :class:`CheckpointError`.
    """
    name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "uploaded file")
    if isinstance(source, (str, Path)):
        p = Path(source)
        if not p.exists():
            raise CheckpointError(f"Checkpoint not found: {p}.")
        if not p.is_file():
            raise CheckpointError(f"{p} is a directory, not a checkpoint file.")
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(8)
    else:
        source.seek(0, 2)
        size = source.tell()
        source.seek(0)
        head = source.read(8)
        source.seek(0)
    if size > max_bytes:
        raise CheckpointError(f"{name} is {size / 2**20:.0f} MB, over the {max_bytes / 2**20:.0f} MB limit: "
                              "this VGG is 35 MB in fp32, so this file is not one of its checkpoints.")
    if size == 0:
        raise CheckpointError(f"{name} is empty.")
    # torch.save writes a zip archive (legacy files: a pickle, protocol byte 0x80); anything else would
    # only get a cryptic unpickler error such as "KeyError: 101"
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):
        raise CheckpointError(f"{name} is not a PyTorch checkpoint: torch.save files are zip archives, and this "
                              f"one starts with {head!r}. Save it with torch.save(model.state_dict(), path).")
    try:
        obj = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        refused = re.search(r"GLOBAL ([\w.]+)", str(e))  # the import the safe unpickler would not run
        if refused is None:  # no refused import: the pickle stream itself is broken
            detail = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.startswith((
                "Weights only", "Check the documentation", "Please file an issue"))]
            raise CheckpointError(f"{name} is damaged: its pickle data cannot be read "
                                  f"({(detail[0] if detail else type(e).__name__)[:200]}). "
                                  "Save it again with torch.save(model.state_dict(), path).") from e
        raise CheckpointError(
            f"{name} is not plain weights: it holds Python objects that torch.load(weights_only=True) refuses "
            f"to run (it imports {refused.group(1)}). Save only tensors, e.g. torch.save(model.state_dict(), path)."
        ) from e
    except Exception as e:  # zip/pickle damage, wrong file type
        raise CheckpointError(f"{name} is not a PyTorch checkpoint or is damaged ({type(e).__name__}: "
                              f"{_first_sentence(str(e))}). Save it with torch.save(model.state_dict(), path).") from e
    return normalise_checkpoint(obj, name)


def _first_sentence(text: str, limit: int = 160) -> str:
    """The first sentence of a library's error: torch's zip errors run on for several lines of advice."""
    text = " ".join(text.split())
    end = text.find(". ")
    text = text[:end] if end > 0 else text.rstrip(".")
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def normalise_checkpoint(obj: Any, name: str = "checkpoint") -> dict[str, Any]:
    """Turn our format, a bare lab state_dict, or ``{"state_dict": ...}`` into our dict layout."""
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        if int(obj.get("version", 0)) > VERSION:
            raise CheckpointError(f"{name} is format version {obj['version']}; this vggexplorer reads up to "
                                  f"{VERSION}. Upgrade vggexplorer.")
        return dict(obj)
    sd = obj.get("state_dict") if isinstance(obj, Mapping) and "state_dict" in obj else obj
    if not _is_tensor_dict(sd):
        raise CheckpointError(f"{name} holds no state_dict of tensors. Expected a vggexplorer checkpoint, a "
                              "state_dict, or a dict with the weights under 'state_dict' (the course lab's layout).")
    return {
        "format": FORMAT,
        "version": VERSION,
        "arch": {"cfg": list(VGG_CFG), "num_classes": NUM_CLASSES},
        "state_dict": dict(sd),
        "sparse": {},
        # The lab trains and tests on ToTensor() images: no mean/std normalization.
        "meta": {"role": None, "normalization": None, "classes": list(CIFAR10_CLASSES), "source": "bare state_dict"},
    }


def check_keys(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], name: str) -> None:
    """Raise :class:`CheckpointError` naming missing/unexpected keys and shape mismatches."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    extra = [k for k in state_dict if k not in expected]
    shapes = [f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f"missing keys {missing[:6]}{' ...' if len(missing) > 6 else ''}")
    if extra:
        problems.append(f"unexpected keys {extra[:6]}{' ...' if len(extra) > 6 else ''}")
    if shapes:
        problems.append(f"wrong shapes {shapes[:4]}{' ...' if len(shapes) > 4 else ''}")
    if problems:
        raise CheckpointError(
            f"{name} does not match the course-lab VGG {VGG_CFG}: " + "; ".join(problems) + ". "
            "Expected keys like 'backbone.conv0.weight' and 'classifier.weight'; a model saved with "
            "DataParallel needs its 'module.' prefix stripped."
        )


def nonfinite_tensors(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of floating tensors that hold NaN or infinite values."""
    return [k for k, v in state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]


def model_from_checkpoint(ckpt: Mapping[str, Any], name: str = "checkpoint") -> VGG:
    """Build the VGG, load the weights strictly, and return it in eval mode with ``.meta`` attached."""
    arch = ckpt.get("arch", {})
    cfg = list(arch.get("cfg", VGG_CFG))
    if cfg != list(VGG_CFG):
        raise CheckpointError(f"{name} describes architecture {cfg}; VGG Explorer supports {VGG_CFG}.")
    with torch.device("meta"):  # no memory and no random init: every tensor comes from the file
        model = VGG(cfg, int(arch.get("num_classes", NUM_CLASSES)))
    sd = unpack_state_dict(ckpt.get("state_dict", {}), ckpt.get("sparse", {}))
    check_keys(model, sd, name)  # names every mismatch, where load_state_dict would stop at the first
    model.load_state_dict(sd, strict=True, assign=True)
    model.eval()
    meta = dict(ckpt.get("meta", {}))
    meta["nonfinite"] = nonfinite_tensors(sd)
    if meta.get("role") is None:
        meta["role"] = "pruned" if sparsity_of(v for v in sd.values() if v.dim() > 1) > 0.2 else "dense"
    model.meta = meta  # type: ignore[attr-defined]
    return model


def load_model(path: str | Path | Any) -> VGG:
    """Load a checkpoint (ours or a bare lab state_dict) as a CPU model in eval mode.

    The returned model has ``.meta`` with at least ``normalization`` (None = ``ToTensor()`` only),
    ``classes`` and ``role``; pass it to :func:`vggexplorer.preprocess` to build inputs.
    """
    name = str(path) if isinstance(path, (str, Path)) else getattr(path, "name", "uploaded file")
    return model_from_checkpoint(read_checkpoint(path), name)
