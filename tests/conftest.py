"""Shared fixtures: the repo's paths, the bundled test split, the shipped checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("VGGEXPLORER_DATA", REPO.parent / "shared" / "data" / "cifar10"))
DENSE = REPO / "checkpoints" / "dense.pt"
PRUNED = REPO / "checkpoints" / "pruned.pt"

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def test_split():
    from vggexplorer.data import load_bundled_test

    return load_bundled_test()


@pytest.fixture(scope="session")
def dense_model():
    from vggexplorer import load_model

    return load_model(DENSE)


@pytest.fixture(scope="session")
def pruned_model():
    from vggexplorer import load_model

    return load_model(PRUNED)
