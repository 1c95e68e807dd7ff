"""A channel's status: the one module that decides it.

It owns the thresholds, the categories and their priority order, "zero on this image", "died at", weight-dead and
filter sparsity, and :data:`DEFINITIONS`, the table (name, rule, threshold) from which the model card,
``compare --json``, the Dead filters page and the README's paragraph are rendered
(:func:`definitions_markdown`, :func:`definitions_json`). Every view (the Explorer's mosaic hover and importance
bars, the ladder row, the channel tables and their CSVs) shows the status this module gives.

Per model, block and channel, the categories come from the filter's weights and the dataset scan; a model the
scan does not hold gets only what its weights tell (:func:`unscanned`).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..model.vgg import blocks

if TYPE_CHECKING:
    from torch import nn

WEIGHT_DEAD = "weight-dead"
ACTIVATION_DEAD = "activation-dead"
DORMANT = "dormant"
WEAKENED = "weakened"
ALIVE = "alive"
UNSCANNED = "not scanned"
ZERO_ON_IMAGE = "zero on this image"
DIED_AT = "died at"
NEVER = "never"  # died at no rung
CATEGORIES: tuple[str, ...] = (WEIGHT_DEAD, ACTIVATION_DEAD, DORMANT, WEAKENED)  # priority order
DIED: tuple[str, ...] = (WEIGHT_DEAD, ACTIVATION_DEAD, DORMANT)  # what "died at" counts
NEED_SCAN: tuple[str, ...] = (ACTIVATION_DEAD, DORMANT, WEAKENED)  # what the weights alone cannot tell

DORMANT_DENSITY = 0.01  # fraction of all positions over the test split
WEAKENED_RATIO = 0.25  # of the dense channel's mean activation
SPARSE_FILTER = 0.90  # "a filter at least 90% zero"
_FLOAT32_SLACK = 1e-6  # a float32 fraction of 0.9 reads 0.89999998


def percent(fraction: float) -> str:
    """``0.25`` -> ``25%``: how a threshold is written wherever it is shown."""
    return f"{fraction * 100:g}%"


def _either(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1]


SPARSE_FILTERS = f"filters >= {percent(SPARSE_FILTER)} zero"


@dataclass(frozen=True)
class Definition:
    """One term: its name, its rule (``{threshold}`` stands for the threshold, written as a percentage)."""

    name: str
    rule: str
    threshold: float | None = None

    @property
    def text(self) -> str:
        return self.rule if self.threshold is None else self.rule.format(threshold=percent(self.threshold))


DEFINITIONS: tuple[Definition, ...] = (
    Definition(WEIGHT_DEAD, "every weight of the filter is exactly zero. BatchNorm's shift can still make it emit a "
                            "constant after the ReLU, so weight-dead is not the same as silent."),
    Definition(ACTIVATION_DEAD, "the post-ReLU output is zero at every position of every test image."),
    Definition(DORMANT, "non-zero at fewer than {threshold} of all spatial positions over the test split (a 32x32 map "
                        "that lights one pixel per image is dormant; \"fires somewhere\" could not tell it from a busy "
                        "one).", DORMANT_DENSITY),
    Definition(WEAKENED, "mean activation below {threshold} of the same channel's mean in dense (never for dense "
                         "itself, nor where the dense channel is silent).", WEAKENED_RATIO),
    Definition(ALIVE, "none of the above. The categories overlap (an activation-dead channel is also dormant); a "
                      "channel's single status is the first that applies, in the order above."),
    Definition(UNSCANNED, f"a model the dataset scan does not hold yet (your own, while its scan runs): its weights tell "
                          f"whether it is {WEIGHT_DEAD}; whether it is {_either(NEED_SCAN)} needs a scan of the test "
                          "split."),
    Definition(ZERO_ON_IMAGE, "the channel's map is zero everywhere on the current image; said beside the status, "
                              "never instead of it."),
    Definition(DIED_AT, f"the first rung of the ladder at which the channel is {_either(DIED)} ({WEAKENED} alone is "
                        "not death)."),
    Definition(SPARSE_FILTERS, "a filter with at least {threshold} of its weights exactly zero (counted per block "
                               "beside the categories; not a status).", SPARSE_FILTER),
)
LADDER_TERMS: tuple[str, ...] = (*CATEGORIES, ALIVE, DIED_AT, SPARSE_FILTERS)  # what the scan's ladder views use


def definitions_markdown(names: Sequence[str] | None = None, indent: str = "", width: int | None = None) -> str:
    """The definitions (all, or those named, in the table's order) as a markdown bullet list, each item's lines
    wrapped at ``width`` characters (None: one line per item) and indented by ``indent``."""
    items = [f"- **{d.name}**: {d.text}" for d in DEFINITIONS if names is None or d.name in names]
    if width is None:
        return "\n".join(indent + item for item in items)
    return "\n".join(textwrap.fill(item, width, initial_indent=indent, subsequent_indent=indent + "  ",
                                    break_long_words=False, break_on_hyphens=False) for item in items)


def definitions_json() -> list[dict[str, Any]]:
    """The definitions as ``compare --json`` reports them: name, rule and threshold (a fraction, or None)."""
    return [{"name": d.name, "rule": d.text, "threshold": d.threshold} for d in DEFINITIONS]


# ---- the rules --------------------------------------------------------------------------------

def weight_dead_filters(filter_sparsity: np.ndarray) -> np.ndarray:
    """``bool [C]`` from each filter's fraction of zero weights: every weight is zero."""
    return np.asarray(filter_sparsity) >= 1.0


def _activation_dead(fire_fraction: np.ndarray) -> np.ndarray:
    return np.asarray(fire_fraction) <= 0.0


def sparse_filter(filter_sparsity: np.ndarray) -> np.ndarray:
    """``bool [C]``: the filter is at least ``SPARSE_FILTER`` zero."""
    return np.asarray(filter_sparsity) >= SPARSE_FILTER - _FLOAT32_SLACK


def grade(filter_sparsity: np.ndarray, fire_fraction: np.ndarray, density: np.ndarray, mean: np.ndarray,
          dense_mean: np.ndarray | None) -> dict[str, np.ndarray]:
    """Category -> ``bool [C]`` for one block of one model.

    ``filter_sparsity``: fraction of each filter's weights that are zero; ``fire_fraction``: images
    on which the channel is > 0 somewhere; ``density``: positions > 0 over all images and positions;
    ``mean``: mean activation; ``dense_mean``: the dense model's ``mean`` (None for dense itself).
    """
    weakened = np.zeros(len(mean), bool)
    if dense_mean is not None:
        dense_mean = np.asarray(dense_mean)
        weakened = (dense_mean > 0) & (np.asarray(mean) < WEAKENED_RATIO * dense_mean)
    return {
        WEIGHT_DEAD: weight_dead_filters(filter_sparsity),
        ACTIVATION_DEAD: _activation_dead(fire_fraction),
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


def unscanned(filter_sparsity: np.ndarray) -> np.ndarray:
    """``str [C]`` for a model the scan does not hold: weight-dead where its weights say so, else not scanned."""
    return np.where(weight_dead_filters(filter_sparsity), WEIGHT_DEAD, UNSCANNED).astype(object)


def counts(flags: Mapping[str, np.ndarray], filter_sparsity: np.ndarray) -> dict[str, int]:
    """Channels in each category (overlapping), plus the sparse filters."""
    out = {cat: int(np.sum(flags[cat])) for cat in CATEGORIES}
    out[SPARSE_FILTERS] = int(np.sum(sparse_filter(filter_sparsity)))
    out["channels"] = int(len(filter_sparsity))
    return out


def died_at(flags_by_rung: Mapping[int, Mapping[str, np.ndarray]], categories: tuple[str, ...] = DIED) -> np.ndarray:
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


def died_at_labels(died: np.ndarray) -> list[str]:
    """``[75, -1]`` -> ``["75%", "never"]``: how every table writes the rung at which a channel died."""
    return [NEVER if d < 0 else f"{d}%" for d in died]


def describe(status_: str, zero: bool = False, why: bool = False) -> str:
    """What a view says of one channel: its status, then ``zero on this image`` when its map is; ``why``: say what
    a channel that is not scanned leaves open."""
    text = status_
    if why and status_ == UNSCANNED:
        text = f"{UNSCANNED} (whether {_either(NEED_SCAN)} needs a dataset scan)"
    return f"{text} · {ZERO_ON_IMAGE}" if zero else text


# ---- from a model's weights and one image --------------------------------------------------------

def filter_sparsity(model: nn.Module) -> dict[str, np.ndarray]:
    """Block -> ``float32 [C]``: fraction of each filter's weights that are zero."""
    return {n: (b.conv.weight.detach().flatten(1) == 0).float().mean(1).numpy() for n, b in blocks(model).items()}


def weight_dead(model: nn.Module) -> dict[str, np.ndarray]:
    """Block -> ``bool [C]``: every weight of the output filter is exactly zero."""
    return {n: weight_dead_filters(fs) for n, fs in filter_sparsity(model).items()}


def zero_on_image(maps: Any) -> np.ndarray:
    """``bool [C]``: each channel's map (``[C, H, W]``, a tensor or an array) is zero everywhere on this image."""
    m = np.asarray(maps)
    return (m.reshape(m.shape[0], -1) <= 0).all(1)


# ---- from a dataset scan (:class:`~vggexplorer.stats.scan.ScanResult`) ---------------------------------

def activation_dead(fire_fraction: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Block -> ``bool [C]`` from a scan's per-channel fire fractions: zero on every test image."""
    return {n: _activation_dead(np.asarray(f)) for n, f in fire_fraction.items()}


def grade_block(scan, role: str, block: str, reference: str = "dense") -> dict[str, np.ndarray]:
    """Category -> ``bool [C]`` for one model and block of a scan (weakened against ``reference``)."""
    st = scan.models[role][block]
    ref_mean = None if role == reference else scan.stat(reference, block, "mean")
    return grade(st["filter_sparsity"], st["fire_fraction"], st["density"], st["mean"], ref_mean)


def graded_dead(scan, role: str, reference: str = "dense") -> dict[str, dict[str, int]]:
    """Block -> the graded counts of one model of a scan."""
    return {b: counts(grade_block(scan, role, b, reference), scan.stat(role, b, "filter_sparsity"))
            for b in scan.blocks}


def block_statuses(scan, role: str, reference: str = "dense") -> dict[str, np.ndarray]:
    """Block -> ``str [C]``: the status of every channel of one model of a scan."""
    return {b: status(grade_block(scan, role, b, reference)) for b in scan.blocks}


def scan_died_at(scan, block: str, reference: str = "dense") -> np.ndarray:
    """``int [C]``: the rung (percent) at which each channel of ``block`` died across the scan's ladder; -1 never."""
    rungs = {p: grade_block(scan, r, block, reference) for r in scan.roles if (p := scan.percent(r) or 0) > 0}
    if not rungs:
        return np.full(len(scan.stat(reference, block, "mean")), -1, np.int64)
    return died_at(rungs)


def status_totals(scan, role: str, reference: str = "dense") -> dict[str, int]:
    """Category -> how many channels of every block of one model of a scan have it as their status (each channel
    counted once, by the first category that applies, as the channel table shows it)."""
    every = np.concatenate(list(block_statuses(scan, role, reference).values()))
    return {cat: int(np.sum(every == cat)) for cat in CATEGORIES}


def totals_line(totals: Mapping[str, int]) -> str:
    """``12 weight-dead · 30 activation-dead · 51 dormant · 140 weakened``: one line, readable and copyable."""
    return " · ".join(f"{totals[cat]:,} {cat}" for cat in CATEGORIES)
