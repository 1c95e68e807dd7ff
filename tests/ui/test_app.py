"""AppTest: every page renders, figures carry the right data, the URL keeps the view."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ui.state import View

from ..conftest import REPO

APP = str(REPO / "streamlit_app.py")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")  # the dataset's order
TIMEOUT = 180


def decode(v):
    """Plotly JSON value -> numpy (Plotly 6+ sends arrays as {"dtype", "bdata", "shape"})."""
    if isinstance(v, dict) and "bdata" in v:
        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        if "shape" in v:
            arr = arr.reshape([int(s) for s in str(v["shape"]).split(",")])
        return arr
    return np.asarray(v)


def figures(at) -> dict[str, dict]:
    """Plotly charts by their Streamlit key's suffix (e.g. "mosaic_dense_conv0") -> figure JSON."""
    out = {}
    for i, chart in enumerate(at.get("plotly_chart")):
        spec = json.loads(chart.proto.spec)
        key = chart.proto.id.split("-")[-1] if chart.proto.id else str(i)
        title = (spec["layout"].get("title") or {}).get("text") or key
        out[title] = spec
    return out


def mosaic(at, slot: str) -> dict:
    """The mosaic of a slot ("dense" or "pruned"): the page draws the dense slot's first. Its title names the model
    (``dense``, ``pruned 95%`` or the file name of a session's own checkpoint)."""
    mosaics = [spec for spec in figures(at).values() if "cols" in (spec["layout"].get("meta") or {})]
    if len(mosaics) == 1:  # one slot could not load: the other's mosaic is named by its model
        assert mosaics[0]["layout"]["title"]["text"].startswith(slot), (slot, mosaics[0]["layout"]["title"])
        return mosaics[0]
    assert len(mosaics) == 2, [spec["layout"]["title"]["text"] for spec in mosaics]
    return mosaics[("dense", "pruned").index(slot)]


@pytest.fixture()
def app():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_explorer_renders_with_both_models(app, dense_model, pruned_model, test_split):
    assert not app.error
    d, p = mosaic(app, "dense"), mosaic(app, "pruned")
    assert d["layout"]["meta"]["block"] == "conv0" and d["layout"]["meta"]["channels"] == 64
    # one heatmap trace with every tile, plus one invisible point per channel: not 64 subplots
    assert [t["type"] for t in d["data"]] == ["heatmap", "scatter"]
    assert len(decode(d["data"][1]["x"])) == 64
    # dense and pruned on one shared scale
    assert d["layout"]["meta"]["zmax"] == p["layout"]["meta"]["zmax"]
    # "**dense**: frog 91% vs cat 2% · **pruned 55%**: ...": each model's top two classes on the image shown, as the
    # models themselves give them
    import torch

    from vggexplorer.data.images import preprocess
    from vggexplorer.model.ladder import DEFAULT_RUNG

    md = " ".join(m.value for m in app.markdown)
    image = test_split.images[app.session_state["view"].img]
    for label, model in (("dense", dense_model), (DEFAULT_RUNG.label, pruned_model)):
        with torch.no_grad():
            probs, top = model(preprocess(image, model)).softmax(1)[0].double().topk(2)
        said = re.search(rf"\*\*{re.escape(label)}\*\*: (\w+) (\d+)% vs (\w+) (\d+)%", md)
        assert said, (label, md)
        assert [said[1], said[3]] == [CIFAR10[int(top[0])], CIFAR10[int(top[1])]], (label, said[0])
        for shown, prob in ((said[2], probs[0]), (said[4], probs[1])):  # whole percent, rounded
            assert abs(int(shown) - 100 * float(prob)) <= 0.5 + 1e-4, (label, said[0], probs)


def test_probability_bars_sum_to_one(app):
    bars = [s for s in figures(app).values() if s["data"] and s["data"][0]["type"] == "bar" and
            s["layout"].get("barmode") == "group" and len(s["data"]) == 2 and s["data"][0]["name"] == "dense"]
    spec = bars[0]
    for trace in spec["data"]:
        assert len(decode(trace["y"])) == 10
        assert decode(trace["y"]).sum() == pytest.approx(1.0, abs=1e-5)


def test_conv7_mosaic_has_512_tiles(app):
    app.sidebar.radio(key="block").set_value("conv7").run()
    assert not app.exception
    spec = mosaic(app, "dense")
    meta = spec["layout"]["meta"]
    # conv7's post-ReLU maps are 4x4 (conv6 and conv7 run after three 2x2 pools; pool3 follows the hook)
    assert meta["channels"] == 512 and meta["tile"] == [4, 4]
    z = decode(spec["data"][0]["z"])
    assert int((z > 0).sum()) == 512 * 16  # level 0 marks the gaps
    assert len(decode(spec["data"][1]["x"])) == 512
    assert app.query_params["block"] == ["conv7"] or app.query_params["block"] == "conv7"


def test_changing_the_image_changes_the_figures(app):
    before = mosaic(app, "dense")["data"][0]["z"]
    probs_before = [s for s in figures(app).values() if s["data"][0]["type"] == "bar"][0]["data"][0]["y"]
    app.sidebar.button(key="random").click().run()
    assert not app.exception
    after = mosaic(app, "dense")["data"][0]["z"]
    probs_after = [s for s in figures(app).values() if s["data"][0]["type"] == "bar"][0]["data"][0]["y"]
    assert before != after and probs_before != probs_after


def test_deep_link_opens_the_same_view():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"img": "123", "block": "conv3", "ch": "7"})
    at.run()
    assert not at.exception and not [w for w in at.warning if "link" in w.value]
    assert at.session_state["view"] == View(img=123, block="conv3", ch=7)
    assert any(k.startswith("conv3 channel 7") for k in figures(at))
    want = {"img": "123", "block": "conv3", "ch": "7", "pruned": "55", "scale": "shared", "panel": "channel"}
    assert dict(at.query_params) in (want, {k: [v] for k, v in want.items()})


def test_only_the_open_panel_is_computed_and_a_link_opens_a_panel():
    """Each panel's charts, by title prefix: exactly the open panel's are drawn (the default: this channel)."""
    panels = {"channel": ("conv3 channel 7",), "ladder": ("conv3 · channel 7 across the ladder", "conv3 · filter 7"),
              "similarity": ("conv3: cosine(dense, pruned)",), "classification": ("gradient", "exact")}
    for panel in (None, *panels):
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.query_params.update({"img": "123", "block": "conv3", "ch": "7", **({"panel": panel} if panel else {})})
        at.run()
        assert not at.exception and not [w for w in at.warning if "link" in w.value]
        titles = list(figures(at))
        drawn = {p for p, prefixes in panels.items() if any(t.startswith(prefixes) for t in titles)}
        assert drawn == {panel or "channel"}, (panel, titles)
        assert at.session_state["view"].panel == (panel or "channel")


def test_the_colour_scale_is_in_the_link_and_the_default_has_a_robust_top():
    from vggexplorer.views.mosaic import SCALES
    from vggexplorer.views.style import LEVELS

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"img": "6000", "block": "conv7"})
    at.run()
    assert not at.exception
    d, p = mosaic(at, "dense"), mosaic(at, "pruned")
    zmax = d["layout"]["meta"]["zmax"]
    assert d["layout"]["meta"]["scale"] == p["layout"]["meta"]["scale"] == "shared" and p["layout"]["meta"]["zmax"] == zmax
    assert "99.5th percentile of both models" in d["layout"]["title"]["text"]
    # a robust top: below the layer's peak, so a few values saturate at the darkest level and most do not
    z = decode(d["data"][0]["z"]), decode(p["data"][0]["z"])
    assert 0 < sum(int((q == LEVELS).sum()) for q in z) < 0.01 * sum(q.size for q in z)
    assert at.sidebar.radio(key="scale").value == SCALES["shared"]

    at.sidebar.radio(key="scale").set_value(SCALES["split-max"]).run()  # the scan covers both shipped models
    assert not at.exception and at.session_state["view"].scale == "split-max"
    assert {mosaic(at, s)["layout"]["meta"]["scale"] for s in ("dense", "pruned")} == {"split-max"}
    assert "test split" in mosaic(at, "dense")["layout"]["title"]["text"]
    assert at.query_params["scale"] in ("split-max", ["split-max"])

    link = AppTest.from_file(APP, default_timeout=TIMEOUT)
    link.query_params.update({"img": "6000", "block": "conv3", "scale": "minmax"})
    link.run()
    assert not link.exception and not [w for w in link.warning if "link" in w.value]
    assert mosaic(link, "pruned")["layout"]["meta"]["scale"] == "minmax"
    assert link.sidebar.radio(key="scale").value == SCALES["minmax"]


def test_a_model_without_a_scan_falls_back_to_the_shared_scale_with_a_notice(tmp_path, monkeypatch):
    import shutil

    from vggexplorer.views.mosaic import SCALES

    from ..conftest import DENSE, PRUNED

    shutil.copy(DENSE, tmp_path / "dense.pt")
    shutil.copy(PRUNED, tmp_path / "pruned.pt")
    (tmp_path / "scan.npz").write_bytes(b"damaged")  # no statistics for either model
    monkeypatch.setenv("VGGEXPLORER_CKPT_DIR", str(tmp_path))
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.query_params.update({"scale": "split-max"})
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert mosaic(app, "dense")["layout"]["meta"]["scale"] == "shared"
    assert any("does not cover dense or pruned 55%" in i.value and "shared scale instead" in i.value for i in app.info)
    assert app.sidebar.radio(key="scale").value == SCALES["split-max"]


@pytest.mark.parametrize("params", [{"img": "banana"}, {"img": "99999"}, {"block": "conv9"}, {"ch": "-3"},
                                    {"ch": "x" * 500}, {"img": "1e3", "block": "<script>", "ch": "nan"},
                                    {"pruned": "50"}, {"pruned": "p75"}, {"img": "upload"}, {"panel": "x"},
                                    {"scale": "log"}])
def test_garbage_url_falls_back_with_a_notice(params):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(params)
    at.run()
    assert not at.exception
    assert at.warning, "expected a visible notice"
    assert any("link" in w.value for w in at.warning)


@pytest.mark.parametrize("page", ["dead_filters", "models"])
def test_other_pages_render(page):
    at = AppTest.from_string(f"from ui.pages import {page}\n{page}.render()", default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    assert at.get("plotly_chart")


def test_missing_and_damaged_files_keep_the_app_up(tmp_path, monkeypatch):
    import shutil

    from ..conftest import PRUNED

    shutil.copy(PRUNED, tmp_path / "pruned.pt")  # dense.pt missing
    (tmp_path / "scan.npz").write_bytes(b"damaged")
    monkeypatch.setenv("VGGEXPLORER_CKPT_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "dense model unavailable" in errors and "python -m vggexplorer train" in errors
    assert any("vggexplorer scan" in w.value for w in at.warning)
    assert mosaic(at, "pruned")  # the remaining model is still explored

    (tmp_path / "pruned.pt").write_bytes(b"\x00" * 100)  # now both unusable
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "pruned model unavailable" in errors and "python -m vggexplorer prune" in errors


def test_missing_test_split_leaves_uploads(tmp_path, monkeypatch):
    monkeypatch.setenv("VGGEXPLORER_TEST_SPLIT", str(tmp_path / "missing.npz"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("pack-test" in w.value for w in at.warning)
    assert at.sidebar.radio(key="source").options == ["Upload"]


def test_a_rung_not_built_yet_is_named_with_its_command_and_dense_is_still_explored(tmp_path, monkeypatch):
    import shutil

    from ..conftest import DENSE, PRUNED

    shutil.copy(DENSE, tmp_path / "dense.pt")
    shutil.copy(PRUNED, tmp_path / "pruned.pt")  # the 55% rung only
    monkeypatch.setenv("VGGEXPLORER_CKPT_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"pruned": "90", "block": "conv2"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "pruned model unavailable" in errors and "pruned-90.pt" in errors
    assert "python -m vggexplorer prune" in errors and "--out checkpoints/pruned-90.pt" in errors
    assert mosaic(at, "dense")["layout"]["meta"]["block"] == "conv2"
    assert at.session_state["view"].pruned == 90
    # back to the built rung from the sidebar: both models again, and the URL says so
    at.sidebar.selectbox(key="pruned").set_value(55).run()
    assert not at.exception and not at.error
    assert mosaic(at, "pruned") and at.session_state["view"].pruned == 55
    assert "55" in str(at.query_params["pruned"])


def test_the_gallery_is_drawn_only_when_opened_and_a_thumbnail_opens_its_image(app):
    assert not [b for b in app.sidebar.button if b.key and b.key.startswith("gallery_")]  # closed: not drawn
    app.session_state["gallery"] = True  # as a click on the expander does
    app.run()
    buttons = [b for b in app.sidebar.button if b.key and b.key.startswith("gallery_")]
    assert len(buttons) == 8 and not app.exception
    app.sidebar.button(key="gallery_3").click().run()
    assert app.session_state["view"].img == View().img + 3  # the fourth image of the default image's class
    assert app.session_state["gallery"]  # it stays open
