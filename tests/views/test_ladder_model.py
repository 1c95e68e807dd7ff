import numpy as np
import pytest

from vggexplorer.stats import status as dead
from vggexplorer.stats.compare import compare_scan
from vggexplorer.views.ladder_model import (
    accuracy_points, block_across, channel_statuses, channel_table, cka_by_rung, death_counts,
    disagreement_frame, filter_sparsity_by_rung, per_class_rows,
)
from vggexplorer.stats.scan import ScanResult


def _stats(filt, fire, dens, mean):
    k = len(mean)
    return {"filter_sparsity": np.array(filt, np.float32), "fire_fraction": np.array(fire, np.float32),
            "density": np.array(dens, np.float32), "mean": np.array(mean, np.float32),
            "max": np.ones(k, np.float32), "topk_index": np.zeros((k, 1), np.int64), "topk_value": np.zeros((k, 1))}


def _scan():
    """Three models, one block of 4 channels; channel 0 stays alive, 1 goes dormant at 55% then recovers,
    2 becomes weight-dead at 75%, 3 only weakens."""
    models = {
        "dense": {"conv0": _stats([0.1, 0.1, 0.1, 0.1], [1, 1, 1, 1], [0.5, 0.5, 0.5, 0.5], [1, 1, 1, 1])},
        "p55": {"conv0": _stats([0.5, 0.5, 0.9, 0.5], [1, 0.2, 1, 1], [0.5, 0.005, 0.4, 0.3], [1, 0.1, 0.8, 0.5])},
        "p75": {"conv0": _stats([0.7, 0.7, 1.0, 0.7], [1, 1, 0, 1], [0.5, 0.3, 0.0, 0.3], [1, 0.5, 0.0, 0.2])},
    }
    labels = np.array([0, 0, 1, 1])
    probs = {"dense": np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.6, 0.4]]),  # image 3: dense wrong
             "p55": np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]]),
             "p75": np.array([[0.8, 0.2], [0.4, 0.6], [0.6, 0.4], [0.3, 0.7]])}
    res = ScanResult(models, predictions={r: {"pred": p.argmax(1), "probs": p} for r, p in probs.items()},
                     labels=labels,
                     meta={"blocks": ["conv0"], "roles": list(models), "zero_fraction": {"dense": 0.0, "p55": 0.55, "p75": 0.75},
                           "cka": {"dense~p55": {"conv0": 0.9}, "dense~p75": {"conv0": 0.7}, "p55~p75": {"conv0": 0.8}}})
    return res


def test_death_counts_and_filter_sparsity_by_rung():
    scan = _scan()
    c = death_counts(scan)
    assert sorted(c) == [0, 55, 75]
    assert c[0]["conv0"][dead.DORMANT] == 0 and c[0]["conv0"][dead.WEAKENED] == 0
    assert c[55]["conv0"][dead.DORMANT] == 1 and c[55]["conv0"][dead.WEAKENED] == 1
    assert c[75]["conv0"] == {dead.WEIGHT_DEAD: 1, dead.ACTIVATION_DEAD: 1, dead.DORMANT: 1, dead.WEAKENED: 2,
                              dead.SPARSE_FILTERS: 1, "channels": 4}
    assert filter_sparsity_by_rung(scan)[75]["conv0"].tolist() == pytest.approx([0.7, 0.7, 1.0, 0.7])


def test_channel_table_died_at_and_statuses():
    df = channel_table(_scan(), "conv0", "p75")
    assert df["died at"].tolist() == ["never", "55%", "75%", "never"]
    assert df["status"].tolist() == ["alive", "alive", "weight-dead", "weakened"]
    assert df["pruned 55%"].tolist() == ["alive", "dormant", "alive", "alive"]
    assert df["mean / dense"].tolist() == pytest.approx([1.0, 0.5, 0.0, 0.2])
    assert channel_statuses(_scan(), "conv0", 1) == {"dense": "alive", "p55": "dormant", "p75": "alive"}


def test_views_of_the_stored_comparison():
    report = compare_scan(_scan())
    assert [p["role"] for p in report["pairs"]] == ["p55", "p75"]
    assert accuracy_points(report) == [{"percent": 0, "zero_fraction": 0.0, "top1": 0.75},
                                       {"percent": 55, "zero_fraction": 0.55, "top1": 0.75},
                                       {"percent": 75, "zero_fraction": 0.75, "top1": 0.5}]
    assert cka_by_rung(report) == {55: {"conv0": 0.9}, 75: {"conv0": 0.7}}
    rows = per_class_rows(report)
    assert len(rows) == 20 and {r["percent"] for r in rows} == {55, 75}  # ten CIFAR classes per rung
    d = disagreement_frame(report, "p75")
    assert sorted(d["index"]) == [1, 2, 3] and d["sym_kl"].is_monotonic_decreasing
    assert dict(zip(d["index"], d["kind"])) == {1: "broke", 2: "broke", 3: "fixed"}
    assert sorted(disagreement_frame(report, "p75", kind="broke")["index"]) == [1, 2]
    assert disagreement_frame(report, "p75", cls="airplane")["index"].tolist() == [1]
    assert disagreement_frame(report, "p75", cls="automobile", kind="fixed")["index"].tolist() == [3]
    with pytest.raises(KeyError, match="p55"):
        disagreement_frame(report, "p99")


def test_channel_across_the_ladder_on_hand_made_models():
    from ..handmade import four_filter_model

    img = np.zeros((32, 32, 3), np.uint8)
    img[8:10, 8:10, 0] = 255  # a red patch: filter 1 fires there only
    maps = {r: m[1] for r, m in block_across({"dense": four_filter_model(), "p55": four_filter_model()}, img,
                                              "conv0").items()}
    assert set(maps) == {"dense", "p55"} and maps["dense"].shape == (32, 32)
    assert maps["dense"][8:10, 8:10].min() == 1.0 and maps["dense"].sum() == 4.0


def test_block_across_takes_known_maps_as_they_are():
    from ..handmade import four_filter_model

    img = np.zeros((32, 32, 3), np.uint8)
    known = np.full((4, 32, 32), 7.0, np.float32)  # not what the model computes: proves it was not recomputed
    p55 = four_filter_model()
    maps = block_across({"dense": four_filter_model(), "p55": p55}, img, "conv0", known={"dense": known})
    assert np.array_equal(maps["dense"], known)
    from vggexplorer.probe.hooks import capture_activations

    assert np.array_equal(maps["p55"], capture_activations(p55, img[None]).activations["conv0"][0].numpy())


def test_a_ladder_of_your_own_is_named_and_ordered_by_the_scan():
    """_scan()'s models under other names, listed out of order, with the percentages a scan of them measured:
    "early" (p55's statistics) at 60%, "late" (p75's) at 80%."""
    from vggexplorer.views.ladder_model import ladder_roles

    base = _scan()
    models = {"dense": base.models["dense"], "late": base.models["p75"], "early": base.models["p55"]}
    scan = ScanResult(models, meta={"blocks": ["conv0"], "roles": list(models),
                                    "percent": {"dense": 0, "late": 80, "early": 60}})
    assert ladder_roles(scan) == ["dense", "early", "late"]
    c = death_counts(scan)
    assert list(c) == [0, 60, 80] and c[60]["conv0"][dead.DORMANT] == 1 and c[80]["conv0"][dead.WEIGHT_DEAD] == 1
    assert list(filter_sparsity_by_rung(scan)) == [0, 60, 80]
    df = channel_table(scan, "conv0", "late")
    assert df["died at"].tolist() == ["never", "60%", "80%", "never"]
    assert df["pruned 60%"].tolist() == ["alive", "dormant", "alive", "alive"]
    assert df["pruned 80%"].tolist() == ["alive", "alive", "weight-dead", "weakened"]
