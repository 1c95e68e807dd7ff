"""Real browser: Debian's chromium through Playwright against `streamlit run` on loopback."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from ..browser import (EXPLORER_CHARTS, ScriptRuns, browser_page, click_tile, no_errors, open_first_table_row,
                      open_page, require_chromium, streamlit_server, wait_for_app)
from ..conftest import REPO

require_chromium()

SHOTS = Path(os.environ.get("VGGEXPLORER_SHOTS", REPO / "runs" / "screenshots"))


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as (url, proc):  # the server inherits this environment (VGGEXPLORER_CKPT_DIR ...)
        yield url


def _titles(page) -> list[str]:
    # SVG text has no innerText
    return page.locator(".js-plotly-plot .gtitle").evaluate_all("els => els.map(e => e.textContent)")


def test_page_draws_mosaics_and_probabilities_and_picks_a_channel(server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with browser_page() as page:
        runs = ScriptRuns(page)  # before the page opens its websocket
        open_page(page, server + "/?img=6000&block=conv1&ch=0", EXPLORER_CHARTS)
        titles = _titles(page)
        assert any(t.startswith("dense · conv1 · 128 channels") for t in titles), titles
        assert any(t.startswith("pruned 55% · conv1 · 128 channels") for t in titles), titles
        assert any("conv1 channel 0" in t for t in titles), titles
        # probability bars: ten categories, two models
        bars = page.locator(".js-plotly-plot").filter(has_text="frog").first
        assert bars.locator("g.point").count() >= 20
        text = page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts()
        assert any(re.search(r"dense: \w+ \d+% vs \w+ \d+%", t) for t in text), text
        page.screenshot(path=str(SHOTS / "explorer.png"))

        # pick a channel by clicking a tile of the dense mosaic (row 0, third tile), then one of the pruned mosaic:
        # each click is one run, of the fragment that holds the mosaics and the channel view only
        for mosaic, ch in (("dense · conv1", 2), ("pruned 55% · conv1", 20)):
            t0 = time.perf_counter()
            click_tile(page, mosaic, ch)
            page.wait_for_function("(t) => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
                                   ".some(e => e.textContent.includes(t))", arg=f"conv1 channel {ch}", timeout=60_000)
            wait_for_app(page, min_charts=EXPLORER_CHARTS)
            assert runs.since(t0) == ["fragment"], runs.finished
            assert f"ch={ch}" in page.url
            no_errors(page)


def test_explorer_has_its_own_url_and_the_root_shows_it_too(server):
    with browser_page() as page:
        open_page(page, server + "/explorer?img=42&block=conv2&ch=5&pruned=55", EXPLORER_CHARTS)
        assert urlparse(page.url).path == "/explorer"
        assert page.get_by_text("Page not found").count() == 0
        assert any(t.startswith("dense · conv2") for t in _titles(page)) and "conv2 channel 5" in _titles(page)
        open_page(page, server + "/?img=42&block=conv3&ch=6", EXPLORER_CHARTS)
        assert urlparse(page.url).path == "/" and "block=conv3" in page.url and "ch=6" in page.url
        assert "conv3 channel 6" in _titles(page)
        no_errors(page)


def test_deep_link_opens_the_same_view(server):
    with browser_page() as page:
        open_page(page, server + "/?img=123&block=conv3&ch=7", EXPLORER_CHARTS)
        titles = _titles(page)
        assert any(t.startswith("dense · conv3 · 256 channels of 16x16") for t in titles), titles
        assert any("conv3 channel 7" in t for t in titles), titles
        assert "test image 123" in page.locator('[data-testid="stCaptionContainer"]').all_inner_texts().__str__()
        page.screenshot(path=str(SHOTS / "deep-link.png"))


def test_garbage_link_shows_a_notice(server):
    with browser_page() as page:
        open_page(page, server + "/?img=banana&block=conv99&ch=zz", EXPLORER_CHARTS)
        warnings = " ".join(page.locator('[data-testid="stAlertContentWarning"]').all_inner_texts())
        assert "not valid" in warnings and "conv99" in warnings


def _png_bytes(size=(120, 80), mode="RGB") -> bytes:
    import io

    import numpy as np
    from PIL import Image

    arr = (np.random.default_rng(0).random((size[1], size[0], 3)) * 255).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, format="PNG")
    return buf.getvalue()


def test_upload_an_image_then_a_bad_file(server):
    with browser_page() as page:
        page.goto(server + "/")
        wait_for_app(page, min_charts=EXPLORER_CHARTS)
        source = page.get_by_role("radiogroup", name="Image source")
        source.get_by_text("Upload").click()
        wait_for_app(page, min_charts=0)
        uploader = page.get_by_test_id("stFileUploader").filter(has_text="Your image")
        uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            files=[{"name": "photo.png", "mimeType": "image/png", "buffer": _png_bytes()}])
        wait_for_app(page, min_charts=EXPLORER_CHARTS)
        no_errors(page)
        captions = " ".join(page.locator('[data-testid="stCaptionContainer"], [data-testid="stImageCaption"]')
                            .all_inner_texts())
        assert "32x32 model input" in captions and "as uploaded" in captions
        # a text file named .png: a clear message, no traceback, and the app keeps working
        uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"just some text"}])
        page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "not an image" in page.locator('[data-testid="stAlertContentError"]').inner_text()
        source.get_by_text("Test split").click()
        wait_for_app(page, min_charts=EXPLORER_CHARTS)
        no_errors(page)


def test_dead_filter_row_opens_the_channel(server):
    with browser_page() as page:
        open_first_table_row(page, server + "/dead-filters")
        # the Explorer opens (at /explorer) with the row's block and channel, across the ladder
        q = parse_qs(urlparse(page.url).query)
        block, ch = q["block"][0], q["ch"][0]
        assert q["panel"] == ["ladder"]
        assert any(t.startswith(f"{block} · channel {ch} across the ladder") for t in _titles(page)), (block, ch,
                                                                                                    _titles(page))
