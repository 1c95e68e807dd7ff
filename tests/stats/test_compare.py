import numpy as np
import pytest

from vggexplorer.stats.compare import disagreements, per_class


def _onehot(pred, conf, k=3):
    p = np.full((len(pred), k), (1 - np.array(conf))[:, None] / (k - 1))
    p[np.arange(len(pred)), pred] = conf
    return p


CLASSES = ("a", "b", "c")


def test_disagreements_on_hand_made_predictions():
    labels = np.array([0, 0, 1, 1, 2, 2])
    dense = _onehot([0, 1, 1, 0, 2, 1], [0.9, 0.6, 0.8, 0.5, 0.7, 0.4])
    pruned = _onehot([0, 0, 2, 0, 1, 1], [0.9, 0.7, 0.9, 0.6, 0.5, 0.9])
    # image 1: dense wrong (b), pruned right (a): fixed; image 2: dense right, pruned wrong: broke;
    # image 4: broke; images 0, 3, 5 agree (3 and 5 agree on the wrong class)
    out = disagreements(dense, pruned, labels, CLASSES)
    assert (out["disagreements"], out["pruned_fixed"], out["pruned_broke"]) == (3, 1, 2)
    rows = out["disagreement_list"]
    assert sorted(r["index"] for r in rows) == [1, 2, 4]
    by_index = {r["index"]: r for r in rows}
    assert by_index[1]["kind"] == "fixed" and by_index[2]["kind"] == "broke" and by_index[4]["kind"] == "broke"
    assert by_index[2]["dense_pred"] == "b" and by_index[2]["pruned_pred"] == "c" and by_index[2]["truth"] == "b"
    assert by_index[2]["dense_probs"] == {"b": 0.8, "c": 0.1}
    assert by_index[2]["pruned_probs"] == {"b": 0.05, "c": 0.9}
    skl = [r["sym_kl"] for r in rows]
    assert skl == sorted(skl, reverse=True) and skl[-1] > 0
    assert rows[0]["index"] == 2  # the most confident flip ranks first
    # the same rows from a scan of the test images 3, 8, 40, 41, 77, 90: the list names those images
    sub = disagreements(dense, pruned, labels, CLASSES, indices=np.array([3, 8, 40, 41, 77, 90]))["disagreement_list"]
    assert [r["index"] for r in sub] == [40, 8, 77] and [r["index"] for r in rows] == [2, 1, 4]
    assert [r["kind"] for r in sub] == [r["kind"] for r in rows]


def test_per_class_rows_average_to_top1_and_test_each_class():
    labels = np.repeat(np.arange(3), 40)
    dense_pred = labels.copy()
    pruned_pred = labels.copy()
    dense_pred[:4] = 1  # class a: dense wrong on 4
    pruned_pred[40:52] = 0  # class b: pruned wrong on 12 where dense is right
    pruned_pred[80:81] = 0
    dense_pred[81:83] = 0  # class c: b=1, c=2
    rows = per_class(dense_pred, pruned_pred, labels, CLASSES)
    assert [r["class"] for r in rows] == list(CLASSES)
    assert np.mean([r["pruned_top1"] for r in rows]) == pytest.approx(np.mean(pruned_pred == labels))
    assert np.mean([r["dense_top1"] for r in rows]) == pytest.approx(np.mean(dense_pred == labels))
    b = rows[1]
    assert (b["dense_right_pruned_wrong"], b["dense_wrong_pruned_right"]) == (12, 0)
    assert b["p_value"] == pytest.approx(2 / 4096)  # 2 * P(X <= 0), X ~ Bin(12, 1/2)
    assert b["p_adjusted"] == pytest.approx(3 * 2 / 4096) and b["significant"]  # the smallest of 3, times 3
    assert b["diff"] == pytest.approx(-12 / 40) and b["ci_low"] < b["diff"] < b["ci_high"] < 0
    a = rows[0]
    assert (a["dense_right_pruned_wrong"], a["dense_wrong_pruned_right"]) == (0, 4)
    assert a["p_value"] == pytest.approx(2 / 16) and a["p_adjusted"] == pytest.approx(2 * 2 / 16) and not a["significant"]
    c = rows[2]
    assert (c["dense_right_pruned_wrong"], c["dense_wrong_pruned_right"]) == (1, 2) and c["p_value"] == 1.0


def test_ten_classes_star_only_what_survives_holm():
    """Two classes pay, at raw p = 2/4096 (b = 12, c = 0) and 2/64 (b = 6, c = 0); the other eight have no
    discordant pair (p = 1). Uncorrected, both would be starred at 0.05. Holm over the ten: 10 x 2/4096 = 0.0049
    survives; 9 x 2/64 = 0.28 does not; the rest stay at 1."""
    classes = tuple("abcdefghij")
    labels = np.repeat(np.arange(10), 20)
    dense_pred = labels.copy()
    pruned_pred = labels.copy()
    pruned_pred[20:32] = 0   # class b: 12 broke
    pruned_pred[100:106] = 0  # class f: 6 broke
    rows = per_class(dense_pred, pruned_pred, labels, classes)
    raw = {r["class"]: r["p_value"] for r in rows}
    adj = {r["class"]: r["p_adjusted"] for r in rows}
    assert raw["b"] == pytest.approx(2 / 4096) and raw["f"] == pytest.approx(2 / 64)
    assert adj["b"] == pytest.approx(10 * 2 / 4096) and adj["f"] == pytest.approx(9 * 2 / 64)
    assert all(adj[c] == 1.0 for c in classes if c not in "bf")
    assert [r["class"] for r in rows if r["significant"]] == ["b"]


def test_the_shipped_comparison_stars_only_what_survives_holm():
    """Uncorrected, cat (55%), deer (75%), bird, deer, ship, truck (90%) and dog, truck (95%) have p <= 0.05;
    corrected over the ten classes of each rung, deer and ship at 90% remain (checked with statsmodels'
    multipletests(method="holm") when the scan was made)."""
    from vggexplorer.model.ladder import scan_path
    from vggexplorer.stats.compare import compare_scan
    from vggexplorer.stats.scan import load_scan

    report = compare_scan(load_scan(scan_path()))
    assert {p["percent"]: p["significant_classes"] for p in report["pairs"]} == {
        55: [], 75: [], 90: ["deer", "ship"], 95: []}
    raw = {p["percent"]: [r["class"] for r in p["per_class"] if r["p_value"] <= 0.05] for p in report["pairs"]}
    assert raw == {55: ["cat"], 75: ["deer"], 90: ["bird", "deer", "ship", "truck"], 95: ["dog", "truck"]}
    assert report["per_class_test"]["correction"] == "holm"
    assert "Holm-corrected over 10 classes" in report["per_class_test"]["summary"]
