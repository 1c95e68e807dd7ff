"""AppTest: the app on a ladder of your own (``VGGEXPLORER_MODELS``, or a folder opened in the sidebar), every page.

The ladders here are copies of shipped files with a small scan beside them (``scan.npz``, stratified 50 test
images), so no test waits for a scan of 10,000 images; the in-app scan itself is tested in
tests/ui/test_scan_queue.py and, end to end, in tests/ui/test_browser_own_ladder.py.
"""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from ..conftest import CKPT_DIR, DENSE, REPO
from .test_app import TIMEOUT, mosaic

APP = str(REPO / "streamlit_app.py")


def _page(name: str) -> str:
    return f"from ui.pages import {name}\n{name}.render()"


@pytest.fixture(scope="module")
def own_folder(tmp_path_factory, test_split):
    """dense + the shipped 90% rung under other names, scanned on 50 stratified test images."""
    from vggexplorer.data.cifar10 import stratified_indices
    from vggexplorer.stats.scan import run_scan

    folder = tmp_path_factory.mktemp("my-ladder")
    shutil.copy(DENSE, folder / "baseline.pt")
    shutil.copy(CKPT_DIR / "pruned-90.pt", folder / "after-pruning.pth")
    run_scan({"dense": folder / "baseline.pt", "p90": folder / "after-pruning.pth"}, test_split, folder / "scan.npz",
             indices=stratified_indices(test_split.labels, 50), progress=False)
    return folder


@pytest.fixture
def on_folder(own_folder, monkeypatch):
    monkeypatch.setenv("VGGEXPLORER_MODELS", str(own_folder))
    return own_folder


def test_the_explorer_opens_on_the_folder(on_folder):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox(key="pruned").options == ["90% of weights zero"]
    said = " ".join(c.value for c in at.sidebar.caption)
    assert "my-ladder" in said and "baseline.pt" in said and "after-pruning.pth" in said
    assert "Input normalization: mean (0.491" in said  # the shipped dense's own metadata
    assert mosaic(at, "pruned")["layout"]["title"]["text"].startswith("pruned 90%")
    assert at.query_params["pruned"] == "90"


@pytest.mark.parametrize("page", ["dead_filters", "disagreements", "models"])
def test_every_page_works_on_the_folder(on_folder, page):
    at = AppTest.from_string(_page(page), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    text = " ".join(m.value for m in [*at.markdown, *at.caption, *at.warning, *at.info])
    assert "only for the shipped" not in text
    assert "50 of 10,000 test images" in text or "(50 images" in text, text[:500]  # the scan says what it covers
    assert at.get("plotly_chart")


def test_dead_filters_states_the_rungs_totals(on_folder):
    import numpy as np

    from vggexplorer.stats.scan import load_scan
    from vggexplorer.stats.status import CATEGORIES, DORMANT_DENSITY

    at = AppTest.from_string(_page("dead_filters"), default_timeout=TIMEOUT)
    at.run()
    line = next(m.value for m in at.markdown if "weight-dead ·" in m.value)
    # independently: every channel's first category, from the scan's raw statistics and the definitions' rules
    scan = load_scan(on_folder / "scan.npz")
    want = dict.fromkeys(CATEGORIES, 0)
    for b in scan.blocks:
        st, ref = scan.models["p90"][b], scan.models["dense"][b]
        for c in range(len(st["mean"])):
            if st["filter_sparsity"][c] >= 1:
                want["weight-dead"] += 1
            elif st["fire_fraction"][c] <= 0:
                want["activation-dead"] += 1
            elif st["density"][c] < DORMANT_DENSITY:
                want["dormant"] += 1
            elif ref["mean"][c] > 0 and st["mean"][c] < 0.25 * ref["mean"][c]:
                want["weakened"] += 1
    assert " · ".join(f"{n:,} {k}" for k, n in want.items()) in line
    assert np.sum(list(want.values())) > 0


def test_a_link_reopens_the_rung_and_a_rung_the_ladder_lacks_falls_back(on_folder):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"pruned": "55"})
    at.run()
    assert not at.exception
    assert any("pruned=55" in w.value and "90" in w.value for w in at.warning)
    assert at.query_params["pruned"] == "90"


def test_a_folder_opened_in_the_sidebar_and_back(own_folder):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.sidebar.text_input(key="own_folder").input(str(own_folder))
    at.run()
    at.sidebar.button(key="own_open_folder").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox(key="pruned").options == ["90% of weights zero"]
    assert "after-pruning.pth" in " ".join(c.value for c in at.sidebar.caption)
    at.sidebar.button(key="own_reset").click().run()
    assert not at.exception
    assert at.sidebar.selectbox(key="pruned").options[0] == "55% of weights zero"


def test_a_folder_that_does_not_open_is_named_and_the_app_keeps_working(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.sidebar.text_input(key="own_folder").input(str(tmp_path))
    at.run()
    at.sidebar.button(key="own_open_folder").click().run()
    assert not at.exception
    assert any("no .pt or .pth" in e.value for e in at.sidebar.error)
    assert mosaic(at, "pruned")  # still the shipped ladder


def test_a_scan_from_the_cli_opens_with_the_folder(own_folder, monkeypatch, tmp_path):
    from vggexplorer.cli.main import main

    out = tmp_path / "cli-scan.npz"
    assert main(["scan", "--checkpoint", str(own_folder / "baseline.pt"), "--checkpoint",
                 str(own_folder / "after-pruning.pth"), "--limit", "20", "--out", str(out)]) == 0
    monkeypatch.setenv("VGGEXPLORER_MODELS", str(own_folder))
    monkeypatch.setenv("VGGEXPLORER_SCAN", str(out))
    at = AppTest.from_string(_page("dead_filters"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in [*at.markdown, *at.caption, *at.info])
    assert "20 of 10,000 test images" in text and "weight-dead ·" in text
