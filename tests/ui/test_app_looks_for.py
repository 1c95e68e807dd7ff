"""AppTest: the Explorer's "What this channel looks for" panel, from a link, with the renders' cache in a tmp dir.

The renders are made with 4 steps (the panel's settings patched) so the tests stay fast; which rungs have the
chosen channel weight-dead is read from the scan (a filter entirely zero), not from the code that draws the panel.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from vggexplorer.model.ladder import LADDER
from vggexplorer.probe.featurevis import WEIGHT_DEAD, Settings
from vggexplorer.views import render_cache

from .test_app import APP, TIMEOUT

BLOCK, CH = "conv0", 11  # weight-dead in the 95% rung (see test_a_dead_channel_says_so), alive in dense
QUICK = Settings.for_steps(4)


@pytest.fixture()
def quick_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VGGEXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(render_cache, "APP_SETTINGS", QUICK)
    return tmp_path / "cache"


def _prefill() -> None:
    from vggexplorer import load_model

    render_cache.fill({r.role: (load_model(r.path), r.path) for r in LADDER}, BLOCK, [CH], QUICK)


def _open() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"img": "6000", "block": BLOCK, "ch": str(CH), "panel": "looks-for"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _captions(at) -> dict[str, str]:
    """Rung label -> the caption under its render."""
    out = {}
    for c in at.caption:
        for r in LADDER:
            if c.value.startswith(f"**{r.label}** · "):
                out[r.label] = c.value
    return out


def _weight_dead_rungs() -> set[str]:
    from vggexplorer.stats.scan import load_scan

    scan = load_scan()
    return {r.label for r in LADDER if scan.stat(r.role, BLOCK, "filter_sparsity")[CH] == 1.0}


def test_the_panel_opens_from_the_link_and_shows_every_rung(quick_cache):
    _prefill()
    at = _open()
    assert at.session_state["view"].panel == "looks-for"
    assert not at.get("progress")  # the cache was full: nothing to wait for
    caps = _captions(at)
    assert list(caps) == [r.label for r in LADDER], [c.value for c in at.caption]
    assert "best test image" in caps["dense"] and "reaches" in caps["dense"]
    # beside the row: the top test images of dense and the chosen rung (the link's default, 55%), cropped
    strips = [c for e in at.get("image") for c in (i.caption for i in e.proto.imgs) if "receptive field" in c]
    assert [s.split(":")[0] for s in strips] == ["dense", "pruned 55%"], strips
    assert all("conv0's 3 px receptive field" in s for s in strips)
    assert "looks-for" in str(at.query_params["panel"])


def test_a_dead_channel_says_so(quick_cache):
    _prefill()
    dead = _weight_dead_rungs()
    assert "pruned 95%" in dead and "dense" not in dead
    at = _open()
    caps = _captions(at)
    assert len(caps) == len(LADDER)
    renders = [e for e in at.get("image") if not any(i.caption for i in e.proto.imgs)]  # the others have captions
    assert len(renders) == len(LADDER) - len(dead)  # a dead channel has no image, only its caption
    for label, text in caps.items():
        assert (WEIGHT_DEAD in text) == (label in dead), (label, text)
        assert ("reaches" in text) == (label not in dead), (label, text)


def test_an_empty_cache_renders_in_the_background_and_fills_it(quick_cache):
    from ui import jobs

    at = _open()
    pending = [j for j in list(jobs.REGISTRY._jobs.values()) if j.key[:3] == ("looks-for", BLOCK, CH)]
    assert pending, "no render job was started"
    assert pending[-1].wait(120) and pending[-1].error is None
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert list(_captions(at)) == [r.label for r in LADDER]
    assert len(list(render_cache.entries_dir(quick_cache).glob("*.json"))) == len(LADDER)


def test_closed_the_panel_renders_nothing(quick_cache):
    from ui import jobs

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"img": "6000", "block": BLOCK, "ch": str(CH + 1), "panel": "channel"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("looks for" in m.value for m in at.markdown)
    assert not [j for j in list(jobs.REGISTRY._jobs.values()) if j.key[:3] == ("looks-for", BLOCK, CH + 1)]
