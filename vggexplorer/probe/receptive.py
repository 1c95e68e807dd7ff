"""Receptive fields: which input pixels a unit of a block sees, and a test image cropped to it at a channel's peak.

Worked out from the architecture (:data:`~vggexplorer.model.vgg.VGG_CFG`: 3x3 convs with padding 1, stride 1, and
2x2 max pools with stride 2) by the usual recurrence over the layers, with ``size`` the field's side in input
pixels, ``jump`` the distance in input pixels between neighbouring units and ``start`` the input coordinate of the
centre of unit 0 (pixel ``i`` spans ``[i - 0.5, i + 0.5]``, so pixel centres are whole numbers):

* a 3x3 conv, padding 1: ``size += 2 * jump``; ``start`` and ``jump`` stay;
* a 2x2 pool, stride 2: ``size += jump``; ``start += jump / 2``; ``jump *= 2``.

conv0 sees 3 px, conv1 5, conv2 10, conv3 14, conv4 24, conv5 32, conv6 52, conv7 68. A field that hangs over the
border sees the zero padding there; its crop shows that part grey, so every crop of a block has the field's size and
the peak unit's field is centred in it (from conv6 on the field is larger than the image: the image sits in a grey
frame, placed where the unit sees it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..model.vgg import POOL, VGG_CFG, conv_block_names
from .hooks import block_output

OUTSIDE = 128  # the grey of a crop's part outside the image


@dataclass(frozen=True)
class Field:
    """A block's receptive field: side ``size`` px, units ``jump`` px apart, unit 0 centred on input ``start``."""

    block: str
    size: int
    jump: int
    start: float

    def box(self, y: int, x: int) -> tuple[int, int, int, int]:
        """Input pixels (top, left, bottom, right), bottom and right excluded, that unit ``(y, x)`` of the block's
        map sees; they may lie outside the image (the padding)."""
        half = (self.size - 1) / 2
        top, left = int(round(self.start + self.jump * y - half)), int(round(self.start + self.jump * x - half))
        return top, left, top + self.size, left + self.size


def receptive_field(block: str, cfg: list[int | str] = VGG_CFG) -> Field:
    """The receptive field of ``block``'s units (the output of its conv, BN and ReLU) in input pixels."""
    names = conv_block_names(cfg)
    if block not in names:
        raise ValueError(f"unknown block {block!r}; the model has {names}")
    size, jump, start, i = 1, 1, 0.0, 0
    for v in cfg:
        if v == POOL:
            size, start, jump = size + jump, start + jump / 2, jump * 2
            continue
        size += 2 * jump
        if names[i] == block:
            return Field(block, size, jump, start)
        i += 1
    raise AssertionError("unreachable: the block is in the cfg")


def crop(image: np.ndarray, box: tuple[int, int, int, int], fill: int = OUTSIDE) -> np.ndarray:
    """``uint8 [H, W, 3]`` -> the ``box`` (top, left, bottom, right) of it, ``[bottom - top, right - left, 3]``; the
    part of the box outside the image is ``fill``."""
    top, left, bottom, right = box
    h, w = image.shape[:2]
    out = np.full((bottom - top, right - left, image.shape[2]), fill, np.uint8)
    t, lf, b, r = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
    if t < b and lf < r:
        out[t - top:b - top, lf - left:r - left] = image[t:b, lf:r]
    return out


def peaks(model: nn.Module, block: str, channel: int, images: np.ndarray) -> np.ndarray:
    """``int [N, 2]``: for each uint8 image ``[N, 32, 32, 3]``, the (row, column) of the largest value of
    ``channel``'s post-ReLU map in ``block`` (the first in row-major order, on ties)."""
    with torch.no_grad():
        maps = block_output(model, images, block)[:, int(channel)]  # [N, H, W]
    flat = maps.flatten(1).argmax(1).numpy()
    return np.stack([flat // maps.shape[2], flat % maps.shape[2]], 1)


def field_crops(model: nn.Module, block: str, channel: int, images: np.ndarray) -> list[np.ndarray]:
    """Each image cropped to the receptive field of ``channel``'s strongest unit on it: ``[size, size, 3]`` each,
    grey outside the image (the field from the model's own cfg)."""
    field = receptive_field(block, list(getattr(model, "cfg", VGG_CFG)))
    return [crop(im, field.box(int(y), int(x))) for im, (y, x) in zip(images, peaks(model, block, channel, images))]
