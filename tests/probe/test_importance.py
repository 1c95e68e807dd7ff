import math

import numpy as np
import pytest
import torch

from vggexplorer.probe.hooks import capture_activations
from vggexplorer.probe.importance import ablation, gradient_x_activation, last_block_contributions

from ..handmade import constant_image, two_channel_model


def test_ablation_on_a_hand_made_model():
    m = two_channel_model()
    x = constant_image(0.8, 0.2, 0.0)  # logits (0.8, 0.2)
    p_red = math.exp(0.8) / (math.exp(0.8) + math.exp(0.2))
    drops = ablation(m, x, "conv0", cls=0)
    # zero channel 0: logits (0, 0.2); zero channel 1: logits (0.8, 0)
    assert drops[0].item() == pytest.approx(p_red - 1 / (1 + math.exp(0.2)), abs=1e-6)
    assert drops[1].item() == pytest.approx(p_red - math.exp(0.8) / (math.exp(0.8) + 1), abs=1e-6)
    assert drops[1] < 0  # removing the rival's evidence raises p(red)


def test_contributions_and_gradient_x_activation_on_a_hand_made_model():
    m = two_channel_model()
    x = constant_image(0.8, 0.2, 0.0)
    cap = capture_activations(m, x)
    c = last_block_contributions(m, cap.block("conv0"), cls=0)
    assert c.per_channel.tolist() == pytest.approx([0.8, 0.0])
    assert c.bias == 0.0 and c.logit == pytest.approx(0.8)
    gxa = gradient_x_activation(m, x, cls=0)
    # maxpool routes dlogit/dpooled = 1/4 to one element per window; 4 windows x 1/4 x 0.8 = 0.8
    assert gxa["conv0"].tolist() == pytest.approx([0.8, 0.0])


@pytest.mark.parametrize("which", ["dense_model", "pruned_model"])
def test_exact_conv7_decomposition_on_shipped_models(which, request, test_split):
    m = request.getfixturevalue(which)
    for idx in (0, 4321, 9999):
        cap = capture_activations(m, test_split.images[idx:idx + 1])
        for cls in range(10):
            c = last_block_contributions(m, cap.block("conv7"), cls)
            assert c.per_channel.shape == (512,)
            # the parts add up to the model's own logit
            assert float(c.per_channel.double().sum()) + c.bias == pytest.approx(float(cap.logits[0, cls]), abs=1e-4)


def test_gradient_x_activation_leaves_shared_model_unchanged(dense_model, test_split):
    before = {k: v.clone() for k, v in dense_model.state_dict().items()}
    g = gradient_x_activation(dense_model, test_split.images[:1], cls=3)
    assert list(g) == [f"conv{i}" for i in range(8)] and g["conv5"].shape == (512,)
    assert all(p.grad is None for p in dense_model.parameters())
    assert not dense_model.training
    for k, v in dense_model.state_dict().items():
        assert torch.equal(v, before[k])
    assert sum(len(mod._forward_hooks) for mod in dense_model.modules()) == 0


# Worked by hand for tests/handmade.two_block_model(red) on a constant image (r, g, b) = (0.8, 0.2, 0.3):
# a0 = (r, g, 0), a1 = red*r - g + 0.5; logits (3*a1 + 0.1, -a1). The head sees mean(maxpool(a1)): each of the
# pooled cells gets d/dcell = 1/cells and routes it to one position of its window, so for a class whose head weight
# is v, sum_p dlogit/da1(p) * a1(p) = v * a1; a0's channel c reaches a1 through its centre tap u_c only, so its
# gradient x activation is u_c * v * a0_c (u = (red, -1, 5); channel 2 never fires, so its share is 0 though its
# gradient is not).
R, G = 0.8, 0.2


def _by_hand(red: float, cls: int) -> dict[str, list[float]]:
    v = (3.0, -1.0)[cls]
    a1 = red * R - G + 0.5
    return {"conv0": [red * v * R, -1.0 * v * G, 0.0], "conv1": [v * a1]}


@pytest.mark.parametrize("red", [2.0, 1.0])
@pytest.mark.parametrize("cls", [0, 1])
def test_gradient_x_activation_on_a_hand_made_two_block_model(red, cls):
    from ..handmade import two_block_model

    m = two_block_model(red)
    g = gradient_x_activation(m, constant_image(R, G, 0.3), cls)
    assert list(g) == ["conv0", "conv1"]
    for block, want in _by_hand(red, cls).items():
        assert g[block].tolist() == pytest.approx(want, abs=1e-6), (block, red, cls)
    # e.g. red = 2, class 0: a1 = 1.9, conv1 -> 5.7, conv0 -> (4.8, -0.6, 0); the logit is 5.8, not a sum of these
    if (red, cls) == (2.0, 0):
        assert g["conv1"].tolist() == pytest.approx([5.7]) and g["conv0"].tolist() == pytest.approx([4.8, -0.6, 0.0])
        c = last_block_contributions(m, capture_activations(m, constant_image(R, G, 0.3)).block("conv1"), cls=0)
        assert c.per_channel.tolist() == pytest.approx([5.7]) and c.bias == pytest.approx(0.1)
        assert c.logit == pytest.approx(5.8)


def test_importance_of_every_block_on_hand_made_models():
    """The page's importance: gradient x activation for the first blocks, the exact contribution for the last, of
    each model under its own role, for the class asked for."""
    from vggexplorer.views.explorer_model import analyze_image, importance_every_block

    from ..handmade import two_block_model

    models = {"dense": two_block_model(2.0), "pruned": two_block_model(1.0)}
    image = np.empty((32, 32, 3), np.uint8)
    image[...] = (204, 51, 77)  # (0.8, 0.2, 0.302) after ToTensor's / 255
    an = analyze_image(models, image)
    assert torch.allclose(an.maps("dense", "conv0")[:, 0, 0], torch.tensor([R, G, 0.0]))
    assert an.probs("dense").argmax() == 0 and an.probs("pruned").argmax() == 0  # logits (5.8, -1.9), (3.4, -1.1)
    for cls in (0, 1):
        got = importance_every_block(models, an, image, cls)
        assert set(got) == {"conv0", "conv1"}
        assert got["conv0"][1].startswith("gradient") and got["conv1"][1].startswith("exact")
        for role, red in (("dense", 2.0), ("pruned", 1.0)):
            want = _by_hand(red, cls)
            for block in got:
                assert got[block][0][role].tolist() == pytest.approx(want[block], abs=1e-5), (cls, role, block)
