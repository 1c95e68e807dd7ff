"""What the app shows, computed as plain functions: per-image analysis, channel tables, model summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..probe.hooks import Capture, capture_activations
from ..probe.analysis import channel_cosine
from ..stats import status as dead
from ..probe.importance import ablation, gradient_x_activation, last_block_contributions
from ..model.vgg import count_macs, count_nonzero_params, count_params, zero_fraction
from ..stats.scan import ScanResult, pair_key

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is built: the Explorer's first page never needs pandas


Scores = dict[str, np.ndarray]  # role -> [C]
GRADIENT = "gradient x activation of the class logit"
EXACT = "exact logit contribution: W[class, c] x pooled activation"
ABLATION = "ablation: drop of p(class) when the channel is zeroed"


@dataclass
class ImageAnalysis:
    """Both models on one image: captures and per-channel comparisons."""

    captures: dict[str, Capture]  # role -> capture of one image
    cosine: dict[str, torch.Tensor]  # block -> [C] dense-vs-pruned cosine on this image

    def maps(self, role: str, block: str) -> torch.Tensor:
        return self.captures[role].block(block)  # [C, H, W]

    def probs(self, role: str) -> torch.Tensor:
        return self.captures[role].probs[0]


def analyze_image(models: Mapping[str, nn.Module], image: np.ndarray) -> ImageAnalysis:
    """Capture every block of every model on one ``uint8 [32, 32, 3]`` image and compare dense with pruned.

    One forward pass per model, without gradients: the importance of the channels
    (:func:`importance_every_block`) runs its own pass when it is asked for.
    """
    caps = {r: capture_activations(m, image[None]) for r, m in models.items()}
    roles = list(caps)
    cos = {}
    if len(roles) == 2:
        a, b = caps[roles[0]], caps[roles[1]]
        cos = {blk: channel_cosine(a.block(blk), b.block(blk)) for blk in a.activations}
    return ImageAnalysis(caps, cos)


@dataclass
class ScanView:
    """A dataset scan's statistics for the models on screen, by their role there (e.g. ``dense``, ``pruned``)."""

    models: dict[str, dict[str, dict[str, np.ndarray]]]  # role -> block -> stat -> [C] or [C, k]
    pair: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # block -> {"correlation": [C]}, dense vs pruned

    def stat(self, role: str, block: str, name: str) -> np.ndarray:
        return self.models[role][block][name]


def scan_view(scan: ScanResult, scanned_as: Mapping[str, str]) -> ScanView:
    """The statistics of the models on screen: ``scanned_as`` maps their role here to their role in the scan."""
    names = {here: there for here, there in scanned_as.items() if there in scan.models}
    roles = list(names)
    pair = scan.pair.get(pair_key(names[roles[0]], names[roles[1]]), {}) if len(roles) == 2 else {}
    return ScanView({here: scan.models[there] for here, there in names.items()}, pair)


def slot_statuses(scan: ScanResult | None, scanned_as: Mapping[str, str],
                  filter_sparsity: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    """Slot -> block -> ``str [C]``: every channel's status (:mod:`vggexplorer.stats.status`) for the models shown.

    ``scanned_as``: slot -> the model's role in the scan, for the shipped models; ``filter_sparsity``: slot ->
    block -> ``[C]``. A model the scan holds is graded from it (weakened against the scan's dense model); any
    other gets only what its weights tell (weight-dead, else not scanned).
    """
    out = {}
    for slot, fs in filter_sparsity.items():
        role = scanned_as.get(slot)
        if scan is not None and role in scan.models:
            out[slot] = dead.block_statuses(scan, role, scan.roles[0])
        else:
            out[slot] = {b: dead.unscanned(v) for b, v in fs.items()}
    return out


def top_contributors(scores: np.ndarray, top: int) -> tuple[np.ndarray, int]:
    """(the ``top`` channels by score, largest first, among those that contribute; how many contribute).

    A channel contributes when its score is non-zero: the rest (a silent channel has no gradient, no logit
    share, no ablation drop) would only fill a ranking with ties at zero.
    """
    s = np.asarray(scores, dtype=np.float64)
    live = np.flatnonzero(s != 0)
    order = live[np.argsort(-s[live], kind="stable")]
    return order[:top], int(len(live))


def importance_scores(models: Mapping[str, nn.Module], analysis: ImageAnalysis, image: np.ndarray, block: str,
                      cls: int, method: str = "auto") -> tuple[Scores, str]:
    """Per model, ``[C]`` importance of ``block``'s channels for class ``cls`` and the measure's name.

    ``auto``: exact logit contribution for the last block, gradient x activation elsewhere (see
    :func:`importance_every_block`); ``ablation``: drop in the class probability when the channel is zeroed.
    """
    if method == "ablation":
        return {r: ablation(m, image[None], block, cls).numpy() for r, m in models.items()}, ABLATION
    return importance_every_block(models, analysis, image, cls)[block]


def importance_every_block(models: Mapping[str, nn.Module], analysis: ImageAnalysis, image: np.ndarray, cls: int
                           ) -> dict[str, tuple[Scores, str]]:
    """Block -> (per model ``[C]`` importance for class ``cls``, the measure's name): gradient x activation (one
    forward and backward pass per model), and for the last block its exact logit contribution."""
    grads = {r: gradient_x_activation(m, image[None], cls) for r, m in models.items()}
    *blocks, last = list(analysis.captures[next(iter(models))].activations)
    out = {b: ({r: grads[r][b].numpy() for r in models}, GRADIENT) for b in blocks}
    out[last] = ({r: last_block_contributions(m, analysis.maps(r, last), cls).per_channel.numpy()
                  for r, m in models.items()}, EXACT)
    return out


def survival_summary(scores: np.ndarray, status: Sequence[str], filt_sparsity: np.ndarray, top: int = 10
                     ) -> dict[str, Any]:
    """For the ``top`` channels by importance among those that contribute (:func:`top_contributors`): how many
    contribute at all, how many of the top have surviving filters (not weight-dead), how many of them are in each
    status, and their filters' mean sparsity."""
    order, n = top_contributors(scores, top)
    st = [str(status[c]) for c in order]
    return {"channels": order.tolist(), "contributing": n, "of": int(len(scores)),
            "survived": sum(s != dead.WEIGHT_DEAD for s in st),
            "statuses": {k: st.count(k) for k in (*dead.CATEGORIES, dead.UNSCANNED, dead.ALIVE) if k in st},
            "mean_filter_sparsity": float(np.mean(filt_sparsity[order])) if len(order) else 0.0}


def channel_table(models: Mapping[str, nn.Module], scan: ScanView | None, blocks: list[str],
                  statuses: Mapping[str, Mapping[str, np.ndarray]], died_at: Mapping[str, np.ndarray] | None = None,
                  pruned_percent: int | None = None) -> "pd.DataFrame":
    """One row per (block, channel) with weight and dataset statistics of both models.

    ``statuses``: slot -> block -> ``str [C]`` (:func:`slot_statuses`), the ``{slot}_status`` columns.
    ``died_at``: block -> ``int [C]``, the rung at which each channel died across the shipped ladder
    (:func:`vggexplorer.stats.status.scan_died_at`), given when the pruned model is the shipped rung at
    ``pruned_percent``: the ``died_at`` column, and ``died_with_pruning`` (died at that rung or below).
    """
    import pandas as pd

    roles = list(models)
    fs = {r: dead.filter_sparsity(m) for r, m in models.items()}
    wd = {r: {b: dead.weight_dead_filters(v) for b, v in fs[r].items()} for r in roles}
    frames = []
    for b in blocks:
        df = pd.DataFrame({"block": b, "channel": np.arange(len(fs[roles[0]][b]))})
        for r in roles:
            df[f"{r}_filter_sparsity"] = fs[r][b]
            df[f"{r}_weight_dead"] = wd[r][b]
            if scan is not None and r in scan.models:
                df[f"{r}_mean"] = scan.stat(r, b, "mean")
                df[f"{r}_fire_fraction"] = scan.stat(r, b, "fire_fraction")
                df[f"{r}_max"] = scan.stat(r, b, "max")
                df[f"{r}_activation_dead"] = dead.activation_dead({b: scan.stat(r, b, "fire_fraction")})[b]
            df[f"{r}_status"] = statuses[r][b]
        if scan is not None and b in scan.pair:
            df["similarity"] = scan.pair[b]["correlation"]
        if died_at is not None and pruned_percent is not None:
            df["died_at"] = dead.died_at_labels(died_at[b])
            df["died_with_pruning"] = (died_at[b] >= 0) & (died_at[b] <= pruned_percent)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def model_summary(model: nn.Module, path: str | Path | None = None) -> dict[str, Any]:
    """Parameters, MACs, non-zeros, size on disk and accuracy from the checkpoint metadata."""
    meta = getattr(model, "meta", {})
    metrics = meta.get("metrics", {})
    return {
        "role": meta.get("role"),
        "params": count_params(model),
        "nonzero_params": count_nonzero_params(model),
        "weight_sparsity": zero_fraction(model),
        "macs": count_macs(model),
        "size_on_disk_bytes": Path(path).stat().st_size if path and Path(path).exists() else None,
        "test_top1": metrics.get("test_top1"),
        "val_top1": metrics.get("val_top1"),
    }
