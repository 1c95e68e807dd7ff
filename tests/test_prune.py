import pytest
import torch
from torch import nn

from vggexplorer.prune import apply_masks, choose_sparsities, magnitude_mask, prune_model, sensitivity_scan


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
