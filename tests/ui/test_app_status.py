"""AppTest: the Explorer names each channel's status as the scan grades it, and ranks only contributing channels."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from .test_app import APP, TIMEOUT, figures, mosaic


def test_the_mosaic_hover_names_the_issues_channels_on_the_95_rung():
    """Issue 17: on the 95% rung's conv5, 55, 164 and 353 are weakened and 209 and 277 dormant over the test split;
    the hover once said "alive" or only "zero on this image"."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"img": "6000", "block": "conv5", "pruned": "95"})
    at.run()
    assert not at.exception
    text = mosaic(at, "pruned")["data"][1]["text"]
    for ch in (55, 164, 353):
        assert text[ch].startswith("status: weakened"), (ch, text[ch])
    for ch in (209, 277):
        assert text[ch].startswith("status: dormant"), (ch, text[ch])
    assert set(mosaic(at, "dense")["data"][1]["text"][ch].split(" · ")[0] for ch in (55, 209)) == {"status: alive"}


def test_what_carries_the_classification_ranks_only_contributing_channels():
    """conv7 at 95% on image 6000: 7 channels contribute to the pruned model's class; no filler at zero."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"img": "6000", "block": "conv7", "pruned": "95", "panel": "classification"})
    at.run()
    assert not at.exception
    (bars,) = [spec for title, spec in figures(at).items() if title.startswith("exact")]
    dense, pruned = bars["data"]
    assert len(pruned["y"]) == 7 and len(dense["y"]) == 15
    titles = [a["text"] for a in bars["layout"]["annotations"]]
    assert titles[1] == "pruned: top 7 of conv7 · 7 of 512 channels contribute"
    summary = " ".join(m.value for m in at.markdown)
    assert "**pruned**: 7 of 512 channels contribute to" in summary
    assert "of the top 7, 7 have surviving filters" in summary
