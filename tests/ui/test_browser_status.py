"""Real browser: on every rung, the Explorer's mosaic hover names a weakened or dormant channel's status.

The channels are the first of each status per rung in the shipped scan (checkpoints/scan.npz); the hover is read
twice: from the tooltip Plotly draws when the mouse rests on the tile, and from the figure the page received.
"""

from __future__ import annotations

import pytest

from vggexplorer.model.ladder import RUNGS, scan_path
from vggexplorer.stats import status as dead
from vggexplorer.stats.scan import load_scan

from ..browser import EXPLORER_CHARTS, browser_page, open_page, require_chromium, streamlit_server

require_chromium()

IMAGE = 6000
WANTED = (dead.WEAKENED, dead.DORMANT)

_MOSAIC = """const gd = [...document.querySelectorAll('.js-plotly-plot')].find(
        g => g.layout && g.layout.meta && g.layout.meta.role === label && g.layout.meta.block === block);"""
# the pruned mosaic's hover/click points (trace 1, as Plotly decoded the figure it received: typed arrays arrive
# base64-encoded) and where the tile centre of ``ch`` lies on the page
_TILE = """([label, block, ch]) => {
    %s
    if (!gd) return null;
    gd.scrollIntoView({block: 'center'});
    const pts = gd._fullData[1], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
    return {text: pts.text[ch], id: pts.customdata[ch][0],
            x: box.left + xa._offset + xa.l2p(pts.x[ch]), y: box.top + ya._offset + ya.l2p(pts.y[ch])};
}""" % _MOSAIC
# the tooltip Plotly draws in that mosaic, once it is the one of channel ``ch``
_TOOLTIP = """([label, block, ch]) => {
    %s
    const tip = gd && gd.querySelector('.hoverlayer .hovertext');
    return tip && tip.textContent.includes(`channel ${ch}`) ? tip.textContent : null;
}""" % _MOSAIC


def cases_per_rung(scan) -> dict[int, dict[str, tuple[str, int]]]:
    """Rung percent -> status -> (block, channel): the first channel (blocks in order) that is weakened, and the first
    that is dormant; a rung with neither gets conv5's channel 0 under whatever status it has, so every rung is
    opened (a skipped test would pass CI unnoticed)."""
    out: dict[int, dict[str, tuple[str, int]]] = {}
    for rung in RUNGS:
        statuses = dead.block_statuses(scan, rung.role, "dense")
        for want in WANTED:
            for block, st in statuses.items():
                hits = [int(c) for c in (st == want).nonzero()[0]]
                if hits:
                    out.setdefault(rung.percent, {})[want] = (block, hits[0])
                    break
        if rung.percent not in out:
            out[rung.percent] = {str(statuses["conv5"][0]): ("conv5", 0)}
    return out


CASES = cases_per_rung(load_scan(scan_path()))


def test_the_scan_has_channels_to_hover():
    # the channels, seen on the 95% rung's conv5: 55 weakened, 209 dormant (the first of each there)
    assert CASES[95] == {dead.WEAKENED: ("conv5", 55), dead.DORMANT: ("conv5", 209)}, CASES
    assert sum(want in CASES[r.percent] for r in RUNGS for want in WANTED) >= 3, CASES  # 90% has a weakened one


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as (url, proc):
        yield url


@pytest.mark.parametrize("rung", RUNGS, ids=lambda r: f"{r.percent}")
def test_hover_names_the_dataset_status_on_every_rung(server, rung):
    with browser_page() as page:
        for want, (block, ch) in CASES[rung.percent].items():
            open_page(page, f"{server}/explorer?img={IMAGE}&block={block}&ch={ch}&pruned={rung.percent}",
                      EXPLORER_CHARTS)
            tile = page.evaluate(_TILE, [rung.label, block, ch])
            assert tile is not None, f"no mosaic titled {rung.label} · {block}"
            # the figure the browser received names the status over the test split
            assert tile["id"] == ch and tile["text"].startswith(f"status: {want}"), (rung.label, block, ch, tile)
            # and so does the tooltip under the mouse
            page.mouse.move(tile["x"] - 3, tile["y"] - 3)
            page.mouse.move(tile["x"], tile["y"])
            tip = page.wait_for_function(_TOOLTIP, arg=[rung.label, block, ch], timeout=10_000).json_value()
            assert f"{rung.label} {block} channel {ch}" in tip and f"status: {want}" in tip, tip
            if want in WANTED:
                assert dead.ALIVE not in tip, tip
