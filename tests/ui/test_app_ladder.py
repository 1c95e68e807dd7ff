"""AppTest: the rung selector, the rung in the URL, and every page on every rung."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from vggexplorer.model.ladder import RUNGS, rung_by_percent

from .test_app import APP, TIMEOUT, figures, mosaic

PAGES = ["explorer", "dead_filters", "disagreements", "models"]


def _titles(at) -> str:
    return " ".join(t.value for t in at.title) + " " + " ".join(h.value for h in at.subheader)


def test_the_selector_changes_the_rung_and_the_url():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox(key="pruned").value == 55  # the seed's "nearly half"
    assert mosaic(at, "pruned")["layout"]["title"]["text"].startswith("pruned 55% · conv0")
    at.sidebar.selectbox(key="pruned").set_value(95).run()
    assert not at.exception, [e.value for e in at.exception]
    assert mosaic(at, "pruned")["layout"]["title"]["text"].startswith("pruned 95% · conv0")
    assert "95" in str(at.query_params["pruned"])
    assert "dense vs pruned 95%" in _titles(at)


@pytest.mark.parametrize("pct", [r.percent for r in RUNGS])
def test_a_link_with_a_rung_reopens_that_view(pct):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"img": "6000", "block": "conv6", "ch": "0", "pruned": str(pct), "panel": "ladder"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [w for w in at.warning if "link" in w.value]
    label = rung_by_percent(pct).label
    assert mosaic(at, "pruned")["layout"]["title"]["text"].startswith(f"{label} · conv6 · 512 channels")
    figs = figures(at)
    row = next(f for t, f in figs.items() if t.startswith("conv6 · channel 0 across the ladder"))
    text = " ".join(a["text"] for a in row["layout"]["annotations"])
    for r in ("dense", *(x.label for x in RUNGS)):
        assert r in text, (r, text)
    assert any("filter" in t.lower() and label in t for t in figs), list(figs)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("pct", [r.percent for r in RUNGS])
def test_every_page_on_every_rung(page, pct):
    at = AppTest.from_string(
        "from ui import state\n"
        f"state.update(pruned={pct})\n"
        f"from ui.pages import {page}\n{page}.render()", default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.get("plotly_chart")
    assert rung_by_percent(pct).label in _titles(at)
