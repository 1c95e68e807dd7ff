import pytest
import torch
from torch import nn

from vggexplorer.training.prune import apply_masks, choose_sparsities, magnitude_mask, prune_model, sensitivity_scan


def test_magnitude_mask_exact_on_hand_made_tensor():
    w = torch.tensor([[0.5, -0.1, 0.3], [-0.9, 0.2, -0.05]])
    mask, thr = magnitude_mask(w, 0.5)  # 3 of 6 zeroed: |-0.05|, |-0.1|, |0.2|
    assert thr == pytest.approx(0.2)
    assert mask.tolist() == [[True, False, True], [True, False, False]]
    mask0, _ = magnitude_mask(w, 0.0)
    assert mask0.all()


@pytest.mark.parametrize("sparsity", [0.1, 0.25, 0.5, 0.73, 0.9])
def test_magnitude_mask_gives_exact_sparsity(sparsity):
    torch.manual_seed(0)
    w = torch.randn(64, 32, 3, 3)  # distinct values, so no ties
    mask, _ = magnitude_mask(w, sparsity)
    assert int((~mask).sum()) == round(w.numel() * sparsity)


def _tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


def test_masks_survive_a_fine_tuning_step():
    m = _tiny()
    masks, _ = prune_model(m, {"0.weight": 0.5, "3.weight": 0.75})
    opt = torch.optim.SGD(m.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-3)
    for _ in range(3):
        loss = nn.functional.cross_entropy(m(torch.randn(8, 3, 4, 4)), torch.randint(0, 3, (8,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        # without the re-application, momentum and weight decay move pruned weights off zero
        apply_masks(m, masks)
    assert int((m[0].weight == 0).sum()) == round(m[0].weight.numel() * 0.5)
    assert int((m[3].weight == 0).sum()) == round(m[3].weight.numel() * 0.75)
    assert torch.equal(m[0].weight != 0, masks["0.weight"])


def test_sensitivity_scan_restores_each_layer():
    m = _tiny()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    seen = []

    def fake_eval(model):
        seen.append(float((model[0].weight == 0).float().mean() + (model[3].weight == 0).float().mean()))
        return 1.0 - seen[-1]

    curves = sensitivity_scan(m, fake_eval, [0.25, 0.5])
    assert list(curves) == ["0.weight", "3.weight"]
    assert curves["0.weight"] == pytest.approx([0.75, 0.5], abs=0.03)
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_choose_sparsities_prefers_insensitive_large_layers():
    scan = [0.5, 0.9]
    # "big" loses nothing up to 0.9; "small" collapses at once
    curves = {"big": [0.90, 0.90], "small": [0.50, 0.10]}
    sizes = {"big": 900, "small": 100}
    chosen, delta = choose_sparsities(curves, scan, sizes, base_acc=0.90, target=0.8)
    assert chosen["small"] == 0.0
    assert sum(chosen[n] * sizes[n] for n in sizes) / 1000 >= 0.8
    assert delta < 0.01
    with pytest.raises(ValueError):
        choose_sparsities(curves, scan, sizes, base_acc=0.90, target=0.99)


def test_choose_sparsities_never_goes_below_the_floor():
    curves = {"big": [0.90, 0.90], "small": [0.50, 0.10]}
    sizes = {"big": 900, "small": 100}
    chosen, _ = choose_sparsities(curves, [0.5, 0.9], sizes, 0.90, target=0.8, floor={"small": 0.42, "big": 0.3})
    assert chosen["small"] == 0.42  # its zeros from the rung below stay zero
    assert sum(chosen[n] * sizes[n] for n in sizes) / 1000 >= 0.8


def test_zero_fraction_on_a_hand_made_model():
    from vggexplorer.model.vgg import zero_fraction

    m = _tiny()  # conv 4x3x3x3 = 108 weights, linear 3x64 = 192; biases do not count
    with torch.no_grad():
        m[0].weight.view(-1)[:27] = 0
        m[3].weight.view(-1)[:48] = 0
        m[3].bias.zero_()
    assert zero_fraction(m) == pytest.approx((27 + 48) / 300)


# ---- the ladder: two rungs of a real pipeline run on a few random images -----------------------

def _ladder_setup(tmp_path):
    import numpy as np

    from vggexplorer.model.checkpoint import save_checkpoint
    from vggexplorer.data.cifar10 import Split
    from vggexplorer.model.vgg import VGG

    torch.manual_seed(0)
    dense = VGG().eval()
    dense.meta = {}
    save_checkpoint(tmp_path / "dense.pt", dense, {"role": "dense", "normalization": None,
                                                   "recipe": {"holdout": 40, "seed": 0}}, half=True)
    rng = np.random.default_rng(0)
    split = Split(rng.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8), np.repeat(np.arange(10), 20),
                  [f"{i}.png" for i in range(200)])
    return split


def _cfg(target, **kw):
    from vggexplorer.training.prune import PruneConfig

    base = dict(target_sparsity=target, scan_sparsities=[0.5, 0.9], scan_images=20, finetune_epochs=2,
                batch_size=16, precision="fp32", device="cpu", max_steps_per_epoch=2, max_layer_sparsity=0.99,
                distill_from=None, distill_weight=0.0)
    base.update(kw)
    return PruneConfig(**base)


def test_ladder_masks_are_nested_across_two_rungs(tmp_path):
    from vggexplorer import load_model
    from vggexplorer.model.vgg import prunable_parameters, zero_fraction
    from vggexplorer.training.prune import nested, prune_pipeline

    split = _ladder_setup(tmp_path)
    prune_pipeline(_cfg(0.5), tmp_path / "dense.pt", split, tmp_path / "r1", tmp_path / "p50.pt", progress=False)
    meta = prune_pipeline(_cfg(0.8, distill_from=str(tmp_path / "dense.pt"), distill_weight=0.5),
                          tmp_path / "p50.pt", split, tmp_path / "r2", tmp_path / "p80.pt", progress=False)
    low, high = load_model(tmp_path / "p50.pt"), load_model(tmp_path / "p80.pt")
    assert zero_fraction(low) == pytest.approx(0.5, abs=0.01)
    assert 0.8 <= zero_fraction(high) < 0.82  # at least the target; a 0.01 step of one layer may overshoot
    pl, ph = prunable_parameters(low), prunable_parameters(high)
    assert nested(pl, ph) == []
    for n in pl:  # every zero of the lower rung is a zero of the higher one, layer by layer
        assert bool(((pl[n] == 0) <= (ph[n] == 0)).all()), n
    assert meta["recipe"]["source_checkpoint"] == str(tmp_path / "p50.pt")
    assert meta["recipe"]["dense_checkpoint"] == str(tmp_path / "dense.pt")
    assert meta["pruning"]["source_sparsity_per_layer"]  # the floors it respected
    # and the check itself can fail: a weight revived at the higher rung is reported
    revived = {n: p.clone() for n, p in ph.items()}
    name = next(n for n in pl if bool((pl[n] == 0).any()))
    revived[name].view(-1)[int(torch.nonzero(pl[name].view(-1) == 0)[0])] = 1.0
    assert nested(pl, revived) == [name]


def test_a_ladder_step_resumes_where_it_stopped(tmp_path):
    from vggexplorer import load_model
    from vggexplorer.errors import ConfigError
    from vggexplorer.training.prune import prune_pipeline

    split = _ladder_setup(tmp_path)
    prune_pipeline(_cfg(0.5), tmp_path / "dense.pt", split, tmp_path / "r1", tmp_path / "p50.pt", progress=False)
    cfg = _cfg(0.8)
    # the uninterrupted run
    whole = prune_pipeline(cfg, tmp_path / "p50.pt", split, tmp_path / "a", tmp_path / "a.pt", progress=False)

    # the same run, stopped right after its first fine-tuning epoch was saved, then resumed
    class Stop(Exception):
        pass

    def stop(rec):
        raise Stop

    with pytest.raises(Stop):
        prune_pipeline(cfg, tmp_path / "p50.pt", split, tmp_path / "b", tmp_path / "b.pt", progress=False,
                       on_epoch=stop)
    assert (tmp_path / "b" / "finetune_state.pt").exists() and not (tmp_path / "b.pt").exists()
    saved = torch.load(tmp_path / "b" / "finetune_state.pt", weights_only=True)
    assert saved["epoch"] == 1 and saved["config"]["finetune_lr"] == 0.01
    with pytest.raises(ConfigError, match=r"another config: finetune_lr \(saved 0\.01, now 0\.5\)\. Use a new"):
        prune_pipeline(_cfg(0.8, finetune_lr=0.5), tmp_path / "p50.pt", split, tmp_path / "b",
                       tmp_path / "b.pt", resume=True, progress=False)
    ran = []
    resumed = prune_pipeline(cfg, tmp_path / "p50.pt", split, tmp_path / "b", tmp_path / "b.pt",
                             resume=True, progress=False, on_epoch=lambda rec: ran.append(rec["epoch"]))
    assert ran == [2]  # epoch 1 was not run again
    assert [h["epoch"] for h in resumed["history"]] == [1, 2] and resumed["history"][0] == saved["history"][0]

    def untimed(history):
        return [{k: v for k, v in h.items() if k not in ("epoch_s", "images_per_s")} for h in history]

    assert untimed(resumed["history"]) == untimed(whole["history"])  # epoch 1 from the state, epoch 2 recomputed
    a, b = load_model(tmp_path / "a.pt").state_dict(), load_model(tmp_path / "b.pt").state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
