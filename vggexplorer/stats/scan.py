"""Dataset scan: per-channel statistics of every block over the test split, for dense and every rung.

Per model and channel: mean activation (the map's spatial mean, averaged over images), the
fraction of images on which the channel fires (> 0 somewhere), its *density* (the fraction of all
positions of all images where it is > 0), its maximum, the ``k`` test images with the highest
spatial-mean activation, its mean per class (over the class's images, of the spatial mean: ``class_mean
[C, classes]``, NaN for a class with no image) and its filter's weight sparsity. Per model and image: the class
probabilities and the top-1 prediction.

Per pair of models (dense against each rung, and each rung against the next): linear CKA of every
block over the test split (minibatch estimator, :mod:`vggexplorer.stats`); for dense against a
rung also each channel's Pearson correlation, across images, of its spatial-mean activation ("does
the channel still respond to the same images?").

Stats are reduced inside the hooks, batch by batch (spatial means, peaks, non-zero counts and a
Gram matrix per minibatch), so no activation tensor is kept beyond its own hook call and the scan
runs close to the speed of bare inference.
"""

from __future__ import annotations

from ..errors import VGGExplorerError
from ..files import atomic_write, file_sha256

import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from ..probe.hooks import _check_eval, block_hooks, relu_modules
from ..data.cifar10 import Split, check_npz, to_float
from ..data.images import normalization
from ..model.vgg import zero_fraction
from ..model.ladder import SCAN_CMD, scan_path
from .measures import CKA_BATCH, MinibatchCKA, gram
from .status import filter_sparsity

SCAN_VERSION = 2


class ScanError(VGGExplorerError, RuntimeError):
    """A scan file is missing, damaged or stale; the message gives the command that rebuilds it."""


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


def positive_counts(out: torch.Tensor, chunk_bytes: int = 1 << 19) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``int64 [C]``: positions > 0 per channel, counted in the layout the forward produced.

    oneDNN returns channels-last maps on CPU: viewed as ``[B*H*W, C]`` (no copy) the count is a reduction
    over rows. The comparison goes through one small reused bool buffer (``chunk_bytes``): a comparison
    mask of the whole batch (130 MB for conv1 at batch 250) costs more in fresh pages than in arithmetic,
    so counting chunk by chunk is about 4x faster.
    """
    b, c = out.shape[:2]
    if out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous():
        rows = out.permute(0, 2, 3, 1).reshape(-1, c)  # [B*H*W, C], a view
    else:
        rows = out.transpose(0, 1).reshape(c, -1).t()  # [B*H*W, C]; a copy only for odd layouts
    step = max(1, chunk_bytes // c)
    buf = torch.empty((min(step, rows.shape[0]), c), dtype=torch.bool)
    total = torch.zeros(c, dtype=torch.int64)
    for s in range(0, rows.shape[0], step):
        part = rows[s:s + step]
        mask = buf[:part.shape[0]]
        torch.gt(part, 0, out=mask)
        total += mask.view(torch.uint8).sum(0, dtype=torch.int32)  # < 2**31: step rows at most
    return total


class _BlockStats:
    """Running per-channel statistics of one block over batches."""

    def __init__(self, channels: int, k: int, classes: int) -> None:
        self.k = k
        self.sum = torch.zeros(channels, dtype=torch.float64)
        self.class_sum = torch.zeros(classes, channels, dtype=torch.float64)  # [classes, C]
        self.class_n = torch.zeros(classes, dtype=torch.int64)
        self.fires = torch.zeros(channels, dtype=torch.int64)
        self.nonzero = torch.zeros(channels, dtype=torch.int64)
        self.positions = 0
        self.max = torch.zeros(channels)
        self.top_val = torch.full((channels, k), -1.0)
        self.top_idx = torch.full((channels, k), -1, dtype=torch.int64)
        self.n = 0

    def update(self, out: torch.Tensor, index: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Fold in a batch ``[B, C, H, W]`` of the images with dataset indices ``index [B]`` and classes ``labels [B]``;
        return spatial means."""
        out = out.detach().float()  # [B, C, H, W], any memory format: reductions need no copy
        means = out.mean((2, 3))  # [B, C]
        peak = out.amax((2, 3))  # [B, C]: one pass gives both "fires" and the maximum
        self.sum += means.sum(0).double()
        self.class_sum.index_add_(0, labels, means.double())  # one scatter-add per batch, no loop over images
        self.class_n += torch.bincount(labels, minlength=self.class_n.numel())
        self.fires += (peak > 0).sum(0)
        self.nonzero += positive_counts(out)
        self.positions += out.shape[0] * out.shape[2] * out.shape[3]
        self.max = torch.maximum(self.max, peak.amax(0))
        vals = torch.cat([self.top_val, means.t()], 1)  # [C, k + B]
        ids = torch.cat([self.top_idx, index.expand(out.shape[1], -1)], 1)
        # ties go to the lower image index, whatever the scan order: sort by index, then stably by value
        by_id = ids.argsort(dim=1)
        vals, ids = vals.gather(1, by_id), ids.gather(1, by_id)
        order = torch.sort(vals, dim=1, descending=True, stable=True).indices[:, : self.k]
        self.top_val, self.top_idx = vals.gather(1, order), ids.gather(1, order)
        self.n += out.shape[0]
        return means

    def result(self) -> dict[str, np.ndarray]:
        return {
            "mean": (self.sum / max(self.n, 1)).float().numpy(),
            "class_mean": (self.class_sum / self.class_n[:, None]).t().float().numpy(),  # [C, classes]; 0/0: NaN
            "fire_fraction": (self.fires.double() / max(self.n, 1)).float().numpy(),
            "density": (self.nonzero.double() / max(self.positions, 1)).float().numpy(),
            "max": self.max.numpy(),
            "topk_index": self.top_idx.numpy().astype(np.int32),
            "topk_value": self.top_val.numpy(),
        }


PairKey = str  # "dense~p75"


def pair_key(a: str, b: str) -> PairKey:
    return f"{a}~{b}"


@dataclass
class ScanResult:
    """Per-model, per-block channel statistics; per-model predictions; per-pair similarity."""

    models: dict[str, dict[str, dict[str, np.ndarray]]]  # role -> block -> stat -> [C] or [C, k]
    pair: dict[PairKey, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)  # -> block -> {"correlation": [C]}
    predictions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # role -> {"pred": [N], "probs": [N, 10]}
    labels: np.ndarray | None = None  # [N]
    meta: dict[str, Any] = field(default_factory=dict)  # also "cka": {pair: {block: float}}, "compare": {...}

    def stat(self, role: str, block: str, name: str) -> np.ndarray:
        return self.models[role][block][name]

    @property
    def roles(self) -> list[str]:
        return list(self.models)

    @property
    def blocks(self) -> list[str]:
        return list(self.meta.get("blocks", []))

    def cka(self, a: str, b: str) -> dict[str, float]:
        return self.meta["cka"][pair_key(a, b)]


def scan_order(n: int, seed: int = 0) -> np.ndarray:
    """The order in which the scan visits ``n`` images: a fixed random permutation.

    The test split is stored class by class, so consecutive images would put one class in every CKA
    minibatch, and the estimator would measure within-class similarity. A shuffled order makes every
    minibatch a sample of the whole split; every other statistic is independent of the order.
    """
    return np.random.default_rng(seed).permutation(n)


def default_pairs(roles: list[str]) -> list[tuple[str, str]]:
    """The first role (dense) against each other one, then each rung against the next."""
    return [(roles[0], r) for r in roles[1:]] + [(roles[i], roles[i + 1]) for i in range(1, len(roles) - 1)]


@torch.no_grad()
def scan_models(models: Mapping[str, nn.Module], split: Split, batch_size: int = 250, k: int = 9,
                progress: bool = True, stop_after: int | None = None, cka_batch: int = CKA_BATCH,
                pairs: list[tuple[str, str]] | None = None, seed: int = 0) -> ScanResult:
    """Scan ``split`` with each model (dense first, e.g. ``{"dense": m0, "p55": m1, ...}``) in fp32.

    Images are visited in :func:`scan_order`. Each batch runs through every model; per-channel statistics and one Gram matrix per block and
    minibatch of ``cka_batch`` images are reduced in the hooks; the pairs' CKA and correlations are
    folded in once every model has seen the batch.
    """
    roles = list(models)
    for m in models.values():
        _check_eval(m)
    pairs = default_pairs(roles) if pairs is None else pairs
    ref = roles[0]
    n = len(split) if stop_after is None else min(stop_after, len(split))
    stats: dict[str, dict[str, _BlockStats]] = {r: {} for r in roles}
    moments: dict[tuple[str, str], dict[str, torch.Tensor]] = {}  # (pair, block) -> running sums
    cka: dict[tuple[PairKey, str], MinibatchCKA] = {}
    preds: dict[str, list[torch.Tensor]] = {r: [] for r in roles}
    order = scan_order(n, seed)
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"scanning {len(roles)} models", unit="batch", mininterval=2.0)
    for s in starts:
        index = torch.from_numpy(order[s:s + batch_size])  # [B] dataset indices
        label = torch.from_numpy(np.asarray(split.labels)[index.numpy()].astype(np.int64))  # [B] classes
        u8 = torch.from_numpy(split.images[index.numpy()])
        means: dict[str, dict[str, torch.Tensor]] = {r: {} for r in roles}  # role -> block -> [B, C]
        grams: dict[str, dict[str, list[torch.Tensor]]] = {r: {} for r in roles}  # role -> block -> [[m, m]]
        for role in roles:
            model = models[role]
            x = to_float(u8, *normalization(model))

            def on_block(name: str, out: torch.Tensor, role: str = role, index: torch.Tensor = index,
                         label: torch.Tensor = label) -> None:
                st = stats[role].get(name)
                if st is None:
                    st = stats[role][name] = _BlockStats(out.shape[1], k, len(split.classes))
                means[role][name] = st.update(out, index, label)
                if pairs:  # without pairs there is no CKA to feed
                    grams[role][name] = [gram(out[c:c + cka_batch]) for c in range(0, out.shape[0], cka_batch)
                                         if min(cka_batch, out.shape[0] - c) >= 4]

            with block_hooks(model, on_block):
                logits = model(x).float()  # [B, 10]
            preds[role].append(torch.softmax(logits, 1))
        for a, b in pairs:
            for name, ga in grams[a].items():
                acc = cka.setdefault((pair_key(a, b), name), MinibatchCKA())
                for kx, ky in zip(ga, grams[b][name]):
                    acc.update(kx, ky)
                if a == ref:
                    xa, xb = means[a][name].double(), means[b][name].double()
                    m = moments.setdefault((pair_key(a, b), name), {key: torch.zeros(xa.shape[1], dtype=torch.float64)
                                                                    for key in ("a", "b", "aa", "bb", "ab")})
                    m["a"] += xa.sum(0); m["b"] += xb.sum(0)
                    m["aa"] += (xa * xa).sum(0); m["bb"] += (xb * xb).sum(0); m["ab"] += (xa * xb).sum(0)
    blocks = list(relu_modules(models[ref]))
    result = ScanResult({r: {b: stats[r][b].result() for b in blocks} for r in roles})
    for r in roles:
        for b, fs in filter_sparsity(models[r]).items():
            result.models[r][b]["filter_sparsity"] = fs.astype(np.float32)
        visited = torch.cat(preds[r])  # [N, classes] in scan order
        probs = torch.empty_like(visited)
        probs[torch.from_numpy(order)] = visited  # back in dataset order
        result.predictions[r] = {"pred": probs.argmax(1).numpy().astype(np.int64), "probs": probs.numpy()}
    for (key, name), m in moments.items():
        result.pair.setdefault(key, {})[name] = {"correlation": pearson_from_moments(m, n).numpy()}
    result.labels = np.asarray(split.labels[:n]).astype(np.int64)
    result.meta = {"version": SCAN_VERSION, "n_images": n, "k": k, "precision": "fp32", "roles": roles,
                   "blocks": blocks, "pairs": [pair_key(a, b) for a, b in pairs],
                   "cka": {pair_key(a, b): {name: cka[(pair_key(a, b), name)].value() for name in blocks}
                           for a, b in pairs},
                   "cka_estimator": f"minibatch linear CKA, unbiased HSIC_1 averaged over {cka_batch}-image "
                                    "minibatches (Nguyen, Raghu & Kornblith 2021), full flattened post-ReLU maps; "
                                    f"images in a fixed shuffled order (seed {seed}), so each minibatch samples "
                                    "every class",
                   "cka_batch": cka_batch,
                   "order": f"a fixed random permutation of the images (seed {seed}), so each CKA minibatch "
                            "samples every class",
                   "topk_rank": "spatial mean of the channel's map", "fires": "max over positions > 0",
                   "density": "fraction of all positions of all images > 0",
                   "class_mean": "per class: the mean over its images of the channel's spatial mean"}
    return result


def save_scan(result: ScanResult, path: str | Path) -> Path:
    """Write a scan as one compressed ``.npz`` (float32 statistics and probabilities, int16 indices)."""
    arrays: dict[str, np.ndarray] = {}
    for role, blocks in result.models.items():
        for b, st in blocks.items():
            for name, v in st.items():
                arrays[f"model/{role}/{b}/{name}"] = v.astype(np.int16 if name == "topk_index" else np.float32)
    for key, blocks in result.pair.items():
        for b, st in blocks.items():
            arrays[f"pair/{key}/{b}/correlation"] = st["correlation"].astype(np.float32)
    for role, p in result.predictions.items():
        arrays[f"pred/{role}"] = p["pred"].astype(np.int8)
        arrays[f"probs/{role}"] = p["probs"].astype(np.float32)  # exact: compare reads them back
    if result.labels is not None:
        arrays["labels"] = result.labels.astype(np.int8)
    arrays["meta_json"] = np.frombuffer(json.dumps(result.meta).encode(), np.uint8)
    path = Path(path)
    with atomic_write(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return path


def load_scan(path: str | Path | None = None) -> ScanResult:
    """Read a scan file; :class:`ScanError` with the rebuild command if it is missing, damaged or old."""
    path = Path(path) if path is not None else scan_path()
    check_npz(path, "Scan file", f"Rebuild it with: {SCAN_CMD}", ScanError)
    try:
        z = np.load(path, allow_pickle=False)
        meta = json.loads(z["meta_json"].tobytes().decode())
        if meta.get("version") != SCAN_VERSION:
            raise ScanError(f"Scan file {path} is from an older version of VGG Explorer (it has no ladder). "
                            f"Rebuild it with: {SCAN_CMD}")
        res = ScanResult({}, meta=meta)
        for key in z.files:
            kind, *rest = key.split("/")
            if kind == "model":
                role, b, name = rest
                res.models.setdefault(role, {}).setdefault(b, {})[name] = \
                    z[key].astype(np.int64 if name == "topk_index" else np.float32)
            elif kind == "pair":
                pk, b, name = rest
                res.pair.setdefault(pk, {}).setdefault(b, {})[name] = z[key].astype(np.float32)
            elif kind == "pred":
                res.predictions.setdefault(rest[0], {})["pred"] = z[key].astype(np.int64)
            elif kind == "probs":
                res.predictions.setdefault(rest[0], {})["probs"] = z[key].astype(np.float32)
            elif kind == "labels":
                res.labels = z[key].astype(np.int64)
    except ScanError:
        raise
    except Exception as e:
        raise ScanError(f"Scan file {path} is damaged ({type(e).__name__}: {e}). Rebuild it with: {SCAN_CMD}") from e
    order = meta.get("blocks", [])
    res.models = {r: OrderedDict((b, res.models[r][b]) for b in order if b in res.models[r])
                  for r in meta.get("roles", res.models)}
    return res


def check_scan_matches(result: ScanResult, checkpoints: Mapping[str, str | Path]) -> list[str]:
    """Roles whose checkpoint file differs from the one the scan was computed on (by SHA-256)."""
    stale = []
    shas = result.meta.get("checkpoint_sha256", {})
    for role, path in checkpoints.items():
        if shas.get(role) != file_sha256(path):
            stale.append(role)
    return stale


def refresh_comparison(path: str | Path | None = None) -> ScanResult:
    """Recompute the comparison a scan file stores (``meta["compare"]``) from its own statistics and predictions,
    and write the file back: after a change to what ``compare`` reports, no rescan is needed."""
    from .compare import compare_scan

    path = Path(path) if path is not None else scan_path()
    result = load_scan(path)
    result.meta["compare"] = compare_scan(result)
    save_scan(result, path)
    return result


def run_scan(checkpoints: Mapping[str, str | Path], split: Split, out: str | Path, k: int = 9,
             batch_size: int = 250, progress: bool = True, stop_after: int | None = None,
             cka_batch: int = CKA_BATCH) -> ScanResult:
    """Load the checkpoints (dense first), scan, compare, record provenance (file hashes, timing), save."""
    from ..model.checkpoint import load_model
    from .compare import compare_scan
    from ..model.runtime import hardware_summary

    models = {role: load_model(p) for role, p in checkpoints.items()}
    t0 = time.perf_counter()
    result = scan_models(models, split, batch_size=batch_size, k=k, progress=progress, stop_after=stop_after,
                         cka_batch=cka_batch)
    result.meta.update({
        "checkpoints": {r: str(p) for r, p in checkpoints.items()},
        "checkpoint_sha256": {r: file_sha256(p) for r, p in checkpoints.items()},
        "zero_fraction": {r: zero_fraction(m) for r, m in models.items()},
        "wall_s": round(time.perf_counter() - t0, 1),
        "hardware": hardware_summary(torch.device("cpu")),
        "command": SCAN_CMD,
    })
    result.meta["compare"] = compare_scan(result)
    save_scan(result, out)
    return result
