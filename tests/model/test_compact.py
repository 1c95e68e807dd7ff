import numpy as np
import pytest
import torch

from vggexplorer.probe.hooks import block_output, capture_activations
from vggexplorer.stats.status import filter_sparsity, weight_dead
from vggexplorer import load_model
from vggexplorer.model.checkpoint import save_checkpoint
from vggexplorer.model.compact import PackedConv2d, load_compact

from ..probe.test_hooks import _model


def _pruned(seed: int = 0):
    """A random VGG whose conv layers are 0%, 50%, 80% and 97% zero in turn (by magnitude)."""
    m = _model(seed)
    with torch.no_grad():
        for name, mod in m.backbone.named_children():
            if isinstance(mod, torch.nn.Conv2d):
                frac = (0.0, 0.5, 0.8, 0.97)[int(name[4:]) % 4]
                w = mod.weight
                if frac:
                    k = int(frac * w.numel())
                    w[w.abs() <= w.abs().flatten().kthvalue(k).values] = 0
                if name == "conv5":
                    w[3] = 0  # a weight-dead filter
    return m


def nbytes(model: torch.nn.Module) -> int:
    """Bytes held by the model's parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def _saved(tmp_path, seed: int):
    """``_pruned(seed)`` written as a packed checkpoint, and that file loaded in full."""
    m = _pruned(seed)
    path = tmp_path / f"p{seed}.pt"
    save_checkpoint(path, m, {"normalization": m.meta["normalization"]}, sparse=True)
    return path, load_model(path)


def test_compact_model_is_the_same_model_in_less_memory(tmp_path):
    path, m = _saved(tmp_path, 0)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    c = load_compact(path)
    packed = [n for n, mod in c.backbone.named_children() if isinstance(mod, PackedConv2d)]
    # layers at most 25% non-zero are packed; the denser ones stay as they are
    assert packed == [n for n, mod in m.backbone.named_children()
                      if isinstance(mod, torch.nn.Conv2d) and (mod.weight != 0).float().mean() <= 0.25]
    assert packed == ["conv2", "conv3", "conv6", "conv7"]
    assert nbytes(c) < 0.75 * nbytes(m)
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    a, b = capture_activations(m, x), capture_activations(c, x)
    assert torch.equal(a.logits, b.logits)
    for blk in a.activations:
        assert torch.equal(a.activations[blk], b.activations[blk]), blk
        assert torch.equal(block_output(c, x, blk), a.activations[blk]), blk
    for name in packed:
        assert torch.equal(c.backbone.get_submodule(name).weight, m.backbone.get_submodule(name).weight)
    for got, want in ((weight_dead(c), weight_dead(m)), (filter_sparsity(c), filter_sparsity(m))):
        assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in got)
    assert weight_dead(c)["conv5"][3]
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in before.items())  # the full model is not touched
    assert not c.training and c.meta == m.meta and c.meta["normalization"] == m.meta["normalization"]


def test_packing_everything_and_nothing(tmp_path):
    path, m = _saved(tmp_path, 1)
    every = load_compact(path, max_density=1.0)
    assert all(isinstance(mod, PackedConv2d) for mod in every.backbone.children() if isinstance(mod, torch.nn.Conv2d))
    assert nbytes(load_compact(path, max_density=0.0)) == nbytes(m)
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(every(x), m(x))
    before = every.backbone.conv0.weight.clone()
    # packed weights are read-only: ``weight`` is a property, so nn.Module refuses to register a parameter by that name
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        every.backbone.conv0.weight = torch.nn.Parameter(torch.zeros(1))
    assert torch.equal(every.backbone.conv0.weight, before) and "weight" not in every.backbone.conv0._parameters


def test_counts_and_sparsity_read_packed_layers_too(tmp_path):
    from vggexplorer.model.vgg import (count_nonzero_params, layer_sparsity, prunable_parameters, prunable_weights,
                                       zero_fraction)

    path, m = _saved(tmp_path, 2)
    c = load_compact(path)
    assert prunable_weights(m).keys() == prunable_parameters(m).keys() == prunable_weights(c).keys()
    assert count_nonzero_params(c) == count_nonzero_params(m) == sum(int((p != 0).sum()) for p in m.parameters())
    assert zero_fraction(c) == zero_fraction(m) > 0.5
    assert layer_sparsity(c) == layer_sparsity(m)
