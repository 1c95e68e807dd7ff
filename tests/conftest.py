"""Shared fixtures: the repo's paths, the bundled test split, the shipped checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from vggexplorer.model.ladder import DEFAULT_RUNG, DENSE as DENSE_RUNG, ckpt_dir, scan_path

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("VGGEXPLORER_DATA", REPO.parent / "shared" / "data" / "cifar10"))
# VGGEXPLORER_CKPT_DIR lets a developer point the suite at work-in-progress checkpoints.
CKPT_DIR = ckpt_dir()
DENSE = DENSE_RUNG.path
PRUNED = DEFAULT_RUNG.path
SCAN = scan_path()

torch.set_num_threads(min(2, os.cpu_count() or 1))

# CI (.ci/run) sets this: every test must run there, so a skip, whether from a skipif, a pytest.skip inside a test
# or a module skipped at import, fails the run with the skip's reason. (Expected failures, xfail, are not skips.)
REQUIRE_ALL = "VGGEXPLORER_REQUIRE_BROWSER"


def _skip_fails(report) -> None:
    if os.environ.get(REQUIRE_ALL) != "1" or not report.skipped or hasattr(report, "wasxfail"):
        return
    where, reason = "", str(report.longrepr)
    if isinstance(report.longrepr, tuple):  # (path, line, "Skipped: reason")
        path, line, reason = report.longrepr
        where = f" ({path}:{line})"
    report.outcome = "failed"
    report.longrepr = f"skipped, but {REQUIRE_ALL}=1 requires every test to run: {reason.removeprefix('Skipped: ')}{where}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _skip_fails(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    _skip_fails(report)
    return report


@pytest.fixture(scope="session")
def test_split():
    from vggexplorer.data.cifar10 import load_bundled_test

    return load_bundled_test()


@pytest.fixture(scope="session")
def dense_model():
    from vggexplorer import load_model

    return load_model(DENSE)


@pytest.fixture(scope="session")
def pruned_model():
    from vggexplorer import load_model

    return load_model(PRUNED)
