import numpy as np
import pytest
import torch

from vggexplorer.data.cifar10 import BUNDLED_TEST, DataError, augment, load_bundled_test, load_imagefolder, stratified_holdout

from ..conftest import SHARED_DATA


def test_bundled_test_split_is_complete_and_small(test_split):
    assert BUNDLED_TEST.stat().st_size < 30 * 2**20
    assert test_split.images.shape == (10000, 32, 32, 3) and test_split.images.dtype == np.uint8
    assert np.bincount(test_split.labels).tolist() == [1000] * 10
    assert test_split.filenames[0].startswith("airplane/")


@pytest.mark.skipif(not (SHARED_DATA / "test").is_dir(),
                    reason=f"needs the ImageFolder copy of CIFAR-10 at {SHARED_DATA} (or set VGGEXPLORER_DATA)")
def test_bundled_test_split_is_lossless():
    ref = load_imagefolder(SHARED_DATA, "test", progress=False)
    ours = load_bundled_test()
    assert ours.filenames == ref.filenames
    assert np.array_equal(ours.labels, ref.labels)
    assert np.array_equal(ours.images, ref.images)


def test_damaged_bundle_names_the_fix(tmp_path):
    p = tmp_path / "t.npz"
    p.write_bytes(b"garbage")
    with pytest.raises(DataError, match="pack-test") as e:
        load_bundled_test(p)
    assert "not an .npz archive" in str(e.value) and "allow_pickle" not in str(e.value)  # numpy's advice is wrong here
    np.savez(p, other=np.zeros(3))  # a real archive without the split's arrays
    with pytest.raises(DataError, match="damaged.*pack-test"):
        load_bundled_test(p)
    with pytest.raises(DataError, match="pack-test"):
        load_bundled_test(tmp_path / "missing.npz")


def test_stratified_holdout():
    labels = np.repeat(np.arange(10), 50)
    tr, ho = stratified_holdout(labels, 100, seed=0)
    assert len(ho) == 100 and np.bincount(labels[ho]).tolist() == [10] * 10
    assert len(np.intersect1d(tr, ho)) == 0 and len(tr) + len(ho) == 500
    assert np.array_equal(ho, stratified_holdout(labels, 100, seed=0)[1])


def test_augment_crops_and_flips_exactly():
    n = 32  # every image distinct and no row a palindrome, so a flip or a shift always shows
    x = torch.arange(n * 3 * 8 * 8, dtype=torch.float32).view(n, 3, 8, 8)
    out = augment(x, torch.Generator().manual_seed(0), pad=0)  # no padding: only flips possible
    flipped = [torch.equal(out[i], x[i].flip(-1)) for i in range(n)]
    for i in range(n):
        assert flipped[i] or torch.equal(out[i], x[i])
    assert 0 < sum(flipped) < n, "flips happen, and not to every image"
    out = augment(x, torch.Generator().manual_seed(1), pad=2)
    assert out.shape == x.shape
    # every crop is a window of the zero-padded image, possibly flipped; over 32 images both vary
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    found = []
    for i in range(n):
        where = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                 if torch.equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8].flip(-1) if f else
                                padded[i, :, dy:dy + 8, dx:dx + 8])]
        assert len(where) == 1, (i, where)
        found.append(where[0])
    assert len({(dy, dx) for dy, dx, _ in found}) > 1 and len({f for _, _, f in found}) == 2


def test_stratified_indices_on_the_test_split(test_split):
    from vggexplorer.data.cifar10 import stratified_indices

    labels = test_split.labels
    assert np.bincount(labels[:1000]).tolist() == [1000]  # why: the first 1,000 are all airplanes
    idx = stratified_indices(labels, 1000, seed=0)
    assert len(idx) == 1000 and (np.diff(idx) > 0).all()  # sorted, each once
    assert np.bincount(labels[idx], minlength=10).tolist() == [100] * 10
    assert np.array_equal(idx, stratified_indices(labels, 1000, seed=0))  # reproducible
    other = stratified_indices(labels, 1000, seed=1)
    assert np.bincount(labels[other], minlength=10).tolist() == [100] * 10 and not np.array_equal(idx, other)
    # 1,003: the 3 left over go one each to the first three classes
    assert np.bincount(labels[stratified_indices(labels, 1003)], minlength=10).tolist() == [101] * 3 + [100] * 7
    assert np.array_equal(stratified_indices(labels, 10000), np.arange(10000))
    assert np.array_equal(stratified_indices(labels, 20000), np.arange(10000))


def test_stratified_indices_when_a_class_has_too_few():
    from vggexplorer.data.cifar10 import class_quotas, stratified_indices

    labels = np.array([0] * 3 + [1] * 10 + [2] * 10)
    # 14 over 3 classes: 5, 5, 4; class 0 has only 3, so its 2 more go to the others: 6 and 5
    assert class_quotas(labels, 14) == {0: 3, 1: 6, 2: 5}
    idx = stratified_indices(labels, 14, seed=3)
    assert np.bincount(labels[idx]).tolist() == [3, 6, 5] and len(set(idx.tolist())) == 14
