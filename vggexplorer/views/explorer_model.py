"""What the app shows, computed as plain functions: per-image analysis, channel tables, model summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
from torch import nn

from ..probe.hooks import Capture, capture_activations
from ..probe.analysis import activation_dead, channel_cosine, filter_sparsity, weight_dead, zero_on_image
from ..stats import status as dead
from ..stats.status import ACTIVATION_DEAD, ALIVE, WEIGHT_DEAD, ZERO_ON_IMAGE
from ..probe.importance import ablation, gradient_x_activation, last_block_contributions
from ..model.vgg import count_macs, count_nonzero_params, count_params, zero_fraction
from ..stats.compare import grade_block
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
    zero_now: dict[str, dict[str, torch.Tensor]]  # role -> block -> bool [C]

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
    zero = {r: zero_on_image({blk: t[0] for blk, t in c.activations.items()}) for r, c in caps.items()}
    return ImageAnalysis(caps, cos, zero)


@dataclass
class ScanView:
    """A dataset scan's statistics for the models on screen, by their role there (e.g. ``dense``, ``pruned``)."""

    models: dict[str, dict[str, dict[str, np.ndarray]]]  # role -> block -> stat -> [C] or [C, k]
    pair: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # block -> {"correlation": [C]}, dense vs pruned

    def stat(self, role: str, block: str, name: str) -> np.ndarray:
        return self.models[role][block][name]

    def never_fires(self, role: str, block: str) -> np.ndarray | None:
        """``bool [C]``: activation-dead on the test split, or None when the scan lacks this model."""
        if role not in self.models:
            return None
        return activation_dead({block: torch.from_numpy(self.stat(role, block, "fire_fraction"))})[block].numpy()


def scan_view(scan: ScanResult, scanned_as: Mapping[str, str]) -> ScanView:
    """The statistics of the models on screen: ``scanned_as`` maps their role here to their role in the scan."""
    names = {here: there for here, there in scanned_as.items() if there in scan.models}
    roles = list(names)
    pair = scan.pair.get(pair_key(names[roles[0]], names[roles[1]]), {}) if len(roles) == 2 else {}
    return ScanView({here: scan.models[there] for here, there in names.items()}, pair)


def channel_flags(weight_dead_: np.ndarray, never_fires: np.ndarray | None, zero_now: np.ndarray | None
                  ) -> dict[str, np.ndarray]:
    """Status name -> ``bool [C]`` for one block of one model, in priority order (missing inputs are left out)."""
    flags = {WEIGHT_DEAD: np.asarray(weight_dead_, bool)}
    if never_fires is not None:
        flags[ACTIVATION_DEAD] = np.asarray(never_fires, bool)
    if zero_now is not None:
        flags[ZERO_ON_IMAGE] = np.asarray(zero_now, bool)
    return flags


def channel_status(flags: Mapping[str, np.ndarray]) -> list[str]:
    """Per channel: the first status of :func:`channel_flags` that applies, else ``alive``."""
    names = list(flags)
    rows = np.stack([np.asarray(flags[n], bool) for n in names], 1)
    return [names[int(r.argmax())] if r.any() else ALIVE for r in rows]


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


def survival_summary(scores: np.ndarray, status: list[str], filt_sparsity: np.ndarray, top: int = 10) -> dict[str, Any]:
    """For the ``top`` channels by importance: how many survived pruning, and their filters' sparsity."""
    order = np.argsort(-scores, kind="stable")[:top]
    st = [status[c] for c in order]
    return {"channels": order.tolist(), "survived": sum(s != WEIGHT_DEAD for s in st),
            "weight_dead": sum(s == WEIGHT_DEAD for s in st),
            "activation_dead": sum(s == ACTIVATION_DEAD for s in st),
            "mean_filter_sparsity": float(np.mean(filt_sparsity[order])) if len(order) else 0.0}


def channel_table(models: Mapping[str, nn.Module], scan: ScanView | None, blocks: list[str]) -> "pd.DataFrame":
    """One row per (block, channel) with weight and dataset statistics of both models.

    ``died_with_pruning``: alive in the dense model but weight-dead, or never firing on the test
    split, in the pruned one.
    """
    import pandas as pd

    roles = list(models)
    wd = {r: weight_dead(m) for r, m in models.items()}
    fs = {r: filter_sparsity(m) for r, m in models.items()}
    frames = []
    for b in blocks:
        c = int(wd[roles[0]][b].numel())
        df = pd.DataFrame({"block": b, "channel": np.arange(c)})
        for r in roles:
            df[f"{r}_filter_sparsity"] = fs[r][b].numpy()
            df[f"{r}_weight_dead"] = wd[r][b].numpy()
            if scan is not None and r in scan.models:
                df[f"{r}_mean"] = scan.stat(r, b, "mean")
                df[f"{r}_fire_fraction"] = scan.stat(r, b, "fire_fraction")
                df[f"{r}_max"] = scan.stat(r, b, "max")
                df[f"{r}_activation_dead"] = scan.never_fires(r, b)
                ref = roles[0] if roles[0] in scan.models else r  # "weakened" is against dense, when it was scanned
                df[f"{r}_status"] = dead.status(grade_block(scan, r, b, ref))
        if scan is not None and b in scan.pair:
            df["similarity"] = scan.pair[b]["correlation"]
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    if len(roles) == 2:
        d, p = roles
        dead_p = df[f"{p}_weight_dead"] | df.get(f"{p}_activation_dead", False)
        dead_d = df[f"{d}_weight_dead"] | df.get(f"{d}_activation_dead", False)
        df["died_with_pruning"] = dead_p & ~dead_d
    return df


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
