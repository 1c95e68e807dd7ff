"""Self-describing checkpoints: weights plus the metadata that made them.

A shipped checkpoint is a plain dict that ``torch.load(..., weights_only=True)`` reads:

    {"format": "vggexplorer", "version": 1,
     "arch": {"cfg": [...], "num_classes": 10},
     "state_dict": {name: tensor},              # dense weights (fp16 or fp32)
     "sparse": {name: {"values": tensor,        # only the non-zeros, in row-major order
                       "mask": uint8 tensor,    # np.packbits of (weight != 0)
                       "shape": [..]}},
     "meta": {"role", "normalization", "classes", "recipe", "metrics", "pruning", ...}}

A course-lab state_dict (keys like ``backbone.conv0.weight``) loads too, as training scripts save it: under
``"state_dict"``, ``"model"``, ``"model_state_dict"`` or ``"net"``, with ``module.`` / ``_orig_mod.`` prefixes,
``torch.nn.utils.prune``'s ``weight_orig`` / ``weight_mask``, in fp16 or bf16 (see :mod:`.state_dicts`).

The input normalization (``meta["normalization"]``, where it came from in ``meta["normalization_source"]``): a
``normalization.json`` in the checkpoint's folder, else the checkpoint's metadata, else the course lab's convention,
``ToTensor()`` inputs with no mean/std.
"""

from __future__ import annotations

from ..data.images import (CIFAR10_NORMALIZATION, FROM_CHECKPOINT, FROM_FILE, FROM_LAB, IDENTITY, NORMALIZATION_FILE,
                           NORMALIZATION_PRESETS, PRESET_CHECKPOINT, PRESET_LABELS, is_identity)
from ..files import atomic_write

import json
import math
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .state_dicts import (SAVE_WEIGHTS, CheckpointError, check_keys, is_whole_model, normalise_state_dict,
                          pickled_globals)
from .vgg import CIFAR10_CLASSES, NUM_CLASSES, VGG, VGG_CFG, sparsity_of

FORMAT = "vggexplorer"
VERSION = 1
MAX_CHECKPOINT_BYTES = 200 * 1024 * 1024  # a VGG of this size is 35 MB in fp32


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
        if is_whole_model(refused.group(1), pickled_globals(source)):
            raise CheckpointError(
                f"{name} is a whole pickled model (torch.save(model)): loading it would run its code (it imports "
                f"{refused.group(1)}), which torch.load(weights_only=True) refuses. Fix: {SAVE_WEIGHTS}") from e
        raise CheckpointError(
            f"{name} is not plain weights: it holds Python objects that torch.load(weights_only=True) refuses "
            f"to run (it imports {refused.group(1)}). Save only tensors, e.g. {SAVE_WEIGHTS}."
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


def normalise_checkpoint(obj: Any, name: str = "checkpoint") -> dict[str, Any]:
    """Turn our format, or a lab state_dict as a training script saves it (:mod:`.state_dicts`), into our layout.
    The latter's ``meta`` says what the file was (``source``) and which pruning masks were folded in
    (``folded_masks``); it has no ``normalization``: none was recorded."""
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        if int(obj.get("version", 0)) > VERSION:
            raise CheckpointError(f"{name} is format version {obj['version']}; this vggexplorer reads up to "
                                  f"{VERSION}. Upgrade vggexplorer.")
        return dict(obj)
    sd, found = normalise_state_dict(obj, name)
    return {
        "format": FORMAT,
        "version": VERSION,
        "arch": {"cfg": list(VGG_CFG), "num_classes": NUM_CLASSES},
        "state_dict": sd,
        "sparse": {},
        "meta": {"role": None, "classes": list(CIFAR10_CLASSES), **found},
    }


def nonfinite_tensors(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of floating tensors that hold NaN or infinite values."""
    return [k for k, v in state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]


NORMALIZATION_EXPECTED = ('{"mean": [r, g, b], "std": [r, g, b]}, 3 finite numbers each and every std > 0 (mean 0 '
                          f'and std 1: no normalization), e.g. {json.dumps(CIFAR10_NORMALIZATION)}')


def check_normalization(norm: Any, where: str) -> dict[str, list[float]] | None:
    """``norm`` as plain data, ``{"mean": [3 floats], "std": [3 floats]}``, or None when it is mean 0 and std 1 (no
    normalization); anything else raises :class:`CheckpointError` naming ``where``, what is wrong, and what is
    expected."""
    def bad(problem: str) -> CheckpointError:
        return CheckpointError(f"{where} {problem}. Expected {NORMALIZATION_EXPECTED}.")

    if not isinstance(norm, Mapping):
        raise bad(f"holds {json.dumps(norm, default=str)[:60]}, not an object with a mean and a std")
    missing, extra = [k for k in ("mean", "std") if k not in norm], sorted(set(map(str, norm)) - {"mean", "std"})
    if missing or extra:
        raise bad(", ".join(([f"has no {' and no '.join(missing)}"] if missing else [])
                            + ([f"has unexpected keys {extra}"] if extra else [])))
    out = {}
    for key in ("mean", "std"):
        v = norm[key]
        shown = json.dumps(v, default=str)[:60]
        if not isinstance(v, (list, tuple)) or len(v) != 3:
            raise bad(f"has {key} {shown}: not a list of 3 numbers (r, g, b)")
        if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in v):
            raise bad(f"has {key} {shown}: not all numbers")
        if not all(math.isfinite(x) for x in v):
            raise bad(f"has {key} {shown}: not all finite")
        out[key] = [float(x) for x in v]
    if any(x <= 0 for x in out["std"]):
        raise bad(f"has std {json.dumps(norm['std'])}: every std must be > 0")
    return None if is_identity(out) else out


def read_normalization_file(folder: str | Path) -> tuple[bool, dict[str, list[float]] | None]:
    """(whether ``folder`` has a ``normalization.json``, what it says: see :func:`check_normalization`); a file
    that is not valid JSON of that form raises :class:`CheckpointError` naming it."""
    path = Path(folder) / NORMALIZATION_FILE
    if not path.exists():
        return False, None
    if not path.is_file() or path.stat().st_size > 64 * 1024:
        raise CheckpointError(f"{path} is {'not a file' if not path.is_file() else 'over 64 KB'}. Expected "
                              f"{NORMALIZATION_EXPECTED}.")
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e}). Expected {NORMALIZATION_EXPECTED}.") from e
    return True, check_normalization(obj, str(path))


def resolve_normalization(meta: Mapping[str, Any], name: str,
                          folder: str | Path | None) -> tuple[dict[str, list[float]] | None, str]:
    """(normalization, where it came from): ``folder``'s normalization.json, else the checkpoint's
    ``meta["normalization"]``, else the course lab's convention (None: ``ToTensor()`` only)."""
    found, norm = read_normalization_file(folder) if folder is not None else (False, None)
    if found:
        return norm, FROM_FILE
    if "normalization" in meta:
        norm = meta["normalization"]
        return (check_normalization(norm, f"{name}'s meta['normalization']") if norm else None), FROM_CHECKPOINT
    return None, FROM_LAB


def write_normalization(folder: str | Path, preset_or_dict: str | Mapping[str, Any] | None) -> Path | None:
    """Write ``folder``'s normalization.json atomically, for every checkpoint in ``folder``: a preset of
    :data:`~vggexplorer.data.images.PRESET_LABELS` (the lab's writes mean 0 and std 1, no normalization) or a
    ``{"mean", "std"}`` (checked; None: no normalization). :data:`PRESET_CHECKPOINT` removes the file instead, so
    each checkpoint's metadata decides. Returns the file written, or None."""
    path = Path(folder) / NORMALIZATION_FILE
    if isinstance(preset_or_dict, str):
        if preset_or_dict == PRESET_CHECKPOINT:
            path.unlink(missing_ok=True)
            return None
        if preset_or_dict not in NORMALIZATION_PRESETS:
            raise CheckpointError(f"Unknown normalization preset {preset_or_dict!r}: choose one of "
                                  f"{list(PRESET_LABELS)}.")
        norm = NORMALIZATION_PRESETS[preset_or_dict]
    else:
        norm = check_normalization(preset_or_dict, "The normalization to write") if preset_or_dict else None
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(norm or IDENTITY) + "\n")
    return path


def model_from_checkpoint(ckpt: Mapping[str, Any], name: str = "checkpoint", folder: str | Path | None = None) -> VGG:
    """Build the VGG, load the weights strictly, and return it in eval mode with ``.meta`` attached; the
    normalization.json in ``folder`` (the checkpoint's folder), if any, overrides the metadata's normalization."""
    meta = dict(ckpt.get("meta", {}))
    meta["normalization"], meta["normalization_source"] = resolve_normalization(meta, name, folder)
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
    meta["nonfinite"] = nonfinite_tensors(sd)
    if meta.get("role") is None:
        meta["role"] = "pruned" if sparsity_of(v for v in sd.values() if v.dim() > 1) > 0.2 else "dense"
    model.meta = meta  # type: ignore[attr-defined]
    return model


def load_model(path: str | Path | Any) -> VGG:
    """Load a checkpoint (ours or a lab state_dict) as a CPU model in eval mode.

    The returned model has ``.meta`` with at least ``normalization`` (None = ``ToTensor()`` only; a path's
    folder's normalization.json overrides the checkpoint's), ``normalization_source``, ``classes`` and ``role``;
    pass it to :func:`vggexplorer.preprocess` to build inputs.
    """
    if isinstance(path, (str, Path)):
        return model_from_checkpoint(read_checkpoint(path), str(path), Path(path).parent)
    return model_from_checkpoint(read_checkpoint(path), getattr(path, "name", "uploaded file"))
