"""Your own ladder: a folder of checkpoints (a dense model and its pruned twins), opened as a :class:`Ladder`.

Every ``.pt`` / ``.pth`` file in the folder is read as :func:`vggexplorer.model.checkpoint.load_model` reads it (any
of the formats it takes; the folder's ``normalization.json`` applies to all of them). Then:

- **dense** is the file with the fewest zero weights, unless ``ladder.json`` (``{"dense": "file.pt"}``) names it;
- every other file is a **rung**, named and ordered by its measured fraction of zero conv + linear weights, rounded
  to a whole percent (``p80``, "pruned 80%"); two files at the same percent keep the first by name;
- **nesting** is measured between consecutive pruned rungs (:class:`~vggexplorer.model.ladder.Nesting`);
- a file that does not load (another architecture, a channel-pruned model with other widths, a damaged file) is
  skipped with its loader's message, which names the layer and both shapes: the rest of the ladder still opens.

Uploads become such a folder too (:func:`save_upload`): content-addressed under the cache directory, with a
``ladder.json`` naming the file uploaded as dense and a ``normalization.json`` for the chosen normalization.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Mapping, Sequence

import torch

from ..errors import VGGExplorerError
from ..files import atomic_write, cache_dir
from .checkpoint import CheckpointError, load_model, write_normalization
from .ladder import Ladder, Nesting, Rung, rung_role
from .vgg import prunable_parameters, zero_fraction

MODELS_ENV = "VGGEXPLORER_MODELS"  # a folder: the app opens on its models instead of the shipped ladder
LADDER_JSON = "ladder.json"
SUFFIXES = (".pt", ".pth")
MAX_UPLOAD_LADDERS = 8  # upload folders kept on disk; the oldest goes first


def checkpoint_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def _ladder_json(folder: Path, files: Sequence[Path]) -> tuple[str | None, str]:
    """(the file ``ladder.json`` names as dense, or None; the ladder's name: its ``"name"``, else the folder's)."""
    path = folder / LADDER_JSON
    if not path.exists():
        return None, folder.name
    try:
        spec = json.loads(path.read_text())
        dense, name = spec.get("dense"), str(spec.get("name") or folder.name)
    except (ValueError, AttributeError) as e:
        raise CheckpointError(f"{path} is not valid: expected {{\"dense\": \"<file name>\"}} ({e}).") from e
    if dense is not None and dense not in {p.name for p in files}:
        raise CheckpointError(f"{path} names {dense!r} as dense, but the folder's checkpoints are "
                              f"{', '.join(p.name for p in files)}.")
    return dense, name


def _zero_masks(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach() == 0 for n, p in prunable_parameters(model).items()}


def open_folder(folder: str | Path, scan_file: str | Path | None = None) -> Ladder:
    """The ladder in ``folder`` (see the module docstring). :class:`CheckpointError` when it has no usable dense model
    and at least one pruned rung; files skipped for other reasons are in the ladder's ``notes``."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a folder. Point {MODELS_ENV} at a folder that holds your dense "
                              "checkpoint and one or more pruned ones (.pt or .pth).")
    files = checkpoint_files(folder)
    if not files:
        raise CheckpointError(f"{folder} holds no .pt or .pth file: put your dense checkpoint and one or more pruned "
                              "ones there.")
    named, name = _ladder_json(folder, files)
    notes: list[str] = []
    measured: dict[str, float] = {}
    masks: dict[str, dict[str, torch.Tensor]] = {}  # name -> its zero weights (1 byte per weight, while opening)
    for p in files:
        try:
            model = load_model(p)
            measured[p.name], masks[p.name] = zero_fraction(model), _zero_masks(model)
        except VGGExplorerError as e:
            notes.append(f"Skipped {p.name}: {e}")
    if not measured:
        raise CheckpointError(f"None of the checkpoints in {folder} loads. " + " ".join(notes))
    dense = named if named is not None else min(measured, key=lambda n: (measured[n], n))
    if dense not in measured:
        raise CheckpointError(f"{folder}: the dense model {dense} does not load. " + " ".join(notes))
    rungs = [Rung("dense", dense, 0, folder)]
    taken: dict[int, str] = {}
    for file in sorted((n for n in measured if n != dense), key=lambda n: (measured[n], n)):
        pct = round(measured[file] * 100)
        if pct == 0:
            notes.append(f"Skipped {file}: it has {measured[file] * 100:.1f}% zero weights, which rounds to 0%, like "
                         f"dense ({dense}).")
        elif pct in taken:
            notes.append(f"Skipped {file}: {taken[pct]} is already the rung at {pct}% zero weights.")
        else:
            taken[pct] = file
            rungs.append(Rung(rung_role(pct), file, pct, folder))
    if len(rungs) < 2:
        raise CheckpointError(f"{folder} holds a dense model ({dense}) but no pruned one to compare it with. "
                              + " ".join(notes))
    return Ladder(tuple(rungs), name=name, folder=folder, scan_file=Path(scan_file) if scan_file else None,
                  nesting=nesting({r.role: masks[r.filename] for r in rungs[1:]}), notes=tuple(notes))


def nesting(masks: Mapping[str, Mapping[str, torch.Tensor]]) -> Nesting:
    """Whether each rung's zero weights include the rung below's: ``masks`` is role -> parameter -> bool zero mask,
    for the pruned rungs in ladder order (dense excluded)."""
    breaks = []
    roles = list(masks)
    for lower, higher in zip(roles, roles[1:]):
        lost = sum(int((m & ~masks[higher][n]).sum()) for n, m in masks[lower].items())
        if lost:
            breaks.append((lower, higher, lost))
    return Nesting(tuple(breaks))


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._") or "model"
    return stem if stem.lower().endswith(SUFFIXES) else stem + ".pt"


def save_upload(dense: tuple[str, bytes], pruned: Sequence[tuple[str, bytes]],
                normalization: Mapping | str = "checkpoint", root: Path | None = None) -> Path:
    """Write an uploaded ladder (``(file name, bytes)`` of the dense file and of each pruned one) as a folder that
    :func:`open_folder` opens: named by the SHA-256 of its contents, so the same upload is the same folder (and the
    same scan) for every session and after a restart. ``normalization``: a preset of
    :data:`vggexplorer.data.images.PRESET_LABELS` (``"checkpoint"``: as each checkpoint says; ``"lab"``: ``ToTensor()``
    only) or ``{"mean", "std"}``. Keeps the last :data:`MAX_UPLOAD_LADDERS` upload folders."""
    files = [(_safe_name(n), b) for n, b in [dense, *pruned]]
    names = [n for n, _ in files]
    if len(set(names)) != len(names):  # two uploads with one name: number them
        files = [(f"{i}-{n}", b) for i, (n, b) in enumerate(files)]
    h = hashlib.sha256(json.dumps(normalization, sort_keys=True).encode())
    for n, b in files:
        h.update(n.encode() + b"\0" + hashlib.sha256(b).digest())
    root = root if root is not None else cache_dir() / "uploads"
    folder = root / h.hexdigest()[:16]
    if not (folder / LADDER_JSON).exists():
        folder.mkdir(parents=True, exist_ok=True)
        for n, b in files:
            with atomic_write(folder / n) as tmp:
                tmp.write_bytes(b)
        write_normalization(folder, normalization)
        with atomic_write(folder / LADDER_JSON) as tmp:  # last: a folder with it is complete
            tmp.write_text(json.dumps({"dense": files[0][0], "name": f"uploaded {files[0][0]} + {len(pruned)} pruned"}))
    os.utime(folder)
    kept = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[MAX_UPLOAD_LADDERS:]:
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    return folder
