"""The repo's promises: the README's commands are the ones CI runs; the package never imports streamlit."""

import re

from .conftest import REPO


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    cmd = re.search(r"^TEST_CMD='(.+)'$", ci, re.M).group(1)
    readme = (REPO / "README.md").read_text()
    assert cmd in readme


def test_package_never_imports_streamlit():
    for path in (REPO / "vggexplorer").rglob("*.py"):
        src = path.read_text()
        assert not re.search(r"^\s*(import streamlit|from streamlit)", src, re.M), path
