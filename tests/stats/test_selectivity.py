"""Class profiles and the class selectivity index on statistics worked out by hand."""

import math

import numpy as np
import pytest

from vggexplorer.stats.scan import ScanResult
from vggexplorer.stats.selectivity import (CLASS_MEAN, NEEDS_SCAN, OLD_SCAN, class_profile, definition_markdown,
                                           distribution, missing, preferred_class, selectivity_by_role,
                                           selectivity_index)


def test_index_on_hand_made_means():
    means = np.array([
        [4, 1, 1, 1, 1, 1, 1, 1, 1, 1],  # mu_max 4, mu_rest 9/9 = 1: (4 - 1) / (4 + 1) = 0.6
        [2] * 10,                         # uniform: 0
        [0, 0, 0, 3, 0, 0, 0, 0, 0, 0],  # one class only: (3 - 0) / (3 + 0) = 1
        [0] * 10,                         # never fires: undefined
        [4, 4, 1, 1, 1, 1, 1, 1, 1, 1],  # mu_rest (4 + 8) / 9 = 4/3: (8/3) / (16/3) = 0.5
    ], np.float32)
    si = selectivity_index(means)
    assert si[:3] == pytest.approx([0.6, 0.0, 1.0], abs=1e-12)
    assert math.isnan(si[3])  # not 0: a silent channel has no class preference to measure
    assert si[4] == pytest.approx(0.5, abs=1e-12)


def test_index_leaves_out_a_class_without_images():
    # class 2 had no image in the scan: NaN in every channel; the index compares the other two classes
    means = np.array([[3, 1, np.nan], [1, 1, np.nan]])
    assert selectivity_index(means) == pytest.approx([0.5, 0.0])  # (3 - 1) / (3 + 1); uniform


def test_index_rejects_what_it_cannot_compare():
    with pytest.raises(ValueError, match="channels, classes"):
        selectivity_index(np.zeros(10))
    with pytest.raises(ValueError, match="at least 2"):
        selectivity_index(np.array([[1.0, np.nan]]))


def test_preferred_class():
    assert preferred_class(np.array([1, 5, 5, 0])) == 1  # a tie goes to the lower class
    assert preferred_class(np.array([0.0, np.nan, 2.0])) == 2
    assert preferred_class(np.zeros(10)) is None


def test_distribution_quartiles_and_whiskers():
    d = distribution(np.array([0.0, 0.1, 0.2, 0.3, 1.0, np.nan]))
    # 5 finite values: q1 at rank 1 (0.1), median 0.2, q3 at rank 3 (0.3); IQR 0.2, fences -0.2 and 0.6
    assert (d.n, d.undefined) == (5, 1)
    assert (d.q1, d.median, d.q3) == pytest.approx((0.1, 0.2, 0.3))
    assert (d.lower, d.upper) == pytest.approx((0.0, 0.3))  # 1.0 lies beyond the upper fence
    empty = distribution(np.array([np.nan, np.nan]))
    assert (empty.n, empty.undefined) == (0, 2) and math.isnan(empty.median)


def _scan(with_means: bool = True) -> ScanResult:
    st = {"mean": np.array([1.0, 0.0], np.float32)}
    if with_means:
        st[CLASS_MEAN] = np.array([[2, 1, 0], [0, 0, 0]], np.float32)  # [C=2, classes=3]
    return ScanResult({"dense": {"conv0": dict(st)}, "p95": {"conv0": dict(st)}}, meta={"blocks": ["conv0"]})


def test_profile_and_what_is_missing():
    scan = _scan()
    assert missing(scan, "dense") is None
    assert class_profile(scan, "dense", "conv0", 0).tolist() == [2, 1, 0]
    assert missing(scan, "pruned") == NEEDS_SCAN and missing(None, "dense") == NEEDS_SCAN
    old = _scan(with_means=False)
    assert missing(old, "dense") == OLD_SCAN and "vggexplorer scan" in OLD_SCAN
    by_role = selectivity_by_role(scan)
    # channel 0: mu_max 2, mu_rest (1 + 0) / 2 = 0.5 -> 1.5 / 2.5 = 0.6; channel 1 never fires
    assert by_role["dense"]["conv0"][0] == pytest.approx(0.6) and math.isnan(by_role["dense"]["conv0"][1])
    assert selectivity_by_role(old) == {}


def test_definition_names_the_formula_and_the_paper():
    text = definition_markdown()
    assert "μmax − μrest" in text and "Morcos" in text and "undefined" in text


def test_the_readme_renders_the_definition_from_its_one_place():
    from vggexplorer.stats.selectivity import definition_markdown

    from ..conftest import REPO

    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- selectivity-definition")
    block = readme[readme.index("\n", start) + 1:readme.index("<!-- /selectivity-definition -->")]
    assert block.strip() == definition_markdown()
