"""A channel's status, on hand-made statistics, a hand-made model and a hand-made scan; the README's definitions."""

import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from vggexplorer.stats import status as dead
from vggexplorer.stats.scan import ScanResult

from ..conftest import REPO
from ..handmade import four_filter_model

README_BLOCK = re.compile(r"<!-- status-definitions:[^\n]*-->\n(.*?)\n *<!-- /status-definitions -->", re.S)


def test_each_category_on_hand_made_statistics():
    # channel: 0 alive, 1 weight-dead but BN keeps it on, 2 never fires, 3 fires at 0.5% of positions,
    # 4 at 40% of dense's mean, 5 at 20% of dense's mean, 6 silent in dense and here
    filt = np.array([0.3, 1.0, 0.95, 0.5, 0.2, 0.9, 0.0])
    fire = np.array([1.0, 1.0, 0.0, 0.3, 1.0, 1.0, 0.0])
    dens = np.array([0.5, 1.0, 0.0, 0.005, 0.4, 0.3, 0.0])
    mean = np.array([1.0, 0.2, 0.0, 0.01, 0.4, 0.2, 0.0])
    dense_mean = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    f = dead.grade(filt, fire, dens, mean, dense_mean)
    assert f[dead.WEIGHT_DEAD].tolist() == [False, True, False, False, False, False, False]
    assert f[dead.ACTIVATION_DEAD].tolist() == [False, False, True, False, False, False, True]
    assert f[dead.DORMANT].tolist() == [False, False, True, True, False, False, True]
    assert f[dead.WEAKENED].tolist() == [False, True, True, True, False, True, False]
    assert dead.status(f).tolist() == ["alive", "weight-dead", "activation-dead", "dormant", "alive", "weakened",
                                       "activation-dead"]
    c = dead.counts(f, filt)
    assert c == {"weight-dead": 1, "activation-dead": 2, "dormant": 3, "weakened": 4,
                 dead.SPARSE_FILTERS: 3, "channels": 7}


def test_thresholds_are_strict_where_the_definitions_say_so():
    # density exactly 1% is not dormant; a mean of exactly 25% of dense's is not weakened
    f = dead.grade(np.zeros(2), np.ones(2), np.array([0.01, 0.0099]), np.array([0.25, 0.2499]), np.ones(2))
    assert f[dead.DORMANT].tolist() == [False, True]
    assert f[dead.WEAKENED].tolist() == [False, True]


def test_dense_is_never_weakened_against_itself():
    f = dead.grade(np.zeros(2), np.ones(2), np.ones(2), np.array([0.0001, 5.0]), None)
    assert not f[dead.WEAKENED].any()


def test_a_float32_filter_of_exactly_ninety_percent_zeros_is_a_sparse_filter():
    fs = np.array([9 / 10, 8 / 10, 1.0], np.float32)  # float32(0.9) reads 0.89999998
    assert dead.sparse_filter(fs).tolist() == [True, False, True]
    assert dead.counts(dead.grade(fs, np.ones(3), np.ones(3), np.ones(3), None), fs)[dead.SPARSE_FILTERS] == 2


def test_died_at_is_the_first_rung_in_any_dead_category():
    def flags(wd, ad, dm):
        return {dead.WEIGHT_DEAD: np.array(wd), dead.ACTIVATION_DEAD: np.array(ad), dead.DORMANT: np.array(dm),
                dead.WEAKENED: np.array([True, True, True, True])}
    by_rung = {
        95: flags([True, True, False, False], [True, True, False, False], [True, True, True, False]),
        55: flags([False, False, False, False], [False, False, False, False], [False, True, False, False]),
        75: flags([False, True, False, False], [True, False, False, False], [True, False, False, False]),
    }
    # weakened alone never counts as died; a channel dormant at 55 that recovers at 75 still died at 55
    assert dead.died_at(by_rung).tolist() == [75, 55, 95, -1]
    assert dead.died_at_labels(np.array([75, -1])) == ["75%", "never"]


def test_weight_dead_and_filter_sparsity_of_a_hand_made_model():
    m = four_filter_model()  # 27 weights per filter: 0 and 3 all zero, 1 one non-zero, 2 all -1
    assert dead.weight_dead(m)["conv0"].tolist() == [True, False, False, True]
    np.testing.assert_allclose(dead.filter_sparsity(m)["conv0"], [1.0, 26 / 27, 0.0, 1.0], rtol=1e-6)
    assert dead.unscanned(dead.filter_sparsity(m)["conv0"]).tolist() == [dead.WEIGHT_DEAD, dead.UNSCANNED,
                                                                         dead.UNSCANNED, dead.WEIGHT_DEAD]


def test_zero_on_image_on_tiny_maps_of_either_kind():
    maps = np.zeros((3, 2, 2), np.float32)
    maps[1, 1, 0] = 1e-4  # one faint pixel is not zero
    maps[2] = 0.5
    assert dead.zero_on_image(maps).tolist() == [True, False, False]
    assert dead.zero_on_image(torch.from_numpy(maps)).tolist() == [True, False, False]


def test_activation_dead_from_fire_fractions():
    assert dead.activation_dead({"conv0": np.array([0.0, 0.5, 0.0, 1.0])})["conv0"].tolist() == [True, False, True,
                                                                                                 False]


def _stats(filt, fire, dens, mean):
    return {"filter_sparsity": np.array(filt, np.float32), "fire_fraction": np.array(fire, np.float32),
            "density": np.array(dens, np.float32), "mean": np.array(mean, np.float32)}


def _scan() -> ScanResult:
    """Dense and two rungs, one block of 3 channels: 0 weakens at 75%, 1 is dormant at 55% only, 2 dies at 75%."""
    return ScanResult({
        "dense": {"conv0": _stats([0.1, 0.1, 0.1], [1, 1, 1], [0.5, 0.5, 0.5], [2.0, 1.0, 1.0])},
        "p55": {"conv0": _stats([0.5, 0.5, 0.5], [1, 0.2, 1], [0.4, 0.005, 0.4], [1.0, 0.1, 0.8])},
        "p75": {"conv0": _stats([0.7, 0.7, 1.0], [1, 1, 0], [0.4, 0.3, 0.0], [0.4, 0.5, 0.0])},
    }, meta={"blocks": ["conv0"]})


def test_statuses_counts_and_died_at_from_a_hand_made_scan():
    scan = _scan()
    # p75 channel 0: mean 0.4 < 0.25 * 2.0 = 0.5 -> weakened; channel 2: all weights zero and never fires
    assert dead.block_statuses(scan, "p75")["conv0"].tolist() == ["weakened", "alive", "weight-dead"]
    # p55 channel 1: density 0.5% -> dormant (and its mean 0.1 < 0.25: weakened too, which ranks lower)
    assert dead.block_statuses(scan, "p55")["conv0"].tolist() == ["alive", "dormant", "alive"]
    assert dead.block_statuses(scan, "dense")["conv0"].tolist() == ["alive"] * 3
    assert dead.graded_dead(scan, "p75")["conv0"] == {"weight-dead": 1, "activation-dead": 1, "dormant": 1,
                                                      "weakened": 2, dead.SPARSE_FILTERS: 1, "channels": 3}
    assert dead.scan_died_at(scan, "conv0").tolist() == [-1, 55, 75]
    only_dense = ScanResult({"dense": scan.models["dense"]}, meta={"blocks": ["conv0"]})
    assert dead.scan_died_at(only_dense, "conv0").tolist() == [-1, -1, -1]


def test_the_totals_line_counts_each_channel_once_by_its_status():
    scan = _scan()
    # p75: weakened, alive, weight-dead (the weight-dead channel is also activation-dead and dormant: counted once)
    assert dead.status_totals(scan, "p75") == {"weight-dead": 1, "activation-dead": 0, "dormant": 0, "weakened": 1}
    assert dead.totals_line(dead.status_totals(scan, "p55")) == (
        "0 weight-dead · 0 activation-dead · 1 dormant · 0 weakened")
    assert dead.totals_line(dict.fromkeys(dead.CATEGORIES, 1234)).startswith("1,234 weight-dead · 1,234 activation")


def test_describe_names_the_status_and_adds_zero_on_this_image():
    assert dead.describe("weakened") == "weakened"
    assert dead.describe("dormant", zero=True) == "dormant · zero on this image"
    assert dead.describe("alive", zero=True) == "alive · zero on this image"
    assert dead.describe("not scanned", why=True) == ("not scanned (whether activation-dead, dormant or weakened "
                                                      "needs a dataset scan)")


def test_definitions_render_their_thresholds_from_the_numbers():
    by_name = {d.name: d for d in dead.DEFINITIONS}
    assert [d.name for d in dead.DEFINITIONS][:5] == [*dead.CATEGORIES, dead.ALIVE]  # the priority order
    assert "fewer than 1% of all spatial positions" in by_name["dormant"].text
    assert "below 25% of the same channel's mean in dense" in by_name["weakened"].text
    assert "at least 90% of its weights" in by_name["filters >= 90% zero"].text
    assert "{threshold}" not in "".join(d.text for d in dead.DEFINITIONS)
    js = dead.definitions_json()
    assert {"name": "dormant", "rule": by_name["dormant"].text, "threshold": 0.01} in js
    md = dead.definitions_markdown(["dormant", "weakened"])
    assert md.splitlines() == [f"- **dormant**: {by_name['dormant'].text}",
                               f"- **weakened**: {by_name['weakened'].text}"]


def test_the_readme_paragraph_is_what_the_table_renders():
    readme = (REPO / "README.md").read_text()
    found = README_BLOCK.search(readme)
    assert found, "README.md has lost its <!-- status-definitions: ... --> markers"
    want = dead.definitions_markdown(indent="  ", width=102)
    assert found.group(1) == want, f"regenerate the README's definitions between the markers:\n{want}"


def test_compare_reports_the_definitions_under_python_OO():
    """``compare --json`` once parsed a docstring, which ``python -OO`` strips."""
    code = ("from vggexplorer.stats.compare import compare_scan; from vggexplorer.stats.scan import load_scan; "
            "from vggexplorer.stats.status import definitions_json; "
            "assert compare_scan(load_scan())['dead_definitions'] == definitions_json(); print('ok')")
    out = subprocess.run([sys.executable, "-OO", "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("name", [dead.WEIGHT_DEAD, dead.DORMANT, dead.WEAKENED, dead.UNSCANNED])
def test_every_status_has_a_colour(name):
    from vggexplorer.views.style import STATUS_COLORS

    assert name in STATUS_COLORS
