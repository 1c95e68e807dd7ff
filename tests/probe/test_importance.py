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


def test_one_pass_gives_the_capture_and_the_gradients_of_any_class(dense_model, test_split):
    from vggexplorer.views.explorer_model import analyze_image, importance_every_block
    from vggexplorer.probe.importance import capture_with_gradients

    image = test_split.images[6000:6001]
    cap, grads_for = capture_with_gradients(dense_model, image)
    ref = capture_activations(dense_model, image)
    for name, t in ref.activations.items():
        assert torch.allclose(cap.activations[name], t, atol=1e-5), name
    assert torch.allclose(cap.logits, ref.logits, atol=1e-5)
    for cls in (3, 6):
        one, two = grads_for(cls), gradient_x_activation(dense_model, image, cls)
        assert all(torch.allclose(one[b], two[b], atol=1e-5) for b in one)
    # the importance of any class, computed on demand from the page's analysis
    an = analyze_image({"dense": dense_model}, image[0])
    top = int(an.probs("dense").argmax())
    fresh = importance_every_block({"dense": dense_model}, an, image[0], (top + 1) % 10)
    again = importance_every_block({"dense": dense_model}, an, image[0], top)
    assert set(fresh) == set(again) == {f"conv{i}" for i in range(8)}
    assert fresh["conv7"][1].startswith("exact") and fresh["conv0"][1].startswith("gradient")


def test_the_analysis_has_the_maps_of_a_gradient_pass_and_importance_equals_one_fused_pass(dense_model, pruned_model,
                                                                                           test_split):
    """The analysis runs without gradients; the importance asked for later equals what one forward pass kept for its
    backward pass gives (``capture_with_gradients``), block by block, and the exact contribution in the last."""
    from vggexplorer.probe.analysis import channel_cosine
    from vggexplorer.views.explorer_model import analyze_image, importance_every_block
    from vggexplorer.probe.importance import capture_with_gradients

    models, image = {"dense": dense_model, "pruned": pruned_model}, test_split.images[6000]
    plain = analyze_image(models, image)
    fused = {r: capture_with_gradients(m, image[None]) for r, m in models.items()}
    for role in models:
        cap = fused[role][0]
        assert torch.equal(plain.probs(role), cap.probs[0])
        for block in ("conv0", "conv7"):
            assert torch.allclose(plain.maps(role, block), cap.block(block), atol=1e-6)
    assert set(plain.cosine) == {f"conv{i}" for i in range(8)}
    assert all(torch.allclose(plain.cosine[b], channel_cosine(fused["dense"][0].block(b), fused["pruned"][0].block(b)),
                              atol=1e-6) for b in plain.cosine)
    top = int(plain.probs("pruned").argmax())
    asked = importance_every_block(models, plain, image, top)  # its own forward and backward pass
    for block, (scores, measure) in asked.items():
        for role in models:
            ref = (last_block_contributions(models[role], fused[role][0].block(block), top).per_channel
                   if block == "conv7" else fused[role][1](top)[block])
            assert measure.startswith("exact" if block == "conv7" else "gradient")
            assert np.allclose(scores[role], ref.numpy(), atol=1e-5), (block, role)
