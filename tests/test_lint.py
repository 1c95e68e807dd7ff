"""pyflakes finds nothing in the project's Python: no unused import or name, no undefined name, no redefinition.

pyflakes does not read ``# noqa``: an import kept for what importing does is deleted after it (``del torch``).
"""

from __future__ import annotations

import io

from pyflakes.api import checkRecursive
from pyflakes.reporter import Reporter

from .conftest import REPO

CHECKED = ["vggexplorer", "ui", "benchmarks", "scripts", "tests", "streamlit_app.py"]


def pyflakes(paths: list[str]) -> tuple[int, str]:
    """(number of findings, pyflakes' report) for files and folders."""
    out, err = io.StringIO(), io.StringIO()
    n = checkRecursive(paths, Reporter(out, err))
    return n, out.getvalue() + err.getvalue()


def test_pyflakes_is_clean():
    paths = [str(REPO / p) for p in CHECKED]
    assert all((REPO / p).exists() for p in CHECKED)
    n, report = pyflakes(paths)
    assert n == 0, report.replace(str(REPO) + "/", "")


def test_the_check_sees_a_finding(tmp_path):
    (tmp_path / "bad.py").write_text("import os\n\n\ndef f():\n    return undefined_name\n")
    n, report = pyflakes([str(tmp_path)])
    assert n == 2 and "'os' imported but unused" in report and "undefined name 'undefined_name'" in report, report
