"""Uploaded images: each odd file is converted the way a user expects, or refused with a clear reason."""

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from vggexplorer.data.images import ImageError, preprocess, read_upload, to_uint8_32


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _photo(w=64, h=48, mode="RGB") -> Image.Image:
    arr = (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)
    return Image.fromarray(arr).convert(mode)


def _bomb_png(w: int, h: int) -> bytes:
    """A tiny PNG whose header declares w x h pixels (the pixel data is never reached)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data, match", [
    (b"", "empty"),
    (b"hello, this is text", "not an image"),
    (bytes(range(256)) * 40, "not an image"),
    (_save(_photo(), "PNG")[:200], "truncated or damaged"),
    (_save(_photo(200, 200), "JPEG")[:600], "truncated or damaged"),
    (_bomb_png(100_000, 100_000), "pixels"),
    (_bomb_png(20_000, 20_000), "limit"),
])
def test_bad_files_get_a_clear_reason(data, match):
    with pytest.raises(ImageError, match=match):
        read_upload(data, "upload.png")[0]


@pytest.mark.parametrize("im, fmt, kw", [
    (_photo(1, 1), "PNG", {}),
    (_photo(mode="RGBA"), "PNG", {}),
    (_photo(mode="L"), "PNG", {}),
    (_photo(mode="P"), "PNG", {}),
    (_photo(mode="LA"), "PNG", {}),
    (_photo(mode="CMYK"), "JPEG", {}),
    (_photo(), "WEBP", {}),
    (Image.fromarray((np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20)), "PNG", {}),  # 16-bit
])
def test_odd_modes_are_converted(im, fmt, kw):
    rgb = read_upload(_save(im, fmt, **kw))[0]
    assert rgb.mode == "RGB" and rgb.size == im.size
    x = preprocess(rgb)
    assert x.shape == (1, 3, 32, 32) and torch.isfinite(x).all()


def test_sixteen_bit_keeps_its_contrast():
    im = Image.fromarray(np.array([[0, 65535], [30000, 65535]], dtype=np.uint16))
    rgb = np.asarray(read_upload(_save(im, "PNG"))[0])
    assert rgb[0, 0, 0] == 0 and rgb[0, 1, 0] == 255


def test_rgba_is_composited_on_white():
    im = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    assert np.asarray(read_upload(_save(im, "PNG"))[0])[0, 0].tolist() == [255, 255, 255]


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    rgb = np.asarray(read_upload(buf.getvalue())[0])
    assert rgb[0, 0, 0] > 200 and rgb[0, 0, 2] < 50


def test_exif_rotation_is_applied():
    im = _photo(60, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    rgb = read_upload(_save(im, "JPEG", exif=exif.tobytes()))[0]
    assert rgb.size == (20, 60)


def test_resize_keeps_aspect_and_centre_crops():
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:, 20:60] = 255  # a white centre band on a wide image
    out = to_uint8_32(Image.fromarray(arr))
    assert out.shape == (32, 32, 3)
    assert out[:, 16].mean() > 250  # the centre survives the crop


@pytest.mark.parametrize("im, fmt, note", [
    (_photo(mode="RGBA"), "PNG", "transparent areas put on white"),
    (_photo(mode="P"), "PNG", "palette colours expanded"),
    (_photo(mode="L"), "PNG", "grayscale: copied to the three channels"),
    (_photo(mode="CMYK"), "JPEG", "CMYK converted to RGB"),
    (Image.fromarray(np.zeros((4, 4), np.uint16)), "PNG", "high bit depth"),
])
def test_read_upload_says_what_it_converted(im, fmt, note):
    rgb, notes = read_upload(_save(im, fmt), "x")
    assert rgb.mode == "RGB"
    assert notes[0].startswith(f"{fmt}, {im.size[0]}x{im.size[1]}, ")
    assert any(note in n for n in notes), notes


def test_read_upload_notes_frames_and_rotation():
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert "2 frames: the first is used" in read_upload(buf.getvalue())[1]
    exif = Image.Exif()
    exif[0x0112] = 6
    _, notes = read_upload(_save(_photo(60, 20), "JPEG", exif=exif.tobytes()))
    assert "turned upright by its EXIF orientation (6)" in notes
    assert read_upload(_save(_photo(), "PNG"))[1] == ["PNG, 64x48, RGB"]  # nothing to convert, nothing said
