"""The repo's promises: the README's commands are the ones CI runs, the package installs with its command and
data, nothing edits sys.path to import it, and the package never imports streamlit."""

import re

import pytest

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


def test_pyproject_installs_the_package_its_command_and_its_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert cfg["project"]["scripts"] == {"vggexplorer": "vggexplorer.cli.main:main"}
    tools = cfg["tool"]["setuptools"]
    # every subpackage of vggexplorer/ is installed, and nothing else (not tests/, ui/, benchmarks/)
    from setuptools import find_packages

    found = set(find_packages(str(REPO), include=tools["packages"]["find"]["include"]))
    on_disk = {".".join(d.relative_to(REPO).parts) for d in (REPO / "vggexplorer").rglob("*")
               if (d / "__init__.py").is_file() and "__pycache__" not in d.parts} | {"vggexplorer"}
    assert found == on_disk
    assert list((REPO / "vggexplorer").glob(tools["package-data"]["vggexplorer"][0])), "bundled assets not matched"
    # one list of dependencies: the requirements files Streamlit Community Cloud and pip -r read
    dyn = tools["dynamic"]
    assert dyn["dependencies"] == {"file": ["requirements.txt"]}
    assert dyn["optional-dependencies"] == {"test": {"file": ["requirements-test.txt"]}}


def test_console_script_has_the_module_commands():
    from vggexplorer.cli.main import build_parser, main

    assert callable(main)
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"train", "prune", "evaluate", "scan", "export", "pack-test", "model-card"} <= set(commands)


def test_nothing_edits_sys_path_to_import_the_project():
    for folder in ("benchmarks", "tests", "ui"):
        for path in (REPO / folder).rglob("*.py"):
            assert not re.search(r"sys\.path\.(insert|append)|sys\.path\s*\+?=", path.read_text()), path
