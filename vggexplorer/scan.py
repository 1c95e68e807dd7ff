"""Dataset scan: per-channel statistics of every block over the test split, for one or two models.

Per model and channel: mean activation (the map's spatial mean, averaged over images), the
fraction of images on which the channel fires (> 0 somewhere), its maximum, and the ``k`` test
images with the highest spatial-mean activation. For the dense/pruned pair, each channel's
similarity over the test images: the Pearson correlation, across images, of its spatial-mean
activation in the two models ("does the channel still respond to the same images?"; the
per-image spatial cosine is computed live in the app for the current image).

Stats are reduced inside the hooks, batch by batch, from the ``[B, C]`` spatial means and peaks,
so no activation tensor is kept beyond its own hook call and the scan runs close to the speed of
bare inference.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from .activations import _check_eval, block_hooks, relu_modules
from .data import Split, not_npz, to_float
from .images import normalization

SCAN_FILE = Path(__file__).resolve().parent.parent / "checkpoints" / "scan.npz"
SCAN_CMD = ("python -m vggexplorer scan --checkpoint checkpoints/dense.pt --checkpoint checkpoints/pruned.pt "
            "--out checkpoints/scan.npz")
STATS = ("mean", "fire_fraction", "max", "topk_index", "topk_value")


class ScanError(RuntimeError):
    """A scan file is missing, damaged or stale; the message gives the command that rebuilds it."""


def file_sha256(path: str | Path) -> str:
    """Hex digest of a file, to tie a scan to the exact checkpoints it was computed on."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pearson_from_moments(m: dict[str, torch.Tensor], n: int) -> torch.Tensor:
    """Per-channel Pearson correlation from running sums; both constant -> 1, one constant -> 0."""
    ma, mb = m["a"] / n, m["b"] / n
    va, vb = m["aa"] / n - ma * ma, m["bb"] / n - mb * mb
    cov = m["ab"] / n - ma * mb
    tiny_a = va <= 1e-12 * torch.clamp(ma * ma, min=1.0)
    tiny_b = vb <= 1e-12 * torch.clamp(mb * mb, min=1.0)
    r = cov / torch.sqrt(va.clamp_min(1e-300) * vb.clamp_min(1e-300))
    r = torch.where(tiny_a & tiny_b, torch.ones_like(r), r)
    r = torch.where(tiny_a ^ tiny_b, torch.zeros_like(r), r)
    return r.clamp(-1, 1).float()


class _BlockStats:
    """Running per-channel statistics of one block over batches."""

    def __init__(self, channels: int, k: int) -> None:
        self.k = k
        self.sum = torch.zeros(channels, dtype=torch.float64)
        self.fires = torch.zeros(channels, dtype=torch.int64)
        self.max = torch.zeros(channels)
        self.top_val = torch.full((channels, k), -1.0)
        self.top_idx = torch.full((channels, k), -1, dtype=torch.int64)
        self.n = 0

    def update(self, out: torch.Tensor, offset: int) -> torch.Tensor:
        """Fold in a batch ``[B, C, H, W]`` whose first image has dataset index ``offset``; return spatial means."""
        out = out.detach().float()  # [B, C, H, W], any memory format: reductions need no copy
        means = out.mean((2, 3))  # [B, C]
        peak = out.amax((2, 3))  # [B, C]: one pass gives both "fires" and the maximum
        self.sum += means.sum(0).double()
        self.fires += (peak > 0).sum(0)
        self.max = torch.maximum(self.max, peak.amax(0))
        idx = torch.arange(offset, offset + out.shape[0]).expand(out.shape[1], -1)  # [C, B]
        vals = torch.cat([self.top_val, means.t()], 1)
        ids = torch.cat([self.top_idx, idx], 1)
        # stable sort on values, ties broken by the lower image index: reproducible
        order = torch.sort(vals, dim=1, descending=True, stable=True).indices[:, : self.k]
        self.top_val, self.top_idx = vals.gather(1, order), ids.gather(1, order)
        self.n += out.shape[0]
        return means

    def result(self) -> dict[str, np.ndarray]:
        return {
            "mean": (self.sum / max(self.n, 1)).float().numpy(),
            "fire_fraction": (self.fires.double() / max(self.n, 1)).float().numpy(),
            "max": self.max.numpy(),
            "topk_index": self.top_idx.numpy().astype(np.int32),
            "topk_value": self.top_val.numpy(),
        }


@dataclass
class ScanResult:
    """Per-model, per-block channel statistics, plus the pair's similarity."""

    models: dict[str, dict[str, dict[str, np.ndarray]]]  # role -> block -> stat -> [C] or [C, k]
    pair: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # block -> {"correlation": [C]}
    meta: dict[str, Any] = field(default_factory=dict)

    def stat(self, role: str, block: str, name: str) -> np.ndarray:
        return self.models[role][block][name]


@torch.no_grad()
def scan_models(models: Mapping[str, nn.Module], split: Split, batch_size: int = 250, k: int = 9,
                progress: bool = True, stop_after: int | None = None) -> ScanResult:
    """Scan ``split`` with each model (e.g. ``{"dense": m1, "pruned": m2}``) in fp32.

    With two models, also each channel's dense-vs-pruned similarity: the Pearson correlation,
    over the images, of the channel's spatial-mean activation in the two models.
    """
    roles = list(models)
    for m in models.values():
        _check_eval(m)
    n = len(split) if stop_after is None else min(stop_after, len(split))
    stats: dict[str, dict[str, _BlockStats]] = {r: {} for r in roles}
    pair = len(roles) == 2
    moments: dict[str, dict[str, torch.Tensor]] = {}  # block -> running sums for the correlation
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="scanning", unit="batch", mininterval=2.0)
    for s in starts:
        u8 = torch.from_numpy(split.images[s:min(s + batch_size, n)])
        first: dict[str, torch.Tensor] = {}  # block -> [B, C] spatial means of the first model
        for r_i, role in enumerate(roles):
            model = models[role]
            x = to_float(u8, *normalization(model))

            def on_block(name: str, out: torch.Tensor, role=role, r_i=r_i, first=first, s=s) -> None:
                st = stats[role].get(name)
                if st is None:
                    st = stats[role][name] = _BlockStats(out.shape[1], k)
                means = st.update(out, s)  # [B, C]
                if pair and r_i == 0:
                    first[name] = means
                elif pair:
                    a, b = first.pop(name).double(), means.double()
                    m = moments.setdefault(name, {key: torch.zeros(a.shape[1], dtype=torch.float64)
                                                  for key in ("a", "b", "aa", "bb", "ab")})
                    m["a"] += a.sum(0); m["b"] += b.sum(0)
                    m["aa"] += (a * a).sum(0); m["bb"] += (b * b).sum(0); m["ab"] += (a * b).sum(0)

            with block_hooks(model, on_block):
                model(x)
    result = ScanResult({r: {b: st.result() for b, st in stats[r].items()} for r in roles})
    if pair:
        result.pair = {b: {"correlation": pearson_from_moments(m, n).numpy()} for b, m in moments.items()}
    result.meta = {"n_images": n, "k": k, "precision": "fp32", "roles": roles,
                   "blocks": list(relu_modules(models[roles[0]])),
                   "topk_rank": "spatial mean of the channel's map", "fires": "max over positions > 0"}
    return result


def save_scan(result: ScanResult, path: str | Path) -> Path:
    """Write a scan as one ``.npz`` (float16 statistics, int16 image indices; a few hundred KB)."""
    arrays: dict[str, np.ndarray] = {}
    for role, blocks in result.models.items():
        for b, st in blocks.items():
            for name, v in st.items():
                arrays[f"{role}/{b}/{name}"] = v.astype(np.int16 if name == "topk_index" else np.float32)
    for b, st in result.pair.items():
        arrays[f"pair/{b}/correlation"] = st["correlation"].astype(np.float32)
    arrays["meta_json"] = np.frombuffer(json.dumps(result.meta).encode(), np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path


def load_scan(path: str | Path = SCAN_FILE) -> ScanResult:
    """Read a scan file; :class:`ScanError` with the rebuild command if it is missing or damaged."""
    path = Path(path)
    if not path.exists():
        raise ScanError(f"Scan file missing: {path}. Rebuild it with: {SCAN_CMD}")
    bad = not_npz(path)
    if bad:
        raise ScanError(f"Scan file {path} is damaged: {bad}. Rebuild it with: {SCAN_CMD}")
    try:
        z = np.load(path, allow_pickle=False)
        meta = json.loads(z["meta_json"].tobytes().decode())
        models: dict[str, dict[str, dict[str, np.ndarray]]] = {}
        pair: dict[str, dict[str, np.ndarray]] = {}
        for key in z.files:
            if key == "meta_json":
                continue
            role, b, name = key.split("/")
            v = z[key].astype(np.int64 if name == "topk_index" else np.float32)
            if role == "pair":
                pair.setdefault(b, {})[name] = v
            else:
                models.setdefault(role, {}).setdefault(b, {})[name] = v
    except Exception as e:
        raise ScanError(f"Scan file {path} is damaged ({type(e).__name__}: {e}). Rebuild it with: {SCAN_CMD}") from e
    order = meta.get("blocks", [])
    models = {r: OrderedDict((b, blocks[b]) for b in order if b in blocks) for r, blocks in models.items()}
    return ScanResult(models, pair, meta)


def check_scan_matches(result: ScanResult, checkpoints: Mapping[str, str | Path]) -> list[str]:
    """Roles whose checkpoint file differs from the one the scan was computed on (by SHA-256)."""
    stale = []
    shas = result.meta.get("checkpoint_sha256", {})
    for role, path in checkpoints.items():
        if shas.get(role) != file_sha256(path):
            stale.append(role)
    return stale


def run_scan(checkpoints: Mapping[str, str | Path], split: Split, out: str | Path, k: int = 9,
             batch_size: int = 250, progress: bool = True, stop_after: int | None = None) -> ScanResult:
    """Load the checkpoints, scan, record provenance (file hashes, timing), save."""
    from .checkpoint import load_model
    from .runtime import hardware_summary

    models = {role: load_model(p) for role, p in checkpoints.items()}
    t0 = time.perf_counter()
    result = scan_models(models, split, batch_size=batch_size, k=k, progress=progress, stop_after=stop_after)
    result.meta.update({
        "checkpoints": {r: str(p) for r, p in checkpoints.items()},
        "checkpoint_sha256": {r: file_sha256(p) for r, p in checkpoints.items()},
        "wall_s": round(time.perf_counter() - t0, 1),
        "hardware": hardware_summary(torch.device("cpu")),
        "command": SCAN_CMD,
    })
    save_scan(result, out)
    return result
