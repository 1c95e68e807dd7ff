"""Feature visualisation on a hand-made edge detector: the render beats hand-drawn patterns and shows the edge.

The model has one conv block of 3 filters on ToTensor() inputs, BN the identity (eps 0):
  filter 0: -1 / +1 on the left / right column of the red taps: a vertical edge detector, 3 * (R[x+1] - R[x-1])
            summed over 3 rows (fewer at the zero-padded border);
  filter 1: all weights zero, BN bias 0.5: weight-dead, a constant 0.5;
  filter 2: -1 on every tap of every colour: inputs are >= 0, so it never fires.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vggexplorer.model.vgg import VGG
from vggexplorer.probe import featurevis as fv
from vggexplorer.probe.hooks import capture_activations

from ..handmade import two_block_model

FAST = fv.Settings(steps=48, pre_relu_steps=8)
EDGE = fv.Settings(steps=128, pre_relu_steps=16)  # about 0.1 s on this model


def _edge_filters() -> torch.Tensor:
    w = torch.zeros(3, 3, 3, 3)
    w[0, 0, :, 0], w[0, 0, :, 2] = -1.0, 1.0
    w[2] = -1.0
    return w


def edge_model(cfg: list | None = None, num_classes: int = 2) -> VGG:
    """The model above; with ``cfg`` a bigger VGG whose first block is that one (the rest left random)."""
    m = VGG(cfg=cfg or [3, "M"], num_classes=num_classes)
    with torch.no_grad():
        conv, bn = m.backbone.conv0, m.backbone.bn0
        conv.weight.zero_()
        conv.weight[:3].copy_(_edge_filters())
        bn.eps = 0.0
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        bn.weight.fill_(1.0)
        bn.bias.zero_()
        bn.bias[1] = 0.5
    m.meta = {"normalization": None, "classes": [str(i) for i in range(num_classes)]}
    return m.eval()


def edge_response(rgb_u8: np.ndarray, pad: float = 0.0) -> float:
    """Filter 0's mean post-ReLU response worked out with numpy: 3 rows of taps, the border padded with ``pad``
    (the conv pads its input with 0: on a normalised input that is the raw value ``mean``)."""
    r = np.pad(rgb_u8[..., 0].astype(np.float64) / 255, 1, constant_values=pad)
    diff = r[:, 2:] - r[:, :-2]  # R[x+1] - R[x-1], [H+2, W]
    resp = diff[:-2] + diff[1:-1] + diff[2:]  # the three rows
    return float(np.maximum(resp, 0).mean())


def _image(red: np.ndarray) -> np.ndarray:
    out = np.zeros((32, 32, 3), np.uint8)
    out[..., 0] = np.round(red * 255)
    return out


cols = np.arange(32)[None, :].repeat(32, 0)
PATTERNS = {
    "uniform red": _image(np.ones((32, 32))),
    "one vertical edge": _image((cols >= 16).astype(float)),
    "red ramp": _image(cols / 31),
    "horizontal stripes": _image((cols.T // 4 % 2).astype(float)),
    "vertical stripes, period 8": _image((cols // 4 % 2).astype(float)),
}


def test_edge_response_by_hand():
    # one edge between columns 15 and 16: columns 15 and 16 respond 3 (2 on the top and bottom rows): 2 * 94 / 1024
    assert edge_response(PATTERNS["one vertical edge"]) == pytest.approx(188 / 1024)
    assert edge_response(PATTERNS["vertical stripes, period 8"]) == pytest.approx(8 * 94 / 1024)
    # uniform red: only column 0 responds (its left neighbour is the zero padding): 94 / 1024
    assert edge_response(PATTERNS["uniform red"]) == pytest.approx(94 / 1024)
    assert edge_response(np.zeros((32, 32, 3), np.uint8)) == 0


def test_the_render_maximises_the_edge_channel_and_shows_a_vertical_red_edge():
    m = edge_model()
    (r,) = fv.render_channels(m, "conv0", [0], EDGE, seed=0)
    assert r.dead is None and r.image.shape == (32, 32, 3) and r.image.dtype == np.uint8
    assert r.activation == pytest.approx(edge_response(r.image), rel=1e-5)  # the reported value is the image's
    assert r.activation > max(edge_response(p) for p in PATTERNS.values())  # the best is period-8 stripes, 0.734
    assert r.activation <= 1.5  # the bound: columns x and x + 2 cannot both respond 3 (R[x+1] would be 1 and 0)
    red = r.image[..., 0].astype(float)
    left_right = np.abs(np.diff(red, axis=1)).mean()
    up_down = np.abs(np.diff(red, axis=0)).mean()
    assert left_right > 1.5 * up_down  # vertical structure: the rotations (+-10 degrees) keep it from being pure


def test_dead_channels_are_reported_not_rendered():
    m = edge_model()
    wd, ad = fv.render_channels(m, "conv0", [1, 2], FAST, seed=0)
    assert (wd.dead, wd.image, wd.activation, wd.steps) == (fv.WEIGHT_DEAD, None, pytest.approx(0.5), 0)
    assert "zero" in wd.reason
    assert (ad.dead, ad.image, ad.activation) == (fv.ACTIVATION_DEAD, None, 0.0)
    assert "never opens" in ad.reason
    assert fv.weight_dead(m, "conv0").tolist() == [False, True, False]


def test_the_dead_words_are_the_status_modules():
    from vggexplorer.stats import status

    assert (fv.WEIGHT_DEAD, fv.ACTIVATION_DEAD) == (status.WEIGHT_DEAD, status.ACTIVATION_DEAD)


def test_same_seed_same_render_whatever_the_batch_and_the_model():
    m = edge_model()
    a, _ = fv.render_channels(m, "conv0", [0, 2], FAST, seed=3)
    (b,) = fv.render_channels(m, "conv0", [0], FAST, seed=3)
    (c,) = fv.render_channels(m, "conv0", [0], FAST, seed=4)
    assert np.array_equal(a.image, b.image) and a.activation == b.activation
    assert not np.array_equal(a.image, c.image)
    # the start depends on (seed, channel) only: with no steps, two different models start from the same image
    other = edge_model()
    with torch.no_grad():
        other.backbone.conv0.weight[0] *= 2
    start = fv.Settings(steps=0, pre_relu_steps=0)
    (s1,) = fv.render_channels(m, "conv0", [0], start, seed=3)
    (s2,) = fv.render_channels(other, "conv0", [0], start, seed=3)
    assert np.array_equal(s1.image, s2.image) and s2.activation == pytest.approx(2 * s1.activation, rel=1e-5)


def test_the_render_leaves_the_shared_model_untouched():
    m = edge_model()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    fv.render_channels(m, "conv0", [0], fv.Settings(steps=4, pre_relu_steps=2))
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert all(p.grad is None for p in m.parameters()) and not m.training
    assert all(not mod._forward_hooks for mod in m.modules())


def test_the_truncated_forward_equals_the_full_models_block_output():
    m = two_block_model()
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    cap = capture_activations(m, x)
    for block in ("conv0", "conv1"):
        layers = fv.truncated(m, block)
        assert layers[-1] is getattr(m.backbone, "bn" + block[4:])  # up to the BN, the ReLU left out
        with torch.no_grad():
            got = torch.relu(fv.pre_relu(layers, x.clone()))
        assert torch.allclose(got, cap.activations[block], atol=1e-6)
    with pytest.raises(ValueError, match="unknown block"):
        fv.truncated(m, "conv9")


def test_the_input_normalization_is_applied_and_the_image_returned_is_before_it():
    m = edge_model()
    m.meta["normalization"] = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    (r,) = fv.render_channels(m, "conv0", [0], fv.Settings(steps=8, pre_relu_steps=2))
    # (x - 0.5) / 0.25: the edge filter's differences are 4x those on the raw image (the conv's zero padding is
    # the raw value 0.5)
    assert r.activation == pytest.approx(4 * edge_response(r.image, pad=0.5), rel=1e-5)


def test_best_test_activation_on_hand_made_images():
    m = edge_model()
    imgs = np.stack([PATTERNS["uniform red"], PATTERNS["vertical stripes, period 8"], PATTERNS["one vertical edge"]])
    best, where = fv.best_test_activation(m, "conv0", [0, 2], imgs, batch=2)
    assert best.tolist() == pytest.approx([8 * 94 / 1024, 0.0]) and where.tolist() == [1, 0]


def test_bad_channels_and_a_training_model_are_refused():
    m = edge_model()
    with pytest.raises(ValueError, match="channels 0..2"):
        fv.render_channels(m, "conv0", [3], FAST)
    m.train()
    with pytest.raises(ValueError, match="training mode"):
        fv.render_channels(m, "conv0", [0], FAST)


def test_the_colour_matrix_is_a_normalised_square_root_of_a_covariance():
    cov = fv.COLOUR_SQRT @ fv.COLOUR_SQRT.T  # symmetric, positive definite, strongly correlated (natural images)
    assert np.allclose(cov, cov.T) and np.all(np.linalg.eigvalsh(cov) > 0)
    assert np.linalg.norm(fv.COLOUR_SQRT, axis=0).max() == pytest.approx(1.0, abs=1e-3)
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert corr[0, 1] > 0.8 and corr[1, 2] > 0.8
