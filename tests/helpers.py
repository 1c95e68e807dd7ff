"""Test helpers shared by several test modules: hostile and lab-style checkpoints."""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from vggexplorer.model.vgg import VGG


class Evil:
    """A pickle payload that runs a shell command when unpickled: a refused load never creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def lab_state_dict(seed: int = 0) -> dict:
    """A course-lab VGG state_dict (random weights, seeded)."""
    torch.manual_seed(seed)
    return VGG().state_dict()


def torch_bytes(obj) -> bytes:
    """What ``torch.save(obj, file)`` writes."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()
