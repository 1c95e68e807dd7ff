"""Real browser: the sparsity ladder, every page on every rung, the links between them."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from ui.state import PANELS
from vggexplorer.model.ladder import RUNGS

from ..browser import (EXPLORER_CHARTS, browser_page, no_errors, open_first_table_row, open_page, require_chromium, streamlit_server,
                      wait_for_app)

require_chromium()

PAGES = {"explorer": EXPLORER_CHARTS, "dead-filters": 2, "disagreements": 2, "models": 3}


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as (url, proc):
        yield url


def _titles(page) -> list[str]:
    return page.locator(".js-plotly-plot .gtitle").evaluate_all("els => els.map(e => e.textContent)")


def _heading(page) -> str:
    return page.locator("h1").first.inner_text()


def test_a_rung_link_opens_that_view_and_its_ladder_tab_shows_the_channel_across_the_ladder(server):
    with browser_page() as page:
        open_page(page, server + "/?img=6000&block=conv6&ch=0&pruned=95", EXPLORER_CHARTS)
        titles = _titles(page)
        assert any(t.startswith("pruned 95% · conv6 · 512 channels") for t in titles), titles
        assert any(t.startswith("conv6 channel 0") for t in titles), titles
        assert page.get_by_text("dense vs pruned 95%").count() >= 1
        q = parse_qs(urlparse(page.url).query)
        assert q["pruned"] == ["95"] and q["img"] == ["6000"] and q["block"] == ["conv6"] and q["ch"] == ["0"]
        page.get_by_role("tab", name=PANELS["ladder"]).click()
        page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
                               ".some(e => e.textContent.startsWith('conv6 · filter 0 · dense vs pruned 95%'))",
                               timeout=60_000)
        titles = _titles(page)
        assert any(t.startswith("conv6 · channel 0 across the ladder") for t in titles), titles
        assert not any(t.startswith("conv6 channel 0") for t in titles), titles  # the closed panel is not drawn
        page.wait_for_url(lambda u: "panel=ladder" in u, timeout=30_000)
        no_errors(page)


def test_every_page_on_every_rung_opens_from_a_link(server):
    with browser_page() as page:
        for rung in RUNGS:
            for path, charts in PAGES.items():
                open_page(page, f"{server}/{path}?pruned={rung.percent}", charts)
                body = page.locator('[data-testid="stMain"]').inner_text()
                assert rung.label in body, (path, rung.label)
                assert page.locator('[data-testid="stException"]').count() == 0


def test_a_garbage_rung_shows_a_notice(server):
    with browser_page() as page:
        page.goto(server + "/explorer?pruned=42")
        wait_for_app(page, min_charts=EXPLORER_CHARTS)
        warn = " ".join(page.locator('[data-testid="stAlertContentWarning"]').all_inner_texts())
        assert "pruned=42" in warn and "55" in warn
        assert any(t.startswith("pruned 55% · ") for t in _titles(page))
        no_errors(page)


def test_a_disagreement_thumbnail_opens_the_explorer_on_that_image(server):
    with browser_page() as page:
        open_page(page, server + "/disagreements?pruned=90", 2)
        first = page.get_by_role("button", name=re.compile(r"^Open #\d+$")).first
        index = int(first.inner_text().split("#", 1)[1])
        first.click()
        page.wait_for_url(lambda u: "/explorer" in u and f"img={index}" in u, timeout=60_000)
        wait_for_app(page, min_charts=EXPLORER_CHARTS)
        no_errors(page)
        q = parse_qs(urlparse(page.url).query)
        assert q["img"] == [str(index)] and q["pruned"] == ["90"]
        assert any(t.startswith("pruned 90% · ") for t in _titles(page))


def test_a_dead_filter_row_opens_its_channel_on_its_rung(server):
    with browser_page() as page:
        open_first_table_row(page, server + "/dead-filters?pruned=95")
        q = parse_qs(urlparse(page.url).query)
        assert q["pruned"] == ["95"]
        block, ch = q["block"][0], q["ch"][0]
        titles = _titles(page)
        assert any(t.startswith(f"{block} · channel {ch} across the ladder") for t in titles), titles
        assert any(t.startswith(f"pruned 95% · {block}") for t in titles), titles
