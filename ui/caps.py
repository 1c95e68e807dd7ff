"""What a server lets its users do with their own models: defined once, read from the environment.

Locally nothing is capped beyond the loader's own size limit. With ``VGGEXPLORER_HOSTED=1`` (a shared demo) the
app also stops reading paths on the server, and these caps apply; each can be set on its own:

- ``VGGEXPLORER_MAX_MODELS``: models in one uploaded ladder, dense included (hosted default 4);
- ``VGGEXPLORER_MAX_UPLOAD_MB``: size of one uploaded file (hosted default 50; a fp32 VGG of this size is 35 MB);
- ``VGGEXPLORER_FULL_SCAN=0``: scan uploads with the quick pass only (1,000 stratified test images), not the full
  10,000 (hosted default: the full pass runs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vggexplorer.model.checkpoint import MAX_CHECKPOINT_BYTES

HOSTED_ENV = "VGGEXPLORER_HOSTED"


@dataclass(frozen=True)
class Caps:
    hosted: bool
    max_models: int | None  # None: no cap
    max_bytes: int
    full_pass: bool

    def describe(self) -> str:
        """One line for the sidebar, e.g. "This server takes up to 4 models of up to 50 MB each"."""
        models = f"up to {self.max_models} models" if self.max_models else "any number of models"
        return (f"This server takes {models} of up to {self.max_bytes / 2**20:.0f} MB each"
                + ("" if self.full_pass else ", and scans them on 1,000 test images only") + ".")


def _int(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name)
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


def caps() -> Caps:
    hosted = os.environ.get(HOSTED_ENV) == "1"
    mb = _int("VGGEXPLORER_MAX_UPLOAD_MB", 50 if hosted else None)
    return Caps(hosted=hosted, max_models=_int("VGGEXPLORER_MAX_MODELS", 4 if hosted else None),
                max_bytes=min(mb * 2**20, MAX_CHECKPOINT_BYTES) if mb else MAX_CHECKPOINT_BYTES,
                full_pass=os.environ.get("VGGEXPLORER_FULL_SCAN", "1") != "0")
