"""What the app's ladder views show, as plain functions of the scan, its stored comparison and the models.

Everything over the test split comes from a scan (the shipped ``checkpoints/scan.npz`` or one of your ladder),
which names and orders its own models (``scan.percent``, ``scan.label``), read once; only
the per-image views (one channel across the ladder) run the models, one image at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
from torch import nn

from ..stats import status as dead
from ..probe.hooks import block_output
from ..stats.status import grade_block
from ..model.vgg import blocks, sparsity_of

if TYPE_CHECKING:  # pandas is imported where a table is built: the Explorer never needs it
    import pandas as pd


def ladder_roles(scan) -> list[str]:
    """The scan's models in ladder order: dense (its first model) first, then by percent of zero weights
    (:meth:`~vggexplorer.stats.scan.ScanResult.percent`; a model of unknown percent last)."""
    dense, *rest = scan.roles
    return [dense] + sorted(rest, key=lambda r: (scan.percent(r) is None, scan.percent(r) or 0))


def death_counts(scan) -> dict[int, dict[str, dict[str, int]]]:
    """``counts[percent][block][category]``: the graded dead counts of dense and every rung."""
    roles = ladder_roles(scan)
    return {scan.percent(r): dead.graded_dead(scan, r, roles[0]) for r in roles}


def filter_sparsity_by_rung(scan) -> dict[int, dict[str, np.ndarray]]:
    """``sparsity[percent][block]``: each filter's fraction of zero weights."""
    return {scan.percent(r): {b: scan.stat(r, b, "filter_sparsity") for b in scan.blocks} for r in ladder_roles(scan)}


def cka_by_rung(report: Mapping[str, Any]) -> dict[int, dict[str, float]]:
    """``cka[percent][block]`` between dense and each rung, from the stored comparison."""
    return {p["percent"]: dict(p["cka"]) for p in report["pairs"] if p.get("percent") is not None}


def accuracy_points(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The lab's curve: dense and every rung as ``{percent, zero_fraction, top1}``."""
    ref = report["reference"]
    pts = [{"percent": 0, "zero_fraction": ref.get("zero_fraction") or 0.0, "top1": ref["top1"]}]
    pts += [{"percent": p["percent"], "zero_fraction": p["zero_fraction"], "top1": p["top1"]} for p in report["pairs"]]
    return pts


def per_class_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every rung's per-class rows, each tagged with its rung's ``percent``."""
    return [{"percent": p["percent"], **row} for p in report["pairs"] for row in p["per_class"]]


def pair_for(report: Mapping[str, Any], role: str) -> Mapping[str, Any]:
    """The stored comparison of dense against ``role``; ``KeyError`` names the rungs it has."""
    for p in report["pairs"]:
        if p["role"] == role:
            return p
    raise KeyError(f"the scan has no comparison for {role!r}; it has {[p['role'] for p in report['pairs']]}")


def disagreement_frame(report: Mapping[str, Any], role: str, cls: str | None = None,
                       kind: str | None = None) -> pd.DataFrame:
    """The ranked disagreement list of one rung, optionally only one true class and/or one kind
    (``fixed``, ``broke``, ``both wrong``); sorted by symmetric KL, largest first."""
    import pandas as pd

    rows = pair_for(report, role)["disagreement_list"]
    df = pd.DataFrame(rows, columns=["index", "truth", "dense_pred", "pruned_pred", "kind", "dense_probs",
                                     "pruned_probs", "sym_kl"])
    if cls:
        df = df[df["truth"] == cls]
    if kind:
        df = df[df["kind"] == kind]
    return df.reset_index(drop=True)


def channel_table(scan, block: str, role: str) -> pd.DataFrame:
    """One row per channel of ``block``: its status and statistics on the chosen rung ``role``, its
    status on every model, and the rung at which it died (:data:`vggexplorer.stats.status.DIED_AT`)."""
    import pandas as pd

    roles = ladder_roles(scan)
    ref = roles[0]
    statuses = {r: dead.status(grade_block(scan, r, block, ref)) for r in roles}
    died = dead.scan_died_at(scan, block, ref)
    st = scan.models[role][block]
    df = pd.DataFrame({
        "channel": np.arange(len(st["mean"])),
        "died at": dead.died_at_labels(died),
        "status": statuses[role],
        "filter % zero": np.round(st["filter_sparsity"] * 100, 1),
        "density %": np.round(st["density"] * 100, 2),
        "fires on % of images": np.round(st["fire_fraction"] * 100, 1),
        "mean": st["mean"],
        "mean / dense": np.where(scan.stat(ref, block, "mean") > 0,
                                 st["mean"] / np.maximum(scan.stat(ref, block, "mean"), 1e-12), np.nan),
    })
    for r in roles:
        df[scan.label(r)] = statuses[r]
    df["died_at_percent"] = died
    return df


def channel_statuses(scan, block: str, channel: int) -> dict[str, str]:
    """Role -> the channel's status on that model (over the test split)."""
    roles = ladder_roles(scan)
    return {r: str(dead.status(grade_block(scan, r, block, roles[0]))[channel]) for r in roles}


def filter_sparsity_of(model: nn.Module, block: str, channel: int) -> float:
    """Fraction of zero weights in one filter of ``block``."""
    return sparsity_of(blocks(model)[block].conv.weight.detach()[channel])


def filter_weights(model: nn.Module, block: str, channel: int) -> np.ndarray:
    """One filter's weights ``[Cin, 3, 3]`` as float32 numpy."""
    return blocks(model)[block].conv.weight.detach()[channel].float().numpy().copy()


def block_across(models: Mapping[str, nn.Module], image: np.ndarray, block: str,
                 known: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Role -> one block's post-ReLU maps ``[C, H, W]`` on one image, for every given model.

    ``known``: role -> maps already computed (the Explorer's two models), taken as they are. Every other
    model runs only as far as ``block``; the models are not modified.
    """
    out = {}
    for role, m in models.items():
        if known is not None and role in known:
            out[role] = np.asarray(known[role])
        else:
            out[role] = block_output(m, image[None] if image.ndim == 3 else image, block)[0].numpy()  # [C, H, W]
    return out


def shared_zmax(maps: Mapping[str, np.ndarray]) -> float:
    """One colour scale for a channel across the ladder: the largest value of any of its maps."""
    m = max((float(np.max(v)) for v in maps.values() if v.size), default=0.0)
    return m if m > 0 else 1.0

