"""The shipped models and where they live: dense plus the nested sparsity ladder.

One place defines the checkpoint directory (``VGGEXPLORER_CKPT_DIR`` overrides it everywhere),
the rungs (percent of conv+linear weights exactly zero), their file names, their short role
names (``dense``, ``p55`` .. ``p95``) and the scan file. Masks are nested: a weight that is zero
on one rung is zero on every higher rung, so "the rung at which a filter died" means one thing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..files import DATA_DIR_HINT, REPO_ROOT



def ckpt_dir() -> Path:
    """Where the checkpoints and the scan live; ``VGGEXPLORER_CKPT_DIR`` points everything at other ones."""
    return Path(os.environ.get("VGGEXPLORER_CKPT_DIR", REPO_ROOT / "checkpoints"))


def rung_label(percent: float) -> str:
    """What titles and captions call a model by its percentage of zero weights: ``dense`` (0) or ``pruned 95%``;
    any percent, shipped or not (``pruned 60%``, ``pruned 97.5%``)."""
    return "dense" if percent == 0 else f"pruned {percent:g}%"


@dataclass(frozen=True)
class Rung:
    """One shipped model: its role name, file name and nominal percentage of zero weights."""

    role: str
    filename: str
    percent: int  # nominal sparsity; 0 for dense

    @property
    def path(self) -> Path:
        return ckpt_dir() / self.filename

    @property
    def label(self) -> str:
        """What titles and captions call it: ``dense`` or ``pruned 95%`` (:func:`rung_label`)."""
        return rung_label(self.percent)


DENSE = Rung("dense", "dense.pt", 0)
# The first rung keeps its historical name, so its scan and every test on it stay valid.
RUNGS: tuple[Rung, ...] = (
    Rung("p55", "pruned.pt", 55),
    Rung("p75", "pruned-75.pt", 75),
    Rung("p90", "pruned-90.pt", 90),
    Rung("p95", "pruned-95.pt", 95),
)
LADDER: tuple[Rung, ...] = (DENSE, *RUNGS)  # dense first, then by sparsity
DEFAULT_RUNG = RUNGS[0]  # the seed's "nearly half"
SCAN_NAME = "scan.npz"


def scan_path() -> Path:
    return ckpt_dir() / SCAN_NAME


def rung_by_percent(percent: int) -> Rung:
    """The rung with this nominal sparsity; ``KeyError`` names the valid ones."""
    for r in RUNGS:
        if r.percent == percent:
            return r
    raise KeyError(f"no rung at {percent}%: choose one of {', '.join(str(r.percent) for r in RUNGS)}")


def rung_by_role(role: str) -> Rung:
    for r in LADDER:
        if r.role == role:
            return r
    raise KeyError(f"no model named {role!r}: choose one of {', '.join(r.role for r in LADDER)}")


def percent_of(role: str) -> int | None:
    """A model's nominal sparsity by its role: 0 for dense, the rung's percentage, None outside the ladder."""
    try:
        return rung_by_role(role).percent
    except KeyError:
        return None


def prune_command(rung: Rung, data_dir: str = DATA_DIR_HINT) -> str:
    """The command that makes ``rung`` from the one below it (see scripts/make_ladder.sh for the full chain)."""
    if rung is DENSE:
        return f"python -m vggexplorer train --data-dir {data_dir} --out checkpoints/dense.pt"
    below = LADDER[LADDER.index(rung) - 1]
    src = "checkpoints/" + below.filename
    return (f"python -m vggexplorer prune --data-dir {data_dir} --checkpoint {src} "
            f"--target-sparsity 0.{rung.percent} --out checkpoints/{rung.filename}")


SCAN_CMD = "python -m vggexplorer scan"  # dense and every rung, from checkpoints/, into checkpoints/scan.npz
