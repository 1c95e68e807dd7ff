import numpy as np
import pytest
import torch

from vggexplorer.activations import capture_activations
from vggexplorer.scan import ScanError, check_scan_matches, load_scan, save_scan, scan_models

from .conftest import DENSE, PRUNED, SCAN


def _rand_model(seed):
    from .test_activations import _model

    return _model(seed)


def test_scan_equals_brute_force_on_a_small_slice(tmp_path, test_split):
    small = test_split.subset(np.arange(0, 10000, 250))  # 40 images
    models = {"dense": _rand_model(0), "pruned": _rand_model(1)}
    res = scan_models(models, small, batch_size=16, k=3, progress=False)
    caps = {r: capture_activations(m, small.images) for r, m in models.items()}
    for r in models:
        for b, a in caps[r].activations.items():
            means = a.flatten(2).mean(2)  # [N, C]
            np.testing.assert_allclose(res.stat(r, b, "mean"), means.mean(0).numpy(), rtol=1e-4, atol=1e-6)
            np.testing.assert_array_equal(res.stat(r, b, "fire_fraction"), (a.flatten(2).amax(2) > 0).float().mean(0).numpy())
            np.testing.assert_array_equal(res.stat(r, b, "max"), a.amax((0, 2, 3)).numpy())
            top = torch.sort(means.t(), dim=1, descending=True, stable=True)
            np.testing.assert_array_equal(res.stat(r, b, "topk_index"), top.indices[:, :3].numpy())
    for b in caps["dense"].activations:
        md = caps["dense"].activations[b].mean((2, 3)).double().numpy()  # [N, C]
        mp = caps["pruned"].activations[b].mean((2, 3)).double().numpy()
        for c in range(0, md.shape[1], 7):
            x, y = md[:, c], mp[:, c]
            if x.std() == 0 or y.std() == 0:
                continue
            assert res.pair[b]["correlation"][c] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=2e-4)
    path = save_scan(res, tmp_path / "s.npz")
    back = load_scan(path)
    np.testing.assert_array_equal(back.stat("pruned", "conv4", "topk_index"), res.stat("pruned", "conv4", "topk_index"))


def test_scan_file_errors_name_the_command(tmp_path):
    with pytest.raises(ScanError, match="vggexplorer scan"):
        load_scan(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(ScanError, match="not an .npz archive.*vggexplorer scan"):
        load_scan(tmp_path / "bad.npz")
    np.savez(tmp_path / "bad.npz", other=np.zeros(3))
    with pytest.raises(ScanError, match="damaged.*vggexplorer scan"):
        load_scan(tmp_path / "bad.npz")


def test_shipped_scan_matches_a_recomputation(dense_model, pruned_model, test_split):
    scan = load_scan(SCAN)
    assert scan.meta["n_images"] == 10000 and scan.meta["k"] >= 9
    assert check_scan_matches(scan, {"dense": DENSE, "pruned": PRUNED}) == []
    models = {"dense": dense_model, "pruned": pruned_model}
    rng = np.random.default_rng(0)
    for role, m in models.items():
        for b in ("conv0", "conv4", "conv7"):
            idx = scan.stat(role, b, "topk_index")  # [C, k]
            vals = scan.stat(role, b, "topk_value")
            chans = rng.choice(idx.shape[0], 4, replace=False)
            for c in chans:
                cap = capture_activations(m, test_split.images[idx[c]])
                means = cap.activations[b][:, c].flatten(1).mean(1)
                np.testing.assert_allclose(vals[c], means.numpy(), rtol=1e-4, atol=1e-6)
            # no image of a random slice that is not among a channel's top k beats its k-th best
            sl = rng.choice(10000, 64, replace=False)
            cap = capture_activations(m, test_split.images[sl])
            means = cap.activations[b].flatten(2).mean(2).numpy()  # [64, C]
            outside = ~(sl[:, None, None] == idx[None]).any(2)  # [64, C]: image not in that channel's top k
            assert (np.where(outside, means, -1.0).max(0) <= vals[:, -1] + 1e-5).all()
            assert (cap.activations[b].amax((0, 2, 3)).numpy() <= scan.stat(role, b, "max") + 1e-5).all()


def test_pearson_edge_cases():
    from vggexplorer.scan import pearson_from_moments

    def moments(a, b):
        a, b = torch.tensor(a, dtype=torch.float64).view(-1, 1), torch.tensor(b, dtype=torch.float64).view(-1, 1)
        return {"a": a.sum(0), "b": b.sum(0), "aa": (a * a).sum(0), "bb": (b * b).sum(0), "ab": (a * b).sum(0)}

    assert pearson_from_moments(moments([1, 2, 3], [2, 4, 6]), 3).item() == pytest.approx(1.0)
    assert pearson_from_moments(moments([1, 2, 3], [3, 2, 1]), 3).item() == pytest.approx(-1.0)
    assert pearson_from_moments(moments([0, 0, 0], [0, 0, 0]), 3).item() == 1.0  # both dead: same behaviour
    assert pearson_from_moments(moments([0, 0, 0], [1, 2, 0]), 3).item() == 0.0  # died with pruning
