"""Dead filters, graded: the one definition of each category (the README repeats it for users).

Per model, block and channel, from the filter's weights and the dataset scan:

* **weight-dead**: every weight of the filter is exactly zero. (BatchNorm still adds its shift, so a
  weight-dead filter can emit a constant positive map after the ReLU: it is not always activation-dead.)
* **activation-dead**: the post-ReLU output is zero at every position of every test image.
* **dormant**: non-zero at fewer than 1% of all spatial positions over the test split (an
  activation-dead channel is dormant too).
* **weakened**: mean activation below 25% of the same channel's mean in the dense model (never
  for the dense model itself, nor where the dense channel is itself silent).

The categories overlap (counts are per category, not exclusive); a channel's single *status* is
the first that applies in the order above, else ``alive``. Per image the app adds
``zero on this image``: the channel's map is zero everywhere for the current image.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

WEIGHT_DEAD = "weight-dead"
ACTIVATION_DEAD = "activation-dead"
DORMANT = "dormant"
WEAKENED = "weakened"
ALIVE = "alive"
ZERO_ON_IMAGE = "zero on this image"
CATEGORIES: tuple[str, ...] = (WEIGHT_DEAD, ACTIVATION_DEAD, DORMANT, WEAKENED)  # priority order

DORMANT_DENSITY = 0.01  # fraction of all positions over the test split
WEAKENED_RATIO = 0.25  # of the dense channel's mean activation
SPARSE_FILTER = 0.90  # "a filter at least 90% zero"
SPARSE_FILTERS = "filters >= 90% zero"


def grade(filter_sparsity: np.ndarray, fire_fraction: np.ndarray, density: np.ndarray, mean: np.ndarray,
          dense_mean: np.ndarray | None) -> dict[str, np.ndarray]:
    """Category -> ``bool [C]`` for one block of one model.

    ``filter_sparsity``: fraction of each filter's weights that are zero; ``fire_fraction``: images
    on which the channel is > 0 somewhere; ``density``: positions > 0 over all images and positions;
    ``mean``: mean activation; ``dense_mean``: the dense model's ``mean`` (None for dense itself).
    """
    weakened = np.zeros(len(mean), bool)
    if dense_mean is not None:
        weakened = (dense_mean > 0) & (mean < WEAKENED_RATIO * dense_mean)
    return {
        WEIGHT_DEAD: np.asarray(filter_sparsity) >= 1.0,
        ACTIVATION_DEAD: np.asarray(fire_fraction) <= 0.0,
        DORMANT: np.asarray(density) < DORMANT_DENSITY,
        WEAKENED: weakened,
    }


def status(flags: Mapping[str, np.ndarray]) -> np.ndarray:
    """``str [C]``: the first category that applies, in priority order, else ``alive``."""
    n = len(next(iter(flags.values())))
    out = np.full(n, ALIVE, dtype=object)
    for cat in reversed(CATEGORIES):  # the highest priority is written last and wins
        out[np.asarray(flags[cat], bool)] = cat
    return out


def counts(flags: Mapping[str, np.ndarray], filter_sparsity: np.ndarray) -> dict[str, int]:
    """Channels in each category (overlapping), plus the filters at least 90% zero."""
    out = {cat: int(np.sum(flags[cat])) for cat in CATEGORIES}
    out[SPARSE_FILTERS] = int(np.sum(np.asarray(filter_sparsity) >= SPARSE_FILTER))
    out["channels"] = int(len(filter_sparsity))
    return out


def died_at(flags_by_rung: Mapping[int, Mapping[str, np.ndarray]],
            categories: tuple[str, ...] = (WEIGHT_DEAD, ACTIVATION_DEAD, DORMANT)) -> np.ndarray:
    """``int [C]``: the first rung (percent, ascending) at which a channel is in any of ``categories``; -1 never."""
    rungs = sorted(flags_by_rung)
    n = len(next(iter(flags_by_rung[rungs[0]].values())))
    out = np.full(n, -1, np.int64)
    for pct in reversed(rungs):  # the lowest rung is written last and wins
        dead = np.zeros(n, bool)
        for cat in categories:
            dead |= np.asarray(flags_by_rung[pct][cat], bool)
        out[dead] = pct
    return out
