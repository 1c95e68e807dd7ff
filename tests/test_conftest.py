"""Under VGGEXPLORER_REQUIRE_BROWSER=1 (CI) a skipped test fails the run, with the skip's reason; without it a skip
is a skip. Checked on a throwaway test directory run by a fresh pytest with this suite's conftest as its plugin."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import REPO, REQUIRE_ALL

SKIPPING = '''
import pytest


def test_runs():
    pass


def test_skips_inside():
    pytest.skip("reason one: inside the body")


@pytest.mark.skipif(True, reason="reason two: a skipif")
def test_skipif():
    pass


@pytest.mark.xfail(reason="an expected failure is not a skip", strict=True)
def test_xfail():
    assert False
'''
MODULE_SKIP = '''
import pytest

pytest.skip("reason three: the whole module", allow_module_level=True)


def test_never_collected():
    pass
'''


def _pytest(tmp_path, require: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    env = {k: v for k, v in os.environ.items() if k != REQUIRE_ALL}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    if require:
        env[REQUIRE_ALL] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-p", "tests.conftest",
                           "--continue-on-collection-errors", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_a_skip_is_a_skip_without_the_variable(tmp_path):
    run = _pytest(tmp_path, require=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 3 skipped, 1 xfailed" in run.stdout, run.stdout


def test_every_kind_of_skip_fails_the_run_under_the_variable(tmp_path):
    run = _pytest(tmp_path, require=True)
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    assert "skipped" not in out.splitlines()[-1], out  # the summary line counts no skip
    for reason in ("reason one: inside the body", "reason two: a skipif", "reason three: the whole module"):
        assert f"{REQUIRE_ALL}=1 requires every test to run: {reason} (" in out, (reason, out)
    assert "test_skipping.py:10)" in out and "test_module_skip.py:4)" in out, out  # where the skip is
    assert out.splitlines()[-1].startswith("1 failed, 1 passed, 1 xfailed, 2 errors"), out
