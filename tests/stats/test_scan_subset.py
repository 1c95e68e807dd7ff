"""A scan of a subset of the test split: which images, in which rows, with progress and cancellation, and the
scan's own account of what it covers and of its models (percent, label)."""

import numpy as np
import pytest

from vggexplorer.data.cifar10 import Split, stratified_indices
from vggexplorer.errors import ConfigError
from vggexplorer.model.ladder import LADDER, scan_path
from vggexplorer.probe.hooks import capture_activations
from vggexplorer.stats.compare import compare_scan
from vggexplorer.stats.scan import (QUICK_IMAGES, ScanResult, check_scan_matches, coverage, describe_sample, is_full,
                                    load_scan, quick_indices, run_scan, save_scan, scan_models)

from ..handmade import two_channel_model

P90 = next(r for r in LADDER if r.role == "p90")


def _constant_split() -> Split:
    """Five constant images: (r, g) = (0.2, 0), (0.6, 0.4), (0, 0.8), (1.0, 0.2), (0.4, 0.4); classes 0 0 1 3 3."""
    rgb = np.array([[51, 0, 0], [153, 102, 0], [0, 204, 0], [255, 51, 0], [102, 102, 0]], np.uint8)
    images = np.ascontiguousarray(np.broadcast_to(rgb[:, None, None, :], (5, 32, 32, 3)))
    return Split(images, np.array([0, 0, 1, 3, 3]), list("abcde"))


def test_a_subset_on_a_hand_made_model(tmp_path):
    """two_channel_model: channel 0's map is the image's red value, channel 1's its green, logits (r, g)."""
    calls = []
    res = scan_models({"m": two_channel_model()}, _constant_split(), batch_size=2, k=2, progress=False,
                      indices=np.array([4, 1, 3]), on_batch=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 3), (3, 3)]
    assert res.indices.tolist() == [1, 3, 4] and res.labels.tolist() == [0, 3, 3]  # sorted, whatever the order given
    # row i is image indices[i]: softmax(r, g)[0] = 1 / (1 + exp(g - r)) for images 1, 3, 4
    r, g = np.array([0.6, 1.0, 0.4]), np.array([0.4, 0.2, 0.4])
    np.testing.assert_allclose(res.predictions["m"]["probs"][:, 0], 1 / (1 + np.exp(g - r)), rtol=1e-5)
    np.testing.assert_allclose(res.stat("m", "conv0", "mean"), [(0.6 + 1.0 + 0.4) / 3, (0.4 + 0.2 + 0.4) / 3],
                               rtol=1e-6)
    # class 0: image 1 only; class 3: images 3 and 4; class 1 (image 2, not scanned) and the rest: NaN
    cm = res.stat("m", "conv0", "class_mean")
    np.testing.assert_allclose(cm[:, [0, 3]], [[0.6, 0.7], [0.4, 0.3]], rtol=1e-6)
    assert np.isnan(np.delete(cm, [0, 3], 1)).all()
    # top-2 as dataset indices: red 1.0 (3), 0.6 (1); green 0.4 twice (1 and 4, the lower index first)
    assert res.stat("m", "conv0", "topk_index").tolist() == [[3, 1], [1, 4]]
    # 52 of the conv's 54 weights and 2 of the classifier's 4 are zero: 54 / 58 = 93.1%
    assert res.percent("m") == 93 and res.label("m") == "pruned 93%"
    assert res.meta["sample"]["kind"] == "subset" and coverage(res) == "a subset (3 of 5 test images)"
    back = load_scan(save_scan(res, tmp_path / "s.npz"))
    assert back.indices.tolist() == [1, 3, 4] and back.percent("m") == 93
    with pytest.raises(ConfigError, match="0..4"):
        scan_models({"m": two_channel_model()}, _constant_split(), progress=False, indices=np.array([0, 5]))


def test_run_scan_of_a_stratified_subset_with_the_shipped_models(tmp_path, test_split):
    idx = stratified_indices(test_split.labels, 50, seed=0)
    calls = []
    res = run_scan({"dense": LADDER[0].path, "p90": P90.path}, test_split, tmp_path / "s.npz", batch_size=16,
                   progress=False, indices=idx, on_batch=lambda done, total: calls.append((done, total)))
    assert calls == [(16, 50), (32, 50), (48, 50), (50, 50)]
    back = load_scan(tmp_path / "s.npz")
    assert back.roles == res.roles == ["dense", "p90"]
    assert check_scan_matches(back, {"dense": LADDER[0].path, "p90": P90.path}) == []  # the app can check its files
    assert np.array_equal(back.indices, idx) and np.array_equal(back.labels, test_split.labels[idx])
    assert back.meta["n_images"] == 50 and back.meta["sample"] == {
        "kind": "stratified", "n": 50, "of": 10000, "per_class": 5, "classes": 10, "seed": 0}
    assert coverage(back) == "a stratified sample (50 of 10,000 test images, 5 per class, seed 0)"
    assert not is_full(back)
    # the measured sparsities (the model card's table: 0.00% and 90.24% of conv + linear weights zero)
    assert back.meta["percent"] == {"dense": 0, "p90": 90} and back.label("p90") == "pruned 90%"
    from vggexplorer import load_model

    for role, path in (("dense", LADDER[0].path), ("p90", P90.path)):
        direct = capture_activations(load_model(path), test_split.images[idx]).probs.numpy()  # row i: image idx[i]
        probs = back.predictions[role]["probs"]
        np.testing.assert_allclose(probs, direct, rtol=0, atol=1e-5)
        top2 = np.sort(direct, 1)[:, -2:]
        assert (top2[:, 1] - top2[:, 0] > 2e-5).all()  # no near-tie that a summation order could flip
        assert np.array_equal(back.predictions[role]["pred"], direct.argmax(1))
        assert np.isin(back.stat(role, "conv3", "topk_index"), idx).all()  # dataset indices of scanned images
    rows = compare_scan(back)["pairs"][0]["disagreement_list"]
    assert rows and all(r["index"] in set(idx.tolist()) for r in rows)
    assert all(r["truth"] == test_split.classes[test_split.labels[r["index"]]] for r in rows)


def test_a_cancelled_scan_raises_and_leaves_no_file(tmp_path, test_split):
    class Cancelled(Exception):
        pass

    def cancel(done, total):
        if done >= 32:
            raise Cancelled

    with pytest.raises(Cancelled):
        run_scan({"dense": LADDER[0].path, "p90": P90.path}, test_split, tmp_path / "s.npz", batch_size=16,
                 progress=False, indices=stratified_indices(test_split.labels, 50), on_batch=cancel)
    assert list(tmp_path.iterdir()) == []


def test_the_shipped_scan_describes_its_models_and_what_it_covers():
    scan = load_scan(scan_path())
    assert scan.meta["sample"]["kind"] == "full" and scan.meta["cka_batch"] == 25  # what the file itself records
    assert [scan.percent(r) for r in scan.roles] == [0, 55, 75, 90, 95]
    assert [scan.label(r) for r in scan.roles] == ["dense", "pruned 55%", "pruned 75%", "pruned 90%", "pruned 95%"]
    assert np.array_equal(scan.indices, np.arange(10000)) and is_full(scan)
    assert coverage(scan) == "the full test split (10,000 images)"


def test_an_older_file_without_a_sample_record_is_full():
    older = ScanResult({}, meta={"n_images": 7})
    assert is_full(older) and coverage(older) == "the full test split (7 images)"
    assert np.array_equal(older.indices, np.arange(7))


def test_percent_prefers_what_the_scan_measured():
    scan = ScanResult({}, meta={"percent": {"p55": 60}, "zero_fraction": {"mine": 0.804, "p75": 0.9}})
    assert scan.percent("p55") == 60  # measured, whatever the role's name says
    assert scan.percent("p75") == 75  # an older file: the shipped rung's percent first
    assert scan.percent("mine") == 80 and scan.label("mine") == "pruned 80%"  # then its recorded zero fraction
    assert scan.percent("other") is None and scan.label("other") == "other"


def test_the_quick_pass_and_how_coverage_says_it(test_split):
    idx = quick_indices(test_split.labels)
    assert QUICK_IMAGES == 1000 and np.bincount(test_split.labels[idx]).tolist() == [100] * 10
    sample = describe_sample(test_split.labels, idx)
    assert sample == {"kind": "stratified", "n": 1000, "of": 10000, "per_class": 100, "classes": 10, "seed": 0}
    quick = ScanResult({}, meta={"sample": sample, "n_images": 1000})
    assert coverage(quick, full_pass_follows=True) == ("a quick stratified sample (1,000 of 10,000 test images, "
                                                       "100 per class, seed 0); the full pass replaces it")
    odd = ScanResult({}, meta={"sample": describe_sample(test_split.labels, stratified_indices(test_split.labels, 1003))})
    assert coverage(odd) == "a stratified sample (1,003 of 10,000 test images, 100-101 per class, seed 0)"
    assert describe_sample(test_split.labels, np.arange(1000))["kind"] == "subset"  # the first 1,000: not stratified
    assert describe_sample(test_split.labels, np.arange(10000))["kind"] == "full"
