"""Dataset scan: per-channel statistics of every block over the test split, or a stratified subset of it (the quick
pass, ``scan --limit N``; :func:`coverage` says which), for dense and every rung, each named by its measured sparsity.

Per model and channel: mean activation (the map's spatial mean, averaged over images), the fraction of images on
which the channel fires (> 0 somewhere), its *density* (the fraction of all positions of all images where it is
> 0), its maximum, the ``k`` test images with the highest spatial-mean activation, its mean per class (over the
class's images, of the spatial mean: ``class_mean [C, classes]``, NaN for a class with no image) and its filter's
weight sparsity. Per model and image: the class probabilities and the top-1 prediction.

Per pair of models (dense against each rung, and each rung against the next): linear CKA of every block over the
test split (minibatch estimator, :mod:`vggexplorer.stats.measures`); for dense against a rung also each channel's
Pearson correlation, across images, of its spatial-mean activation ("does the channel still respond to the same
images?").

Stats are reduced inside the hooks, batch by batch (spatial means, peaks, non-zero counts and the Gram matrices of
its CKA minibatches), so no activation tensor is kept beyond its own hook call and the scan runs close to the speed
of bare inference (benchmarks/README.md, scan).
"""

from __future__ import annotations

from ..errors import ConfigError, VGGExplorerError
from ..files import atomic_write, file_sha256

import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from ..probe.hooks import _check_eval, block_hooks, relu_modules
from ..data.cifar10 import Split, check_npz, class_quotas, stratified_indices, to_float
from ..data.images import normalization
from ..model.vgg import blocks, zero_fraction
from ..model.ladder import SCAN_CMD, percent_of, rung_label, scan_path
from .channel_stats import BlockStats, PairMoments, scratch_for
from .measures import CKA_BATCH, MinibatchCKA, hsic1_many, minibatch_grams
from .status import filter_sparsity

SCAN_VERSION = 2
QUICK_IMAGES = 1000  # the quick pass: a stratified sample, 100 per class, that fills every page before the full pass
SAMPLE_SEED = 0  # the seed of every stratified sample a scan takes (the quick pass, ``scan --limit N``)


class ScanError(VGGExplorerError, RuntimeError):
    """A scan file is missing, damaged or stale; the message gives the command that rebuilds it."""


PairKey = str  # "dense~p75"


def pair_key(a: str, b: str) -> PairKey:
    return f"{a}~{b}"


@dataclass
class ScanResult:
    """Per-model, per-block channel statistics; per-model predictions; per-pair similarity."""

    models: dict[str, dict[str, dict[str, np.ndarray]]]  # role -> block -> stat -> [C] or [C, k]
    pair: dict[PairKey, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)  # -> block -> {"correlation": [C]}
    # role -> {"pred": [N], "probs": [N, 10]}; row i is test image indices[i], as in labels
    predictions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    labels: np.ndarray | None = None  # [N]
    meta: dict[str, Any] = field(default_factory=dict)  # also "cka": {pair: {block: float}}, "compare": {...}
    image_index: np.ndarray | None = None  # [N] the scanned dataset indices, sorted; None: an older file (0..N-1)

    @property
    def indices(self) -> np.ndarray:
        """``int64 [N]``: the dataset index of every prediction and label row (``topk_index`` holds such indices)."""
        if self.image_index is not None:
            return self.image_index
        n = len(self.labels) if self.labels is not None else int(self.meta.get("n_images", 0))
        return np.arange(n, dtype=np.int64)

    def percent(self, role: str) -> int | None:
        """The model's measured percentage of zero conv+linear weights, rounded to a whole percent: what names and
        orders it. Older files without it: the shipped rung's percent, then their recorded zero fraction; None when
        the scan says nothing about the model."""
        if role in self.meta.get("percent", {}):
            return int(self.meta["percent"][role])
        if (p := percent_of(role)) is not None:
            return p
        zf = self.meta.get("zero_fraction", {}).get(role)
        return None if zf is None else round(zf * 100)

    def label(self, role: str) -> str:
        """What titles and captions call the model: ``dense`` or ``pruned 80%`` (its role when its percent is unknown)."""
        p = self.percent(role)
        return role if p is None else rung_label(p)

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


def quick_indices(labels: np.ndarray) -> np.ndarray:
    """The quick pass's images: :data:`QUICK_IMAGES` of the split, stratified, seeded :data:`SAMPLE_SEED`."""
    return stratified_indices(labels, QUICK_IMAGES, SAMPLE_SEED)


def describe_sample(labels: np.ndarray, indices: np.ndarray, seed: int = SAMPLE_SEED) -> dict[str, Any]:
    """What ``meta["sample"]`` records: ``kind`` full (every image), stratified (:func:`stratified_indices` with
    ``seed``) or subset (any other choice), ``n`` of ``of`` images, ``per_class`` (the smallest class quota) and
    ``seed`` (None but for a stratified sample)."""
    of, n = len(labels), len(indices)
    if n == of:
        return {"kind": "full", "n": n, "of": of, "per_class": None, "seed": None}
    if np.array_equal(indices, stratified_indices(labels, n, seed)):
        quotas = class_quotas(labels, n).values()
        return {"kind": "stratified", "n": n, "of": of, "per_class": min(quotas), "classes": len(quotas), "seed": seed}
    return {"kind": "subset", "n": n, "of": of, "per_class": None, "seed": None}


def sample_of(scan: ScanResult) -> dict[str, Any]:
    """The scan's ``meta["sample"]``; an older file (which always scanned from the first image) is full."""
    n = int(scan.meta.get("n_images", len(scan.indices)))
    return scan.meta.get("sample") or {"kind": "full", "n": n, "of": n, "per_class": None, "seed": None}


def is_full(scan: ScanResult) -> bool:
    """Whether the scan covers every image of the split."""
    return sample_of(scan)["kind"] == "full"


def coverage(scan: ScanResult, full_pass_follows: bool = False) -> str:
    """What a scan covers, as every page says it: ``the full test split (10,000 images)`` or ``a quick stratified
    sample (1,000 of 10,000 test images, 100 per class, seed 0)``, plus ``; the full pass replaces it`` when one
    is under way (``full_pass_follows``)."""
    s = sample_of(scan)
    if s["kind"] == "full":
        return f"the full test split ({s['n']:,} images)"
    if s["kind"] == "stratified":
        per, k = s["per_class"], s.get("classes", 10)
        each = f"{per}" if per * k == s["n"] else f"{per}-{per + 1}"
        quick = "quick " if s["n"] == QUICK_IMAGES and s["seed"] == SAMPLE_SEED else ""
        text = f"a {quick}stratified sample ({s['n']:,} of {s['of']:,} test images, {each} per class, seed {s['seed']})"
    else:
        text = f"a subset ({s['n']:,} of {s['of']:,} test images)"
    return text + ("; the full pass replaces it" if full_pass_follows else "")


def _scan_indices(indices: np.ndarray | None, n_split: int) -> np.ndarray:
    """``indices`` sorted, each once, checked against the split; None: every image."""
    if indices is None:
        return np.arange(n_split, dtype=np.int64)
    idx = np.unique(np.asarray(indices, dtype=np.int64))
    if idx.size == 0 or idx[0] < 0 or idx[-1] >= n_split:
        raise ConfigError(f"scan indices must be non-empty and within 0..{n_split - 1}, got "
                          f"{'none' if idx.size == 0 else f'{idx[0]}..{idx[-1]}'}")
    return idx


@torch.no_grad()
def scan_models(models: Mapping[str, nn.Module], split: Split, batch_size: int = 250, k: int = 9,
                progress: bool = True, indices: np.ndarray | None = None, cka_batch: int = CKA_BATCH,
                pairs: list[tuple[str, str]] | None = None, seed: int = 0,
                on_batch: Callable[[int, int], None] | None = None, sample_seed: int = SAMPLE_SEED) -> ScanResult:
    """Scan the images ``indices`` of ``split`` (all by default; e.g. :func:`stratified_indices`) with each model
    (dense first, e.g. ``{"dense": m0, "p55": m1, ...}``) in fp32.

    Images are visited in :func:`scan_order` over the subset. Each batch runs through every model; per-channel
    statistics and one Gram matrix per block and minibatch of ``cka_batch`` images are reduced in the hooks; the
    pairs' CKA and correlations are folded in once every model has seen the batch. ``on_batch(done, total)`` runs
    after every batch; an exception it raises cancels the scan (it propagates). Predictions and labels come back
    in the order of the sorted ``indices`` (:attr:`ScanResult.indices`); ``sample_seed`` is the seed
    ``meta["sample"]`` records when ``indices`` are a stratified sample.
    """
    roles = list(models)
    for m in models.values():
        _check_eval(m)
    pairs = default_pairs(roles) if pairs is None else pairs
    ref = roles[0]
    chosen = _scan_indices(indices, len(split))
    n = len(chosen)
    # every running statistic allocated before the first activation, not among them (channel_stats.BlockStats)
    scratch = scratch_for()  # one buffer for every block's count of positions > 0
    widths = {r: {name: b.conv.out_channels for name, b in blocks(m).items()} for r, m in models.items()}
    stats = {r: {name: BlockStats(c, k, len(split.classes), scratch=scratch, batch=min(batch_size, n))
                 for name, c in widths[r].items()} for r in roles}
    moments = {(pair_key(a, b), name): PairMoments(c) for a, b in pairs if a == ref
               for name, c in widths[a].items()}  # (pair, block) -> running sums for the correlation
    cka: dict[tuple[PairKey, str], MinibatchCKA] = {}
    # [N, logits] per model in scan order, allocated once: tensors kept from every batch would fragment the heap
    visited: dict[str, torch.Tensor] = {}
    perm = scan_order(n, seed)  # positions in ``chosen``
    order = chosen[perm]  # dataset indices, in visiting order
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
                means[role][name] = stats[role][name].update(out, index, label)
                if pairs:  # without pairs there is no CKA to feed
                    grams[role][name] = minibatch_grams(out, cka_batch)

            with block_hooks(model, on_block):
                logits = model(x).float()  # [B, 10]
            if role not in visited:  # allocated once, on the first batch
                visited[role] = torch.empty(n, logits.shape[1])
            torch.softmax(logits, 1, out=visited[role][s:s + len(index)])
        # every block's Gram matrices of one minibatch as one stack [blocks, m, m], so HSIC_1 runs once per minibatch
        names = list(grams[ref])
        stacks = {r: [torch.stack(ks) for ks in zip(*(grams[r][name] for name in names))]
                  for r in {r for pair in pairs for r in pair}}
        own = {r: [hsic1_many(k, k).tolist() for k in ks] for r, ks in stacks.items()}  # HSIC_1(K, K), once per model
        for a, b in pairs:
            accs = [cka.setdefault((pair_key(a, b), name), MinibatchCKA()) for name in names]
            for j, (ka, kb) in enumerate(zip(stacks[a], stacks[b])):
                for acc, xy, xx, yy in zip(accs, hsic1_many(ka, kb).tolist(), own[a][j], own[b][j]):
                    acc.add(xy, xx, yy)
            if a == ref:
                for name in names:
                    moments[(pair_key(a, b), name)].update(means[a][name], means[b][name])
        if on_batch is not None:
            on_batch(min(s + batch_size, n), n)
    block_names = list(relu_modules(models[ref]))
    result = ScanResult({r: {b: stats[r][b].result() for b in block_names} for r in roles})
    for r in roles:
        for b, fs in filter_sparsity(models[r]).items():
            result.models[r][b]["filter_sparsity"] = fs.astype(np.float32)
        probs = torch.empty_like(visited[r])
        probs[torch.from_numpy(perm)] = visited[r]  # back in the order of ``chosen``
        result.predictions[r] = {"pred": probs.argmax(1).numpy().astype(np.int64), "probs": probs.numpy()}
    for (key, name), m in moments.items():
        result.pair.setdefault(key, {})[name] = {"correlation": m.correlation().numpy()}
    result.labels = np.asarray(split.labels)[chosen].astype(np.int64)
    result.image_index = chosen
    zf = {r: zero_fraction(m) for r, m in models.items()}
    result.meta = {"version": SCAN_VERSION, "n_images": n, "k": k, "precision": "fp32", "roles": roles,
                   "sample": describe_sample(np.asarray(split.labels), chosen, sample_seed),
                   "zero_fraction": zf, "percent": {r: round(z * 100) for r, z in zf.items()},
                   "blocks": block_names, "pairs": [pair_key(a, b) for a, b in pairs],
                   "cka": {pair_key(a, b): {name: cka[(pair_key(a, b), name)].value() for name in block_names}
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
    for role, per_block in result.models.items():
        for b, st in per_block.items():
            for name, v in st.items():
                arrays[f"model/{role}/{b}/{name}"] = v.astype(np.int16 if name == "topk_index" else np.float32)
    for key, per_block in result.pair.items():
        for b, st in per_block.items():
            arrays[f"pair/{key}/{b}/correlation"] = st["correlation"].astype(np.float32)
    for role, p in result.predictions.items():
        arrays[f"pred/{role}"] = p["pred"].astype(np.int8)
        arrays[f"probs/{role}"] = p["probs"].astype(np.float32)  # exact: compare reads them back
    if result.labels is not None:
        arrays["labels"] = result.labels.astype(np.int8)
    if result.image_index is not None:
        arrays["indices"] = result.image_index.astype(np.int32)
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
            elif kind == "indices":
                res.image_index = z[key].astype(np.int64)
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
             batch_size: int = 250, progress: bool = True, indices: np.ndarray | None = None,
             cka_batch: int = CKA_BATCH, on_batch: Callable[[int, int], None] | None = None,
             load: Callable[[Path], nn.Module] | None = None) -> ScanResult:
    """Load the checkpoints (dense first; ``load(path)``, default :func:`~vggexplorer.load_model`, e.g. models a
    process already holds), scan the images ``indices`` (all by default) with :func:`scan_models`, compare, record
    provenance (file hashes, timing, each model's zero fraction and percent), save atomically: a scan killed or
    cancelled (``on_batch`` raising) leaves no file behind."""
    from ..model.checkpoint import load_model
    from .compare import compare_scan
    from ..model.runtime import hardware_summary

    models = {role: (load or load_model)(Path(p)) for role, p in checkpoints.items()}
    t0 = time.perf_counter()
    result = scan_models(models, split, batch_size=batch_size, k=k, progress=progress, indices=indices,
                         cka_batch=cka_batch, on_batch=on_batch)
    result.meta.update({
        "checkpoints": {r: str(p) for r, p in checkpoints.items()},
        "checkpoint_sha256": {r: file_sha256(p) for r, p in checkpoints.items()},
        "wall_s": round(time.perf_counter() - t0, 1),
        "hardware": hardware_summary(torch.device("cpu")),
        "command": SCAN_CMD,
    })
    result.meta["compare"] = compare_scan(result)
    save_scan(result, out)
    return result
