import numpy as np
import pytest
import torch

from vggexplorer.data import BUNDLED_TEST, DataError, augment, load_bundled_test, load_imagefolder, stratified_holdout

from .conftest import SHARED_DATA


def test_bundled_test_split_is_complete_and_small(test_split):
    assert BUNDLED_TEST.stat().st_size < 30 * 2**20
    assert test_split.images.shape == (10000, 32, 32, 3) and test_split.images.dtype == np.uint8
    assert np.bincount(test_split.labels).tolist() == [1000] * 10
    assert test_split.filenames[0].startswith("airplane/")


@pytest.mark.skipif(not (SHARED_DATA / "test").is_dir(), reason="needs the ImageFolder copy of CIFAR-10")
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
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    out = augment(x, g, pad=0)  # no padding: only flips possible
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))
    out = augment(x, torch.Generator().manual_seed(1), pad=2)
    assert out.shape == x.shape
    # every crop is a window of the zero-padded image, possibly flipped
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        ok = any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1))
                 for dy in range(5) for dx in range(5) for w in [padded[i, :, dy:dy + 8, dx:dx + 8]])
        assert ok
