"""The layout shows the layers: the imports of vggexplorer/ and ui/ run one way, with no cycle.

Every import counts, at module level or inside a function (a deferred import is still a dependency). A module
may import from its own layer or any layer below it, never from one above, nor from a sibling layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import REPO

# layer -> its rank; a module may import a module of a lower rank, or of its own layer (same name)
LAYERS = {
    "vggexplorer.errors": 0, "vggexplorer.files": 0,     # the foundation: errors, paths, atomic writes
    "vggexplorer.data": 1,                                # CIFAR-10: classes, splits, images
    "vggexplorer.model": 2,                               # architecture, checkpoints, the shipped ladder
    "vggexplorer.training": 3, "vggexplorer.probe": 3,    # siblings: neither imports the other
    "vggexplorer.stats": 4,                               # dataset statistics: scan, status, tests, comparison
    "vggexplorer.views": 5,                               # figures and the view-models the pages read
    "vggexplorer.cli": 6,                                 # the commands and the model card
    "vggexplorer.__main__": 7, "vggexplorer": 7,          # the entry points (the package's lazy re-exports)
    "ui.markup": 10, "ui.heap": 10, "ui.modelset": 10, "ui.caps": 10, "ui.state": 11, "ui.fragments": 10, "ui.links": 12,
    "ui.readahead": 11, "ui.jobs": 11, "ui.scan_queue": 11, "ui.shared_models": 11, "ui.ladders": 12, "ui.resources": 13,  # the app's plumbing
    "ui.components": 14,                                  # what pages are drawn with
    "ui.pages": 15,                                       # the pages: they only lay out
    "ui.nav": 16,                                         # the navigation: it imports the pages
    "ui.warm": 17, "streamlit_app": 18,                   # the warm start and the entry script
}


def _layer(module: str) -> str:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYERS:
            return ".".join(parts[:n])
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """The project modules ``path`` imports (absolute names), anywhere in its body."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out |= {f"{target}.{a.name}" for a in node.names}  # `from pkg import module`
    known = set(MODULES)
    return {t for t in out if t in known and t != mod}


FILES = [*(REPO / "vggexplorer").rglob("*.py"), *(REPO / "ui").rglob("*.py"), REPO / "streamlit_app.py"]
# an empty package __init__ is a folder's marker, not a module anything depends on
MODULES = {_module_name(p): p for p in FILES if p.name != "__init__.py" or p.read_text().strip()}
GRAPH = {m: _imports(p) for m, p in MODULES.items()}


def test_every_module_is_in_a_layer():
    for m in MODULES:
        _layer(m)


def test_no_import_runs_up_or_sideways():
    bad = []
    for m, targets in GRAPH.items():
        lm = _layer(m)
        for t in targets:
            lt = _layer(t)
            if lt != lm and LAYERS[lt] >= LAYERS[lm]:
                bad.append(f"{m} ({lm}) imports {t} ({lt})")
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    white, grey, black = set(MODULES), set(), set()
    stack: list[str] = []

    def visit(m: str) -> None:
        white.discard(m)
        grey.add(m)
        stack.append(m)
        for t in sorted(GRAPH[m]):
            if t in grey:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t in white:
                visit(t)
        stack.pop()
        grey.discard(m)
        black.add(m)

    for m in sorted(MODULES):
        if m in white:
            visit(m)


def test_the_package_keeps_a_handful_of_top_level_modules_and_none_over_400_lines():
    top = sorted(p.name for p in (REPO / "vggexplorer").glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "errors.py", "files.py"], top
    long = {str(p.relative_to(REPO)): n for p in FILES if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_the_checker_sees_a_cycle_and_an_upward_import():
    """The graph is built from real imports: a deferred import inside a function counts."""
    assert "vggexplorer.stats.scan" in GRAPH["vggexplorer.cli.commands"]  # imported inside a function
    assert "vggexplorer.data.cifar10" in GRAPH["vggexplorer.model.checkpoint"] or \
        "vggexplorer.model.vgg" in GRAPH["vggexplorer.model.checkpoint"]
