"""AppTest: the rung selector, the rung in the URL, and every page on every rung."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from vggexplorer.model.ladder import DENSE, RUNGS, rung_by_percent

from .test_app import APP, TIMEOUT, decode, figures, mosaic

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


# ---- every page on every rung: each page's data is that rung's, checked against values taken straight from the
# rung's checkpoint and the scan's stored predictions (not from the code that draws the page)

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")  # dataset order
LAYERS = [f"conv{i}" for i in range(8)] + ["classifier"]


@functools.lru_cache(maxsize=None)
def _model(pct: int):
    from vggexplorer import load_model

    return load_model(rung_by_percent(pct).path if pct else DENSE.path)


@functools.lru_cache(maxsize=None)
def _filters(pct: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every conv filter of the rung, block by block, channel by channel: (block, channel, fraction of zero weights)."""
    m = _model(pct)
    blocks, channels, zero = [], [], []
    for i in range(8):
        w = getattr(m.backbone, f"conv{i}").weight.detach()
        zero.append((w == 0).flatten(1).double().mean(1).numpy())
        blocks += [f"conv{i}"] * w.shape[0]
        channels += list(range(w.shape[0]))
    return np.array(blocks), np.array(channels), np.concatenate(zero)


@functools.lru_cache(maxsize=1)
def _predictions() -> tuple[dict[str, np.ndarray], np.ndarray]:
    from vggexplorer.model.ladder import scan_path
    from vggexplorer.stats.scan import load_scan

    scan = load_scan(scan_path())
    return {r: scan.predictions[r]["pred"] for r in scan.roles}, scan.labels


@functools.lru_cache(maxsize=1)
def _scan():
    from vggexplorer.model.ladder import scan_path
    from vggexplorer.stats.scan import load_scan

    return load_scan(scan_path())


def _charts(at) -> dict[str, dict]:
    """Plotly charts by their Streamlit key (``probs``, ``sparsity``, ...)."""
    return {c.proto.id.split("-")[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def _trace(spec: dict, name: str) -> dict:
    (t,) = [t for t in spec["data"] if t.get("name") == name]
    return t


def _explorer(at, pct: int, label: str) -> None:
    import torch

    from vggexplorer.data.cifar10 import load_bundled_test
    from vggexplorer.data.images import preprocess

    assert mosaic(at, "pruned")["layout"]["title"]["text"].startswith(f"{label} · conv0")
    assert mosaic(at, "pruned")["layout"]["meta"]["role"] == label
    image = load_bundled_test().images[at.session_state["view"].img]
    bars = _charts(at)["probs"]
    for slot, rung in (("dense", 0), ("pruned", pct)):
        m = _model(rung)
        with torch.no_grad():
            want = m(preprocess(image, m)).softmax(1)[0].numpy()
        np.testing.assert_allclose(decode(_trace(bars, slot)["y"]), want, atol=1e-6, err_msg=slot)
    # the default panel's class profile: the scan's per-class means of the channel, dense and this rung
    view, profile = at.session_state["view"], _charts(at)["class_profile"]
    for name, role in (("dense", "dense"), (label, rung_by_percent(pct).role)):
        np.testing.assert_array_equal(decode(_trace(profile, name)["y"]),
                                      _scan().stat(role, view.block, "class_mean")[view.ch], err_msg=name)


def _dead_filters(at, pct: int, label: str) -> None:
    blocks, channels, zero = _filters(pct)
    box = next(s for s in _charts(at).values() if s["data"] and s["data"][0]["type"] == "box")
    names = [t["name"] for t in box["data"]]
    # the rung's filters, pooled: their zero percentages, and how many are at least 90% zero
    np.testing.assert_allclose(np.sort(decode(_trace(box, label)["y"])), np.sort(zero * 100), atol=1e-3)
    assert box["layout"]["annotations"][names.index(label)]["text"].startswith(f"{int((zero >= 0.9).sum())} ")
    (table,) = at.dataframe
    df = table.value
    assert len(df) == len(zero) == 2752
    mine = {(b, int(c)): z for b, c, z in zip(blocks, channels, zero)}
    np.testing.assert_allclose(df["filter % zero"].to_numpy(float),  # the table shows one decimal
                               [100 * mine[b, int(c)] for b, c in zip(df.block, df.channel)], rtol=0, atol=0.05 + 1e-4)
    # weight-dead (every weight zero) comes first among the statuses, so the table shows every such filter so
    assert int((df.status == "weight-dead").sum()) == int((zero == 1).sum())
    assert int((zero == 1).sum()) > 0 or pct < 90  # the test can fail: the 90% and 95% rungs have such filters
    # the class selectivity index per block: its median over the channels that fire, from the scan's class means
    boxes = _trace(_charts(at)["selectivity"], label)
    assert list(boxes["x"]) == [f"conv{i}" for i in range(8)]
    for block, median in zip(boxes["x"], decode(boxes["median"])):
        m = _scan().stat(rung_by_percent(pct).role, block, "class_mean").astype(np.float64)  # [C, 10]
        top = m.max(1)
        rest = (m.sum(1) - top) / 9
        with np.errstate(invalid="ignore"):
            index = (top - rest) / (top + rest)  # 0 / 0 for a channel that never fires: left out
        assert median == pytest.approx(np.nanmedian(index), abs=1e-9), block


def _disagreements(at, pct: int, label: str) -> None:
    preds, truth = _predictions()
    d, r = preds["dense"], preds[rung_by_percent(pct).role]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["top-1"] == f"{(r == truth).mean() * 100:.2f}%"
    assert metrics["images that differ"] == f"{int((d != r).sum()):,}"
    assert metrics["fixed by pruning"] == str(int(((d != truth) & (r == truth)).sum()))
    assert metrics["broken by pruning"] == str(int(((d == truth) & (r != truth)).sum()))
    trace = _trace(_charts(at)["per_class"], label)
    assert sorted(trace["x"]) == sorted(CIFAR10)
    for cls, diff in zip(trace["x"], decode(trace["y"])):  # rung minus dense top-1 on the class, percentage points
        k = CIFAR10.index(cls)
        mine = truth == k
        assert diff == pytest.approx(100 * ((r[mine] == k).mean() - (d[mine] == k).mean()), abs=1e-6), cls


def _models(at, pct: int, label: str) -> None:
    m = _model(pct)
    params = dict(m.named_parameters())
    want = [100 * float((params[f"backbone.{n}.weight" if n != "classifier" else "classifier.weight"] == 0)
                        .double().mean()) for n in LAYERS]
    bars = _charts(at)["sparsity"]
    pruned = _trace(bars, "pruned")
    assert list(pruned["x"]) == LAYERS
    np.testing.assert_allclose(decode(pruned["y"]), want, atol=1e-6)
    nonzero = [mt.value for mt in at.metric if mt.label == "non-zero parameters"]
    assert nonzero[-1] == f"{sum(int((p != 0).sum()) for p in m.parameters()):,}"


CHECKS = {"explorer": _explorer, "dead_filters": _dead_filters, "disagreements": _disagreements, "models": _models}


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
    label = rung_by_percent(pct).label
    assert label in _titles(at)
    CHECKS[page](at, pct, label)
