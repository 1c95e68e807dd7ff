"""Turning images (PIL images, uint8 arrays) into model input."""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np
import torch
from PIL import Image

from .cifar10 import to_float
from ..errors import VGGExplorerError

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


# ---- which normalization a model uses, and where that came from ----------------------------------------------
NORMALIZATION_FILE = "normalization.json"  # in a checkpoint's folder: {"mean": [r, g, b], "std": [r, g, b]}
# model.meta["normalization_source"], most binding first: the folder's file, the checkpoint's metadata, the lab's way
FROM_FILE, FROM_CHECKPOINT, FROM_LAB = NORMALIZATION_FILE, "checkpoint", "lab convention"
_FROM_WORDS = {FROM_FILE: f", from {NORMALIZATION_FILE}", FROM_CHECKPOINT: ", from the checkpoint",
               FROM_LAB: " (the course lab's convention)"}
IDENTITY = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}  # what a normalization.json writes for "none"

# The true CIFAR-10 training-set statistics, as the shipped dense checkpoint records them (its meta["normalization"]).
# kuangliu/pytorch-cifar, which many CIFAR repos copy, uses the same mean with std (0.2023, 0.1994, 0.2010).
CIFAR10_NORMALIZATION = {"mean": [0.4913, 0.4821, 0.4464], "std": [0.247, 0.2435, 0.2616]}
# The app's choice for an uploaded model: key -> what a normalization.json says (None: ToTensor() only), and the
# label it is offered under. "checkpoint" writes no file: the checkpoint's metadata decides.
PRESET_LAB, PRESET_CIFAR10, PRESET_CHECKPOINT = "lab", "cifar10", "checkpoint"
NORMALIZATION_PRESETS: dict[str, dict | None] = {PRESET_LAB: None, PRESET_CIFAR10: CIFAR10_NORMALIZATION}
PRESET_LABELS = {PRESET_LAB: "Lab: ToTensor() only, no mean/std", PRESET_CIFAR10: "CIFAR-10 mean/std",
                 PRESET_CHECKPOINT: "As the checkpoint says"}


def is_identity(norm: Any) -> bool:
    """Whether a ``{"mean", "std"}`` is mean 0 and std 1 for every channel: no normalization at all."""
    return bool(norm) and all(float(m) == 0.0 for m in norm["mean"]) and all(float(s) == 1.0 for s in norm["std"])


def _number(x: float) -> str:
    """3 decimals, half up on the number as written (0.2435 -> 0.244), without trailing zeros (0.5, 1)."""
    from decimal import ROUND_HALF_UP, Decimal

    d = Decimal(repr(float(x))).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP).normalize()
    return format(d + 0, "f")  # + 0: no "-0"


def describe_normalization(model_or_meta: Any) -> str:
    """Which input normalization a model uses and where it came from, in words for every page and command:
    ``"none: ToTensor() only (the course lab's convention)"`` or ``"mean (0.491, 0.482, 0.446), std (0.247,
    0.244, 0.262), from normalization.json"`` / ``"..., from the checkpoint"``. Takes a loaded model, its
    ``.meta``, or a bare ``{"mean", "std"}`` (None: no normalization)."""
    meta = getattr(model_or_meta, "meta", {}) if isinstance(model_or_meta, torch.nn.Module) else model_or_meta
    if meta is None or "mean" in meta:
        norm, source = meta, None
    else:
        norm, source = meta.get("normalization"), meta.get("normalization_source")
    if not norm or is_identity(norm):
        return "none: ToTensor() only" + _FROM_WORDS.get(source, _FROM_WORDS[FROM_LAB])
    text = ", ".join(f"{k} ({', '.join(_number(v) for v in norm[k])})" for k in ("mean", "std"))
    return text + (_FROM_WORDS[source] if source in (FROM_FILE, FROM_CHECKPOINT) else "")


def preprocess(images: ImageLike | Sequence[ImageLike], model_or_norm: Any = None) -> torch.Tensor:
    """PIL images or uint8 arrays (one, a list, or a ``[N, H, W, 3]`` batch) -> float32 ``[N, 3, 32, 32]``.

    Applies the normalization the model was trained with (its ``meta["normalization"]``: from the folder's
    ``normalization.json``, else the checkpoint's metadata); a bare lab state_dict has none, so it gets
    ``ToTensor()`` scaling only, like the lab.
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        batch = np.stack([to_uint8_32(im) for im in images]) if images.shape[1:3] != (32, 32) else images[..., :3]
    elif isinstance(images, (Image.Image, np.ndarray)):
        batch = to_uint8_32(images)[None]
    else:
        batch = np.stack([to_uint8_32(im) for im in images])
    mean, std = normalization(model_or_norm)
    # a copy: the batch may be a read-only view of a shared array (the app's cached test split)
    return to_float(torch.from_numpy(np.array(batch, dtype=np.uint8, order="C")), mean, std)  # [N, 3, 32, 32]


MAX_UPLOAD_PIXELS = 40_000_000  # about 6300 x 6300: beyond this a "photo" is a decompression bomb for us
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class ImageError(VGGExplorerError, ValueError):
    """An uploaded file cannot be used as an image; the message says why, for the user."""


def read_upload(data: bytes, name: str = "upload") -> tuple[Image.Image, list[str]]:
    """Bytes of an uploaded file -> (RGB PIL image, notes on what was converted), or :class:`ImageError`.

    Handles EXIF rotation, palette/RGBA/grayscale/16-bit/CMYK modes (converted to RGB, alpha
    composited on white), animated files (first frame), and refuses empty, non-image, truncated
    and oversized files before decoding their pixels. The notes are for the user, e.g.
    ``["PNG, 64x48, RGBA", "transparent areas put on white"]``.
    """
    import io
    import warnings

    from PIL import ImageOps, UnidentifiedImageError

    if not data:
        raise ImageError(f"{name} is empty (0 bytes). Choose a PNG, JPEG or WebP image.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"{name} is {len(data) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            # checked on the header, before a single pixel is decoded: memory stays bounded
            if w * h > MAX_UPLOAD_PIXELS:
                raise ImageError(f"{name} is {w}x{h} pixels ({w * h / 1e6:.0f} MP); the limit is "
                                 f"{MAX_UPLOAD_PIXELS / 1e6:.0f} MP. Resize it first.")
            notes = [f"{im.format}, {w}x{h}, {im.mode}"]
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                im.seek(0)  # animated GIF/WebP/APNG: the first frame
                notes.append(f"{frames} frames: the first is used")
            im.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{name} declares too many pixels to decode safely ({e}).") from e
    except UnidentifiedImageError as e:
        raise ImageError(f"{name} is not an image PIL can read. Choose a PNG, JPEG or WebP image.") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{name} could not be decoded: it looks truncated or damaged ({e}).") from e
    try:
        orientation = im.getexif().get(0x0112, 1)
        im = ImageOps.exif_transpose(im)  # phone photos store their rotation in EXIF
        if orientation not in (1, None):
            notes.append(f"turned upright by its EXIF orientation ({orientation})")
    except Exception:  # a broken EXIF block should not lose the image
        notes.append("EXIF orientation unreadable: used as stored")
    rgb, how = to_rgb(im)
    return rgb, notes + how


HIGH_DEPTH = ("I;16", "I;16B", "I;16L", "I", "F")


def to_rgb(im: Image.Image) -> tuple[Image.Image, list[str]]:
    """Any PIL mode -> (RGB image, what was done in words): alpha composited on white, 16-bit and float
    stretched to 0..255, CMYK/palette/grayscale converted; an RGB image comes back with no notes."""
    how: list[str] = []
    if im.mode in HIGH_DEPTH:
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
        im = Image.fromarray(arr.astype(np.uint8), "L")
        how.append("high bit depth: stretched to 0..255, shown as gray")
    elif im.mode == "P":
        im = im.convert("RGBA")
        how.append("palette colours expanded")
    elif im.mode in ("RGBA", "LA", "PA"):
        how.append("transparent areas put on white")
    elif im.mode == "CMYK":
        how.append("CMYK converted to RGB")
    elif im.mode in ("L", "1"):
        how.append("grayscale: copied to the three channels")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
    return im.convert("RGB"), how
