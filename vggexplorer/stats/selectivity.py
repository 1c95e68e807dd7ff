"""A channel's class profile and class selectivity, from the dataset scan.

The scan keeps, per model, block and channel, the mean over each class's test images of the channel's spatial-mean
post-ReLU activation (``class_mean``, ``[C, classes]``). From it: a channel's profile (:func:`class_profile`), the
class it fires for most (:func:`preferred_class`), the class selectivity index of Morcos et al. 2018
(:func:`selectivity_index`, defined once in :data:`DEFINITION`) and its distribution over a block's channels
(:func:`distribution`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..model.ladder import SCAN_CMD
from .status import Definition

CLASS_MEAN = "class_mean"  # the scan's per-channel statistic: [C, classes]
SELECTIVITY = "class selectivity index"
DEFINITION = Definition(
    SELECTIVITY,
    "(μmax − μrest) / (μmax + μrest), with μmax the largest of the channel's 10 class means (the mean over a "
    "class's test images of its spatial-mean activation after the ReLU) and μrest the mean of the other 9 (Morcos "
    "et al. 2018). 0: no class preference; 1: fires for one class only; undefined for a channel that never fires "
    "(every mean 0).")
NEEDS_SCAN = "The class profile needs a scan of the test split: the dataset scan covers the shipped checkpoints."
OLD_SCAN = f"The dataset scan predates class profiles (it keeps no per-class means). Rebuild it with: `{SCAN_CMD}`"


def definition_markdown() -> str:
    """The index's definition, as every page that shows it writes it."""
    return f"**{DEFINITION.name}**: {DEFINITION.text}"


def missing(scan: Any, role: str) -> str | None:
    """Why ``scan`` (a ScanResult or ScanView, or None) holds no class profile for ``role``; None when it does."""
    if scan is None or role not in scan.models:
        return NEEDS_SCAN
    blocks = scan.models[role]
    if not blocks or any(CLASS_MEAN not in st for st in blocks.values()):
        return OLD_SCAN
    return None


def class_profile(scan: Any, role: str, block: str, channel: int) -> np.ndarray:
    """``float64 [classes]``: the channel's mean activation per class over the test split (NaN: a class with no
    image in the scan). Ask :func:`missing` first: a model or scan without class means raises ``KeyError``."""
    return np.asarray(scan.stat(role, block, CLASS_MEAN)[channel], np.float64)


def _finite_classes(class_means: np.ndarray) -> np.ndarray:
    """The columns (classes) that had images: a class the scan never saw is NaN in every channel."""
    return class_means[:, np.isfinite(class_means).all(0)]


def selectivity_index(class_means: np.ndarray) -> np.ndarray:
    """``[C, classes]`` class means -> ``float64 [C]``: (μmax − μrest) / (μmax + μrest) (:data:`DEFINITION`).

    Classes without images (NaN columns) are left out. A channel whose means are all 0 has no index: NaN, never 0
    (0 would claim "no class preference" for a channel that does not fire at all)."""
    m = np.asarray(class_means, np.float64)
    if m.ndim != 2:
        raise ValueError(f"class means must be [channels, classes], got shape {m.shape}")
    m = _finite_classes(m)
    if m.shape[1] < 2:
        raise ValueError(f"the index compares classes: {m.shape[1]} class(es) with images, need at least 2")
    mu_max = m.max(1)
    mu_rest = (m.sum(1) - mu_max) / (m.shape[1] - 1)
    den = mu_max + mu_rest
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (mu_max - mu_rest) / np.where(den > 0, den, 1.0), np.nan)


def preferred_class(profile: np.ndarray) -> int | None:
    """The class a profile ``[classes]`` is highest for (the lowest index on a tie); None when it never fires."""
    p = np.asarray(profile, np.float64)
    p = np.where(np.isfinite(p), p, -np.inf)
    return int(p.argmax()) if p.size and p.max() > 0 else None


@dataclass(frozen=True)
class Distribution:
    """The index over a block's channels: quartiles, Tukey whiskers (the farthest values within 1.5 IQR of the box),
    how many channels have an index and how many do not (never fire)."""

    n: int
    undefined: int
    q1: float
    median: float
    q3: float
    lower: float
    upper: float

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def distribution(index: np.ndarray) -> Distribution:
    """Summary of ``[C]`` indices; NaN (undefined) counted apart; all NaN gives NaN quartiles and ``n == 0``."""
    v = np.asarray(index, np.float64).ravel()
    ok = v[np.isfinite(v)]
    if ok.size == 0:
        nan = float("nan")
        return Distribution(0, int(v.size), nan, nan, nan, nan, nan)
    q1, med, q3 = (float(x) for x in np.percentile(ok, [25, 50, 75]))  # linear interpolation, as Plotly's boxes
    iqr = q3 - q1
    lower = float(ok[ok >= q1 - 1.5 * iqr].min())
    upper = float(ok[ok <= q3 + 1.5 * iqr].max())
    return Distribution(int(ok.size), int(v.size - ok.size), q1, med, q3, lower, upper)


def block_selectivity(scan: Any, role: str) -> dict[str, np.ndarray]:
    """Block -> ``[C]`` index of every channel of ``role`` (ask :func:`missing` first)."""
    return {b: selectivity_index(st[CLASS_MEAN]) for b, st in scan.models[role].items()}


def selectivity_by_role(scan: Any, roles: list[str] | None = None) -> Mapping[str, dict[str, np.ndarray]]:
    """Role -> block -> ``[C]`` index, for the roles (default: all) that have class means."""
    roles = list(scan.models) if roles is None else roles
    return {r: block_selectivity(scan, r) for r in roles if missing(scan, r) is None}
