"""Tiny models whose right answers can be worked out on paper."""

import torch

from vggexplorer.model.vgg import VGG


def _identity_bn(bn: torch.nn.BatchNorm2d, bias: list[float]) -> None:
    """BN that only adds ``bias``: mean 0, variance 1, eps 0, scale 1 (so the answers stay exact)."""
    bn.eps = 0.0
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0)
    bn.weight.fill_(1.0)
    bn.bias.copy_(torch.tensor(bias))


def four_filter_model() -> VGG:
    """One conv block of 4 filters on ToTensor() inputs (no normalization), BN the identity (eps = 0).

    filter 0: all weights zero, BN bias 0   -> weight-dead AND activation-dead (always 0)
    filter 1: +1 on the red centre tap      -> fires wherever red > 0
    filter 2: -1 on every tap of every colour -> inputs are >= 0, so never fires: activation-dead only
    filter 3: all weights zero, BN bias 0.5 -> weight-dead but NOT activation-dead (constant 0.5)
    classifier: 2 classes, logit0 = pooled1, logit1 = pooled3
    """
    m = VGG(cfg=[4, "M"], num_classes=2)
    with torch.no_grad():
        w = torch.zeros(4, 3, 3, 3)
        w[1, 0, 1, 1] = 1.0
        w[2] = -1.0
        m.backbone.conv0.weight.copy_(w)
        _identity_bn(m.backbone.bn0, [0.0, 0.0, 0.0, 0.5])
        m.classifier.weight.copy_(torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]))
        m.classifier.bias.zero_()
    m.meta = {"normalization": None, "classes": ["red", "other"]}
    return m.eval()


def two_channel_model() -> VGG:
    """One block, filter 0 = red centre tap, filter 1 = green centre tap; logits = (pooled0, pooled1).

    On a constant image (r, g, b) every map is constant, so pooled = (r, g) and logits = (r, g).
    """
    m = VGG(cfg=[2, "M"], num_classes=2)
    with torch.no_grad():
        w = torch.zeros(2, 3, 3, 3)
        w[0, 0, 1, 1] = 1.0
        w[1, 1, 1, 1] = 1.0
        m.backbone.conv0.weight.copy_(w)
        _identity_bn(m.backbone.bn0, [0.0, 0.0])
        m.classifier.weight.copy_(torch.eye(2))
        m.classifier.bias.zero_()
    m.meta = {"normalization": None, "classes": ["red", "green"]}
    return m.eval()


def two_block_model(red: float = 2.0) -> VGG:
    """Two blocks, a bias and negative weights, so that gradient x activation is not just the logit.

    conv0: filter 0 = red centre tap, filter 1 = green centre tap, filter 2 = -1 on the blue centre tap
    (inputs are >= 0: it never fires); BN the identity. On a constant image (r, g, b): a0 = (r, g, 0).
    conv1: one filter, centre taps (``red``, -1, 5) on conv0's channels, BN bias 0.5: a1 = red*r - g + 0.5.
    pool0 (2x2 max), the global mean, then logits = (3 * a1 + 0.1, -a1).
    The ReLUs pass everything that reaches them here (a1 > 0) except conv0's filter 2.
    """
    m = VGG(cfg=[3, 1, "M"], num_classes=2)
    with torch.no_grad():
        w0 = torch.zeros(3, 3, 3, 3)
        w0[0, 0, 1, 1], w0[1, 1, 1, 1], w0[2, 2, 1, 1] = 1.0, 1.0, -1.0
        m.backbone.conv0.weight.copy_(w0)
        _identity_bn(m.backbone.bn0, [0.0, 0.0, 0.0])
        w1 = torch.zeros(1, 3, 3, 3)
        w1[0, :, 1, 1] = torch.tensor([red, -1.0, 5.0])
        m.backbone.conv1.weight.copy_(w1)
        _identity_bn(m.backbone.bn1, [0.5])
        m.classifier.weight.copy_(torch.tensor([[3.0], [-1.0]]))
        m.classifier.bias.copy_(torch.tensor([0.1, 0.0]))
    m.meta = {"normalization": None, "classes": ["up", "down"]}
    return m.eval()


def constant_image(r: float, g: float, b: float, size: int = 4) -> torch.Tensor:
    """A preprocessed ``[1, 3, size, size]`` input with constant channels."""
    return torch.tensor([r, g, b]).view(1, 3, 1, 1).expand(1, 3, size, size).clone()
