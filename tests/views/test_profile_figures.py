"""The class-profile and selectivity figures, checked for their data on hand-made statistics."""

import math

import numpy as np
import pytest

from vggexplorer.model.vgg import CIFAR10_CLASSES
from vggexplorer.stats.scan import ScanResult
from vggexplorer.stats.selectivity import CLASS_MEAN, NEEDS_SCAN
from vggexplorer.views.profile_figures import (channel_profiles, class_profile_figure, profile_summary,
                                               selectivity_by_rung, selectivity_figure, undefined_counts)

CLASSES = list(CIFAR10_CLASSES)  # airplane, automobile, bird, cat, ...


def _profile(top: int, high: float, rest: float) -> np.ndarray:
    p = np.full(10, rest)
    p[top] = high
    return p


def test_summary_says_which_class_and_whether_pruning_changed_it():
    dense = _profile(1, 1.0, 0.2)  # automobile; (1 - 0.2) / (1 + 0.2) = 2/3
    assert profile_summary({"dense": dense, "pruned 95%": _profile(2, 0.5, 0.1)}, CLASSES) == (
        "dense fires most for automobile (selectivity 0.67); pruned 95% fires most for bird (selectivity 0.67): "
        "pruning changed its class")  # (0.5 - 0.1) / (0.5 + 0.1) = 2/3
    assert profile_summary({"dense": dense, "pruned 55%": _profile(1, 0.6, 0.3)}, CLASSES).endswith(
        "automobile (selectivity 0.33): pruning kept its class")  # (0.6 - 0.3) / (0.6 + 0.3)
    assert profile_summary({"dense": dense, "pruned 95%": np.zeros(10)}, CLASSES).endswith(
        "pruned 95% never fires: pruning silenced it")
    assert profile_summary({"dense": np.zeros(10), "pruned 95%": dense}, CLASSES).endswith("it fires only after pruning")
    assert profile_summary({"dense": dense}, CLASSES) == "dense fires most for automobile (selectivity 0.67)"


def test_profile_figure_data():
    dense, pruned = _profile(4, 0.9, 0.1), _profile(4, 0.3, 0.2)
    fig = class_profile_figure({"dense": dense, "pruned 95%": pruned}, CLASSES, "conv7", 12)
    assert [t.name for t in fig.data] == ["dense", "pruned 95%"] and fig.layout.barmode == "group"
    for t, p in zip(fig.data, (dense, pruned)):
        assert list(t.x) == CLASSES
        np.testing.assert_array_equal(np.asarray(t.y), p.astype(np.float32))
        lines = list(t.marker.line.color)
        assert lines[4] == "black" and lines.count("black") == 1 and t.meta["preferred"] == 4  # deer outlined
    assert "conv7 channel 12" in fig.layout.title.text and "pruning kept its class" in fig.layout.title.text


def test_channel_profiles_say_what_is_missing():
    means = np.array([[2.0] + [1.0] * 9, [0.0] * 10], np.float32)
    scan = ScanResult({"dense": {"conv0": {CLASS_MEAN: means}}}, meta={"blocks": ["conv0"]})
    profiles, why = channel_profiles(scan, {"dense": "dense", "pruned": "pruned"},
                                     {"dense": "dense", "pruned": "mine.pt"}, "conv0", 0)
    assert list(profiles) == ["dense"] and profiles["dense"].tolist() == [2.0] + [1.0] * 9
    assert why == {"mine.pt": NEEDS_SCAN}


def test_selectivity_by_rung_from_a_scan():
    # dense: channel 0 [4, 1 x 9] -> 0.6, channel 1 uniform -> 0, channel 2 silent -> undefined; p95: one class only
    dense = np.array([[4.0] + [1.0] * 9, [1.0] * 10, [0.0] * 10], np.float32)
    p95 = np.array([[3.0] + [0.0] * 9] * 3, np.float32)
    scan = ScanResult({"dense": {"conv0": {CLASS_MEAN: dense}}, "p95": {"conv0": {CLASS_MEAN: p95}},
                       "p55": {"conv0": {"mean": np.zeros(3, np.float32)}}},  # no class means: left out
                      meta={"blocks": ["conv0"]})
    index = selectivity_by_rung(scan)
    assert sorted(index) == [0, 95]
    assert index[0]["conv0"][:2] == pytest.approx([0.6, 0.0]) and math.isnan(index[0]["conv0"][2])
    assert index[95]["conv0"] == pytest.approx([1.0, 1.0, 1.0])
    assert undefined_counts(index) == {0: 1, 95: 0}


def test_selectivity_figure_boxes_and_the_axis_where_the_differences_are():
    index = {95: {"conv0": np.array([0.45, 0.5, 0.55])},
             0: {"conv0": np.array([0.4, 0.5, 0.6, np.nan]), "conv1": np.array([0.42, 0.44, 0.46])}}
    fig = selectivity_figure(index)
    assert [t.name for t in fig.data] == ["dense", "pruned 95%"] and fig.layout.boxmode == "group"
    d, p = fig.data
    assert list(d.x) == ["conv0", "conv1"]
    # dense conv0, 3 finite values: q1 at rank 0.5 (0.45), median 0.5, q3 at rank 1.5 (0.55); whiskers at the ends
    assert (d.q1[0], d.median[0], d.q3[0], d.lowerfence[0], d.upperfence[0]) == pytest.approx(
        (0.45, 0.5, 0.55, 0.4, 0.6))
    assert d.meta["n"] == [3, 3] and d.meta["undefined"] == [1, 0]
    assert p.median[0] == pytest.approx(0.5) and p.median[1] is None and p.meta["n"] == [3, 0]  # no conv1 on 95%
    # whiskers span 0.4 .. 0.6: padded by max(0.02, 5% of 0.2) = 0.02, not stretched to [0, 1]
    assert tuple(fig.layout.yaxis.range) == pytest.approx((0.38, 0.62))
    wide = selectivity_figure({0: {"conv0": np.array([0.0, 0.5, 1.0])}})
    assert tuple(wide.layout.yaxis.range) == pytest.approx((0.0, 1.0))  # clipped to where the index lives


def test_selectivity_by_rung_keys_a_model_of_your_own_by_its_measured_percent():
    one = np.array([[3.0] + [0.0] * 9], np.float32)  # one class only: index 1
    scan = ScanResult({"dense": {"conv0": {CLASS_MEAN: one}}, "mine": {"conv0": {CLASS_MEAN: one}}},
                      meta={"blocks": ["conv0"], "percent": {"dense": 0, "mine": 80}})
    assert sorted(selectivity_by_rung(scan)) == [0, 80]
