"""Which two models a session looks at: a small frozen value, usable as a cache key (no Streamlit here).

The app always shows two slots, ``dense`` and ``pruned``. Each holds a shipped checkpoint (a rung of
``vggexplorer.model.ladder``, identified with its file's path, mtime and size, so a regenerated file is never
served from a stale cache) or a checkpoint the session loaded itself (identified by the SHA-256 of its
bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from vggexplorer.files import file_stamp
from vggexplorer.model.ladder import DENSE, Rung, rung_by_percent

SLOTS = ("dense", "pruned")


@dataclass(frozen=True)
class ModelRef:
    """One model: a shipped rung (``rung`` and its file's ``stamp``), or the session's own (``sha``, ``name``)."""

    rung: Rung | None = None
    stamp: tuple = ()
    sha: str = ""
    name: str = ""

    @classmethod
    def shipped(cls, rung: Rung) -> "ModelRef":
        return cls(rung=rung, stamp=file_stamp(rung.path))

    @classmethod
    def own(cls, sha: str, name: str) -> "ModelRef":
        return cls(sha=sha, name=name)

    @property
    def is_own(self) -> bool:
        return self.rung is None

    @property
    def path(self) -> Path | None:
        return None if self.rung is None else self.rung.path

    @property
    def label(self) -> str:
        """``dense``, ``pruned 55%``, or the file name of the session's own checkpoint."""
        return self.name if self.rung is None else self.rung.label


@dataclass(frozen=True)
class ModelSet:
    """The models in the two slots."""

    dense: ModelRef
    pruned: ModelRef

    def refs(self) -> dict[str, ModelRef]:
        return {"dense": self.dense, "pruned": self.pruned}

    @property
    def own_slots(self) -> list[str]:
        return [s for s, ref in self.refs().items() if ref.is_own]


def model_set(own: Mapping[str, ModelRef], pruned_percent: int) -> ModelSet:
    """The shipped dense model and the rung at ``pruned_percent``, each replaced by the session's own if it has one."""
    return ModelSet(dense=own.get("dense") or ModelRef.shipped(DENSE),
                    pruned=own.get("pruned") or ModelRef.shipped(rung_by_percent(pruned_percent)))
