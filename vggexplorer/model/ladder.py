"""Ladders: a dense model and its pruned twins, each a rung named by its percentage of zero weights.

One place defines the checkpoint directory (``VGGEXPLORER_CKPT_DIR`` overrides it everywhere),
the shipped rungs (percent of conv+linear weights exactly zero), their file names, their short role
names (``dense``, ``p55`` .. ``p95``) and the scan file. The shipped masks are nested: a weight that is zero
on one rung is zero on every higher rung, so "the rung at which a filter died" means one thing.

A :class:`Ladder` is the value the app and the commands work on: the shipped one (:data:`SHIPPED`), or one
opened from a folder of your own checkpoints (:mod:`vggexplorer.model.folder_ladder`), whose rungs are named
the same way (:func:`rung_role`) by their measured sparsity.
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


def rung_role(percent: int) -> str:
    """A model's role name by its percentage of zero weights: ``dense`` (0) or ``p80``; the shipped rungs, the CLI's
    scans of your checkpoints and the app's own ladders all name a model this way."""
    return "dense" if percent == 0 else f"p{int(percent)}"


@dataclass(frozen=True)
class Rung:
    """One model of a ladder: its role name, file name and percentage of zero weights (nominal for the shipped
    rungs, measured and rounded for your own)."""

    role: str
    filename: str
    percent: int  # 0 for dense
    folder: Path | None = None  # None: the shipped checkpoint directory (ckpt_dir(), read when asked)

    @property
    def path(self) -> Path:
        return (self.folder if self.folder is not None else ckpt_dir()) / self.filename

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
SCAN_NAME = "scan.npz"  # the shipped scan; also the name of a scan beside your own models
SCAN_ENV = "VGGEXPLORER_SCAN"  # a scan file (``python -m vggexplorer scan --checkpoint ... --out FILE``) for your models


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


@dataclass(frozen=True)
class Nesting:
    """Whether each rung's zeros include the zeros of the rung below it (dense excluded).

    ``breaks``: (lower role, higher role, weights zero on the lower rung but not on the higher one) for every pair
    that is not nested. Nested masks make "died at" mean one thing: once dead, dead on every higher rung.
    """

    breaks: tuple[tuple[str, str, int], ...] = ()

    @property
    def nested(self) -> bool:
        return not self.breaks

    def sentence(self, label_of) -> str:
        """One sentence for the pages, e.g. "The masks are nested: ..." ; ``label_of(role)`` names a rung."""
        if self.nested:
            return ("The masks are nested: every weight that is zero on a rung is zero on every higher rung, so "
                    "\"died at\" is the one rung where a channel stops responding for good.")
        worst = ", ".join(f"{n:,} weights zero on {label_of(a)} are non-zero on {label_of(b)}" for a, b, n in self.breaks)
        return ("The masks are **not nested** (" + worst + "): a channel dead on one rung can be alive again on a "
                "higher one, so \"died at\" is only the first rung where it is dead; the status columns show, per "
                "rung, which channels are dead there.")


@dataclass(frozen=True)
class Ladder:
    """A dense model and its pruned rungs, dense first and then by percentage of zero weights.

    ``folder``: None for the shipped ladder. ``scan_file``: a scan given with the models (the shipped
    ``checkpoints/scan.npz``, ``VGGEXPLORER_SCAN``, or a ``scan.npz`` beside your models), used when it was computed
    on these very files. ``notes``: what opening the folder found and skipped, for the pages to say.
    """

    rungs: tuple[Rung, ...]
    name: str = "the shipped ladder"
    folder: Path | None = None
    scan_file: Path | None = None
    nesting: Nesting = Nesting()
    notes: tuple[str, ...] = ()

    @property
    def is_shipped(self) -> bool:
        return self.folder is None

    @property
    def dense(self) -> Rung:
        return self.rungs[0]

    @property
    def pruned(self) -> tuple[Rung, ...]:
        return self.rungs[1:]

    @property
    def percents(self) -> list[int]:
        """The pruned rungs' percentages, in order: the values ``pruned=`` takes in a link."""
        return [r.percent for r in self.pruned]

    @property
    def default(self) -> Rung:
        """The rung shown first: the shipped 55% (the seed's "nearly half"), or your ladder's first pruned rung."""
        return DEFAULT_RUNG if self.is_shipped else (self.pruned[0] if self.pruned else self.dense)

    def by_percent(self, percent: int) -> Rung:
        """The pruned rung at ``percent``; ``KeyError`` names the valid ones."""
        for r in self.pruned:
            if r.percent == percent:
                return r
        raise KeyError(f"no rung at {percent}%: choose one of {', '.join(str(p) for p in self.percents)}")

    def by_role(self, role: str) -> Rung:
        for r in self.rungs:
            if r.role == role:
                return r
        raise KeyError(f"no model named {role!r}: choose one of {', '.join(r.role for r in self.rungs)}")

    def scan_path(self) -> Path | None:
        """The scan given with the models, read when asked: the shipped ``checkpoints/scan.npz``; for your own, the
        ``scan_file`` it was opened with, else ``VGGEXPLORER_SCAN``, else a ``scan.npz`` beside the models."""
        if self.is_shipped:
            return scan_path()
        if self.scan_file is not None:
            return self.scan_file
        env = os.environ.get(SCAN_ENV)
        beside = self.folder / SCAN_NAME
        return Path(env) if env else (beside if beside.exists() else None)


def prune_command(rung: Rung, data_dir: str = DATA_DIR_HINT) -> str:
    """The command that makes ``rung`` from the one below it (see scripts/make_ladder.sh for the full chain)."""
    if rung is DENSE:
        return f"python -m vggexplorer train --data-dir {data_dir} --out checkpoints/dense.pt"
    below = LADDER[LADDER.index(rung) - 1]
    src = "checkpoints/" + below.filename
    return (f"python -m vggexplorer prune --data-dir {data_dir} --checkpoint {src} "
            f"--target-sparsity 0.{rung.percent} --out checkpoints/{rung.filename}")


SHIPPED = Ladder(LADDER)

SCAN_CMD = "python -m vggexplorer scan"  # dense and every rung, from checkpoints/, into checkpoints/scan.npz
