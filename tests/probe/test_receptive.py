"""Receptive fields worked out on paper, checked against the gradient of a unit, and crops at a channel's peak."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vggexplorer.model.vgg import VGG
from vggexplorer.probe.receptive import OUTSIDE, crop, field_crops, peaks, receptive_field

from ..handmade import four_filter_model

# By hand, layer by layer (a 3x3 conv adds 2 units of the current spacing on each axis; a 2x2 pool adds 1 and
# doubles the spacing; pixel i spans [i - 0.5, i + 0.5]):
#   conv0: 3 px (pixels i-1..i+1), spacing 1, unit 0 centred on pixel 0
#   conv1: 3 + 2 = 5, spacing 1
#   pool0: 5 + 1 = 6, spacing 2, unit 0 centred between pixels 0 and 1 (0.5)
#   conv2: 6 + 2*2 = 10; conv3: 10 + 4 = 14
#   pool1: 14 + 2 = 16, spacing 4, centre 0.5 + 0.5*2 = 1.5
#   conv4: 16 + 2*4 = 24; conv5: 24 + 8 = 32
#   pool2: 32 + 4 = 36, spacing 8, centre 1.5 + 0.5*4 = 3.5
#   conv6: 36 + 2*8 = 52; conv7: 52 + 16 = 68
PAPER = {"conv0": (3, 1, 0.0), "conv1": (5, 1, 0.0), "conv2": (10, 2, 0.5), "conv3": (14, 2, 0.5),
         "conv4": (24, 4, 1.5), "conv5": (32, 4, 1.5), "conv6": (52, 8, 3.5), "conv7": (68, 8, 3.5)}


@pytest.mark.parametrize("block", list(PAPER))
def test_the_field_of_every_block_is_the_one_worked_out_on_paper(block):
    f = receptive_field(block)
    assert (f.size, f.jump, f.start) == PAPER[block]


def test_boxes_by_hand():
    # conv0 unit (0, 0): pixels -1..1 (the row and column -1 are the padding)
    assert receptive_field("conv0").box(0, 0) == (-1, -1, 2, 2)
    # conv2 unit (0, 0): pool0 units -1..1 -> conv1 units -2..3 -> conv0 units -3..4 -> pixels -4..5
    assert receptive_field("conv2").box(0, 0) == (-4, -4, 6, 6)
    # conv2 unit (3, 5): centred on 0.5 + 2*3 = 6.5 and 0.5 + 2*5 = 10.5, 10 px: rows 2..11, columns 6..15
    assert receptive_field("conv2").box(3, 5) == (2, 6, 12, 16)
    # conv4 unit (3, 3): centred on 1.5 + 4*3 = 13.5, 24 px: pixels 2..25
    assert receptive_field("conv4").box(3, 3) == (2, 2, 26, 26)


def test_unknown_block_says_which_there_are():
    with pytest.raises(ValueError, match="conv9.*conv0"):
        receptive_field("conv9")


@pytest.mark.parametrize("block,unit", [("conv2", (3, 5)), ("conv4", (3, 3))])
def test_the_pixels_a_unit_depends_on_are_its_box(block, unit):
    """Independent of the recurrence: the input pixels with a non-zero gradient of one unit's pre-ReLU value, over
    many random images (each max pool routes the gradient to one of its 4 inputs), are exactly the box."""
    torch.manual_seed(0)
    m = VGG().eval()
    with torch.no_grad():
        for b in range(8):
            conv = getattr(m.backbone, f"conv{b}")
            conv.weight.abs_()  # positive weights on positive inputs: every ReLU open, every path counts
    x = torch.rand(128, 3, 32, 32, requires_grad=True)
    h = x
    for name, layer in m.backbone.named_children():
        h = layer(h)
        if name == block.replace("conv", "bn"):
            break
    h[:, 0, unit[0], unit[1]].sum().backward()
    rows, cols = np.nonzero(x.grad.abs().sum((0, 1)).numpy())
    top, left, bottom, right = receptive_field(block).box(*unit)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (top, bottom, left, right)
    assert len(set(zip(rows, cols))) == (bottom - top) * (right - left)  # every pixel of the box


def test_crop_fills_outside_the_image_with_grey():
    im = np.arange(5 * 5 * 3, dtype=np.uint8).reshape(5, 5, 3)
    c = crop(im, (-1, -1, 2, 2))
    assert c.shape == (3, 3, 3)
    assert (c[0] == OUTSIDE).all() and (c[:, 0] == OUTSIDE).all()
    assert (c[1:, 1:] == im[:2, :2]).all()
    assert (crop(im, (1, 2, 4, 5)) == im[1:4, 2:5]).all()  # inside: the pixels themselves


def test_peaks_and_crops_on_a_hand_made_model():
    # filter 1 is +1 on the red centre tap: its map is the red channel, so its peak is the reddest pixel
    m = four_filter_model()
    images = np.zeros((2, 32, 32, 3), np.uint8)
    images[0, 7, 20, 0] = 255
    images[1, 0, 31, 0] = 200
    images[1, 3, 3, 0] = 100
    assert peaks(m, "conv0", 1, images).tolist() == [[7, 20], [0, 31]]
    crops = field_crops(m, "conv0", 1, images)
    assert [c.shape for c in crops] == [(3, 3, 3), (3, 3, 3)]
    assert (crops[0] == images[0, 6:9, 19:22]).all() and crops[0][1, 1, 0] == 255
    # the corner peak: rows -1..1, columns 30..32; row -1 and column 32 are outside
    assert (crops[1][0] == OUTSIDE).all() and (crops[1][:, 2] == OUTSIDE).all()
    assert (crops[1][1:, :2] == images[1, 0:2, 30:32]).all()
