"""Turning images (PIL images, uint8 arrays) into model input."""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np
import torch
from PIL import Image

from .data import to_float

ImageLike = Union[Image.Image, np.ndarray]


def to_uint8_32(image: ImageLike, size: int = 32) -> np.ndarray:
    """One image as ``uint8 [size, size, 3]``: RGB, shorter side resized to ``size``, centre-cropped.

    Same geometry as torchvision's ``Resize(size)`` + ``CenterCrop(size)``, with antialiasing,
    so a photo keeps its aspect ratio instead of being squashed.
    """
    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            raise ValueError(f"expected a uint8 image array, got {arr.dtype}; scale to 0..255 and cast first")
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise ValueError(f"expected an image array [H, W, 3], got shape {arr.shape}")
        if arr.shape[:2] == (size, size):
            return np.ascontiguousarray(arr[:, :, :3])
        image = Image.fromarray(np.ascontiguousarray(arr[:, :, :3]))
    if image.mode != "RGB":
        image = image.convert("RGB")
    w, h = image.size
    if (w, h) != (size, size):
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        image = image.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
        left, top = (nw - size) // 2, (nh - size) // 2
        image = image.crop((left, top, left + size, top + size))
    return np.asarray(image, dtype=np.uint8)


def normalization(model_or_norm: Any) -> tuple[Sequence[float] | None, Sequence[float] | None]:
    """(mean, std) from a loaded model's ``.meta``, a ``{"mean", "std"}`` dict, or None (``ToTensor()`` only)."""
    norm = model_or_norm
    if isinstance(model_or_norm, torch.nn.Module):
        norm = getattr(model_or_norm, "meta", {}).get("normalization")
    if not norm:
        return None, None
    return norm["mean"], norm["std"]


def preprocess(images: ImageLike | Sequence[ImageLike], model_or_norm: Any = None) -> torch.Tensor:
    """PIL images or uint8 arrays (one, a list, or a ``[N, H, W, 3]`` batch) -> float32 ``[N, 3, 32, 32]``.

    Applies the normalization the model was trained with (from its checkpoint metadata);
    a bare lab state_dict has none, so it gets ``ToTensor()`` scaling only, like the lab.
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        batch = np.stack([to_uint8_32(im) for im in images]) if images.shape[1:3] != (32, 32) else images[..., :3]
    elif isinstance(images, (Image.Image, np.ndarray)):
        batch = to_uint8_32(images)[None]
    else:
        batch = np.stack([to_uint8_32(im) for im in images])
    mean, std = normalization(model_or_norm)
    return to_float(torch.from_numpy(np.ascontiguousarray(batch)), mean, std)  # [N, 3, 32, 32]
