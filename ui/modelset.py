"""Which two models a session looks at: a small frozen value, usable as a cache key (no Streamlit here).

The app always shows two slots, ``dense`` and ``pruned``, from one ladder (``vggexplorer.model.ladder.Ladder``: the
shipped one, a folder of your own, or your uploads): its dense model and the rung chosen in the sidebar. Each is
identified with its file's path, mtime and size, so a regenerated file is never served from a stale cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vggexplorer.data.images import NORMALIZATION_FILE
from vggexplorer.files import file_stamp
from vggexplorer.model.ladder import Ladder, Rung

SLOTS = ("dense", "pruned")


@dataclass(frozen=True)
class ModelRef:
    """One model: a rung of a ladder and its file's ``stamp``."""

    rung: Rung
    stamp: tuple = ()

    @classmethod
    def of(cls, rung: Rung) -> "ModelRef":
        """The rung with its file's stamp and its folder's normalization.json's (which changes how it is run)."""
        return cls(rung=rung, stamp=(*file_stamp(rung.path), file_stamp(rung.path.parent / NORMALIZATION_FILE)))

    @property
    def path(self) -> Path:
        return self.rung.path

    @property
    def role(self) -> str:
        return self.rung.role

    @property
    def label(self) -> str:
        """``dense`` or ``pruned 55%``."""
        return self.rung.label


@dataclass(frozen=True)
class ModelSet:
    """The ladder and the models in the two slots."""

    ladder: Ladder
    dense: ModelRef
    pruned: ModelRef

    def refs(self) -> dict[str, ModelRef]:
        return {"dense": self.dense, "pruned": self.pruned}


def model_set(ladder: Ladder, pruned_percent: int) -> ModelSet:
    """``ladder``'s dense model and its rung at ``pruned_percent`` (its default rung when it has none there)."""
    try:
        rung = ladder.by_percent(pruned_percent)
    except KeyError:
        rung = ladder.default
    return ModelSet(ladder, ModelRef.of(ladder.dense), ModelRef.of(rung))
