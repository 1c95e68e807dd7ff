"""The Explorer's view-model: statuses of the models shown, rankings of contributing channels, the channel table."""

import numpy as np
import pytest

from vggexplorer.stats.scan import ScanResult
from vggexplorer.views.explorer_model import (channel_table, scan_view, slot_statuses, survival_summary,
                                              top_contributors)

from ..handmade import four_filter_model


def _stats(filt, fire, dens, mean):
    k = len(mean)
    return {"filter_sparsity": np.array(filt, np.float32), "fire_fraction": np.array(fire, np.float32),
            "density": np.array(dens, np.float32), "mean": np.array(mean, np.float32), "max": np.ones(k, np.float32)}


def _scan() -> ScanResult:
    """Dense and one rung of the four-filter model: channel 1 is dormant at 55%, channel 2 weakened."""
    return ScanResult({
        "dense": {"conv0": _stats([1, 26 / 27, 0, 1], [0, 0.5, 0.5, 1], [0, 0.2, 0.2, 1], [0, 1.0, 1.0, 0.5])},
        "p55": {"conv0": _stats([1, 26 / 27, 0, 1], [0, 0.5, 0.5, 1], [0, 0.004, 0.2, 1], [0, 1.0, 0.2, 0.5])},
    }, meta={"blocks": ["conv0"]})


def test_statuses_come_from_the_scan_for_shipped_models_and_from_the_weights_otherwise():
    fs = {"dense": {"conv0": np.array([1, 26 / 27, 0, 1])}, "pruned": {"conv0": np.array([1, 26 / 27, 0, 1])}}
    got = slot_statuses(_scan(), {"dense": "dense", "pruned": "p55"}, fs)
    # dense channel 0: all weights zero; channel 3 is weight-dead too (BN keeps it at 0.5, but weight-dead ranks first)
    assert got["dense"]["conv0"].tolist() == ["weight-dead", "alive", "alive", "weight-dead"]
    # p55: channel 1 fires at 0.4% of positions (dormant), channel 2's mean is 20% of dense's (weakened)
    assert got["pruned"]["conv0"].tolist() == ["weight-dead", "dormant", "weakened", "weight-dead"]
    # the pruned slot holds a checkpoint of the user's own: the weights tell weight-dead, nothing else
    own = slot_statuses(_scan(), {"dense": "dense"}, fs)
    assert own["pruned"]["conv0"].tolist() == ["weight-dead", "not scanned", "not scanned", "weight-dead"]
    assert slot_statuses(None, {"dense": "dense"}, fs)["dense"]["conv0"].tolist()[1] == "not scanned"


def test_top_contributors_leave_out_zero_scores():
    order, n = top_contributors(np.array([0.0, 0.5, 0.0, -0.2, 0.9, 0.0]), top=2)
    assert order.tolist() == [4, 1] and n == 3
    order, n = top_contributors(np.array([0.0, 0.5, 0.0, -0.2]), top=10)
    assert order.tolist() == [1, 3] and n == 2  # a negative contribution is a contribution, ranked last
    order, n = top_contributors(np.zeros(4), top=3)
    assert order.tolist() == [] and n == 0


def test_survival_summary_counts_only_contributing_channels():
    # eight channels; only 1, 4 and 6 contribute (the seed's check once counted channels 0..7 at zero)
    scores = np.array([0, 0.3, 0, 0, 0.9, 0, 0.1, 0])
    status = ["alive", "weight-dead", "alive", "alive", "weakened", "alive", "alive", "dormant"]
    sparsity = np.array([0.1, 1.0, 0.2, 0.3, 0.5, 0.6, 0.7, 0.8])
    sv = survival_summary(scores, status, sparsity, top=10)
    assert sv["channels"] == [4, 1, 6] and sv["contributing"] == 3 and sv["of"] == 8
    assert sv["survived"] == 2  # channel 1's filter is all zero
    assert sv["statuses"] == {"weight-dead": 1, "weakened": 1, "alive": 1}
    assert sv["mean_filter_sparsity"] == pytest.approx((0.5 + 1.0 + 0.7) / 3)
    none = survival_summary(np.zeros(8), status, sparsity)
    assert none["channels"] == [] and none["contributing"] == 0 and none["mean_filter_sparsity"] == 0.0


def test_channel_table_carries_the_given_statuses_and_died_at():
    models = {"dense": four_filter_model(), "pruned": four_filter_model()}
    statuses = {"dense": {"conv0": np.array(["weight-dead", "alive", "alive", "weight-dead"], object)},
                "pruned": {"conv0": np.array(["weight-dead", "dormant", "weakened", "weight-dead"], object)}}
    view = scan_view(_scan(), {"dense": "dense", "pruned": "p55"})
    died = {"conv0": np.array([55, 55, -1, 75])}
    df = channel_table(models, view, ["conv0"], statuses, died, 55)
    assert df["pruned_status"].tolist() == ["weight-dead", "dormant", "weakened", "weight-dead"]
    assert df["dense_weight_dead"].tolist() == [True, False, False, True]
    assert df["pruned_filter_sparsity"].tolist() == pytest.approx([1.0, 26 / 27, 0.0, 1.0])
    assert df["pruned_activation_dead"].tolist() == [True, False, False, False]
    assert df["died_at"].tolist() == ["55%", "55%", "never", "75%"]
    assert df["died_with_pruning"].tolist() == [True, True, False, False]  # channel 3 dies only at 75%
    # an own pruned checkpoint: no ladder, so no "died at"; its statuses still come through
    own = channel_table(models, scan_view(_scan(), {"dense": "dense"}), ["conv0"], statuses)
    assert "died_at" not in own and "pruned_mean" not in own and own["pruned_status"].tolist()[1] == "dormant"
