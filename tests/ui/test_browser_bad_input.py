"""Every bad input a stranger can give a hosted demo, tried in a real browser as a new user would.

Each case ends in a clear message (or the conversion a user expects), never a traceback, and the
next interaction works. The server's memory is read from /proc to check that it stays bounded.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ..browser import (EXPLORER_CHARTS, browser_page, no_errors, open_page, require_chromium, rss_mb, streamlit_server, texts,
                      wait_for_app)
from ..conftest import DENSE, PRUNED
from ..helpers import Evil, lab_state_dict, torch_bytes

require_chromium()


_UPLOADS = Path()


@pytest.fixture(scope="module", autouse=True)
def _uploads_dir(tmp_path_factory):
    global _UPLOADS
    _UPLOADS = tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def server():
    with streamlit_server() as (url, proc):  # the server inherits this environment (VGGEXPLORER_CKPT_DIR ...)
        yield url, proc


# ---- files ------------------------------------------------------------------------------------

def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _photo(w: int, h: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    arr = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    return Image.fromarray(arr).convert(mode)


def _gradient(w: int, h: int) -> Image.Image:
    """A big but smooth image: megapixels without megabytes."""
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    return Image.fromarray(np.broadcast_to((x + y) / 2, (h, w, 3)).astype(np.uint8))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(w: int, h: int, idat: bytes) -> bytes:
    """A PNG from raw chunks: whatever the header declares, whatever the data holds."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def _header_only_png(w: int, h: int) -> bytes:
    """A 60-byte PNG whose header declares w x h pixels: a decompression bomb's calling card."""
    return _png(w, h, zlib.compress(b"\x00" * 10))


def _zip_bomb_png() -> bytes:
    """A real PNG of 6500 x 6500 black pixels (42 MP, over the limit) that compresses to about 120 KB."""
    return _png(6500, 6500, zlib.compress(b"".join(b"\x00" + b"\x00" * 6500 * 3 for _ in range(6500)), 9))


def _gif() -> bytes:
    frames = [Image.new("RGB", (40, 30), c) for c in [(200, 30, 30), (30, 30, 200), (30, 200, 30)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": stored 90x30, shown 30x90
    return _save(_photo(90, 30, seed=3), "JPEG", exif=exif.tobytes())


@dataclass
class Case:
    name: str
    data: bytes | Path
    error: str | None = None     # expected in the error message; None: the image is used
    notes: tuple[str, ...] = ()  # expected in the caption that says what was converted
    aspect: float | None = None  # expected width/height of the "as uploaded" preview
    widget_error: bool = False   # refused by Streamlit's uploader itself (type or size), before the app sees it


def _cases(tmp: Path) -> list[Case]:
    big = tmp / "too-big.jpg"  # over the app's 20 MB limit, under Streamlit's 50 MB upload limit
    big.write_bytes(_save(_photo(16, 16), "JPEG") + os.urandom(25 * 2**20))
    huge = tmp / "huge.bmp"  # over Streamlit's 50 MB upload limit: refused in the browser
    huge.write_bytes(b"BM" + b"\x00" * (51 * 2**20))
    png, jpg = _save(_photo(200, 150, seed=1), "PNG"), _save(_photo(200, 150, seed=2), "JPEG")
    return [
        Case("empty.png", b"", error="is empty (0 bytes)"),
        Case("notes.png", b"this is a text file, not a picture\n" * 20, error="not an image"),
        Case("random.png", np.random.default_rng(0).bytes(50_000), error="not an image"),
        Case("good-first.png", _save(_photo(64, 48), "PNG"), notes=("PNG, 64x48, RGB",), aspect=64 / 48),
        Case("truncated.png", png[: len(png) // 2], error="truncated or damaged"),
        Case("truncated.jpg", jpg[:600], error="truncated or damaged"),
        Case("one-pixel.png", _save(Image.new("RGB", (1, 1), (10, 200, 10)), "PNG"), notes=("1x1",), aspect=1.0),
        Case("one-pixel.bmp", _save(Image.new("RGB", (1, 1), (200, 10, 10)), "BMP"), notes=("BMP, 1x1",), aspect=1.0),
        Case("bomb-header.png", _header_only_png(100_000, 100_000), error="pixels"),
        Case("bomb-zip.png", _zip_bomb_png(), error="the limit is 40 MP"),
        Case("large-photo.jpg", _save(_gradient(6000, 4000), "JPEG", quality=70),
             notes=("6000x4000", "centre-cropped"), aspect=1.5),
        Case("too-big.jpg", big, error="the limit is 20 MB"),
        Case("rgba.png", _save(_photo(60, 40, "RGBA"), "PNG"), notes=("RGBA", "transparent areas put on white")),
        Case("gray.png", _save(_photo(60, 40, "L"), "PNG"), notes=("grayscale",)),
        Case("palette.png", _save(_photo(60, 40, "P"), "PNG"), notes=("palette",)),
        Case("sixteen-bit.png", _save(Image.fromarray((np.arange(60 * 40, dtype=np.uint16).reshape(40, 60) * 27)),
                                      "PNG"), notes=("high bit depth",)),
        Case("cmyk.jpg", _save(_photo(60, 40, "CMYK"), "JPEG"), notes=("CMYK converted",)),
        Case("animated.gif", _gif(), notes=("3 frames: the first is used",), aspect=40 / 30),
        Case("phone-photo.jpg", _exif_rotated(), notes=("EXIF orientation",), aspect=30 / 90),
        Case("[win a prize](https:evil) *bold* $x$.png", b"not an image", error="[win a prize](https:evil) *bold* $x$.png"),
        Case("notes.txt", b"plain text", error="not allowed", widget_error=True),
        Case("huge.bmp", huge, error="MB or smaller", widget_error=True),
    ]


def _upload(page, label: str, name: str, data: bytes | Path) -> None:
    """Choose a file in the uploader labelled ``label``, as a user would."""
    box = page.get_by_test_id("stFileUploader").filter(has_text=label)
    if isinstance(data, bytes) and len(data) > 2**20:  # Playwright sends big buffers slowly; a file is fast
        path = _UPLOADS / name  # kept until the module ends: the browser reads it after this call returns
        path.write_bytes(data)
        data = path
    files = str(data) if isinstance(data, Path) else [{"name": name, "mimeType": "application/octet-stream",
                                                       "buffer": data}]
    box.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(files=files)


def _settled(page, ready_js: str, arg, timeout_ms: int = 90_000) -> None:
    """Wait for a condition and then for the script run to finish."""
    page.wait_for_function(ready_js, arg=arg, timeout=timeout_ms, polling=200)
    wait_for_app(page, min_charts=0)


CAPTION_HAS = """(name) => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                    .some(e => e.innerText.includes('your upload ' + name))"""
ERROR_HAS = """([sel, s]) => [...document.querySelectorAll(sel)].some(e => e.innerText.includes(s))"""
SIDEBAR_CAPTION = '[data-testid="stSidebar"] [data-testid="stCaptionContainer"]'
APP_ERROR, WIDGET_ERROR = '[data-testid="stAlertContentError"]', '[data-testid="stFileUploader"]'
NONE_HAS = """([sel, s]) => ![...document.querySelectorAll(sel)].some(e => e.innerText.includes(s))"""
PREVIEW_ASPECT = """() => { const img = [...document.querySelectorAll('[data-testid="stImage"]')]
                      .find(e => e.innerText.includes('as uploaded'))?.querySelector('img');
                      return img && img.naturalHeight ? img.naturalWidth / img.naturalHeight : null; }"""


def test_every_bad_upload_ends_in_a_clear_message_and_a_working_app(server, tmp_path):
    url, proc = server
    failures: list[str] = []
    with browser_page() as page:
        open_page(page, url + "/", EXPLORER_CHARTS)
        rss_before, _ = rss_mb(proc.pid)
        page.get_by_role("radiogroup", name="Image source").get_by_text("Upload").click()
        wait_for_app(page, min_charts=0)
        for case in _cases(tmp_path):
            if case.widget_error:  # start from an empty uploader so the widget's own message is the newest
                page.get_by_role("radiogroup", name="Image source").get_by_text("Test split").click()
                wait_for_app(page, min_charts=EXPLORER_CHARTS)
                page.get_by_role("radiogroup", name="Image source").get_by_text("Upload").click()
                wait_for_app(page, min_charts=0)
            _upload(page, "Your image", case.name, case.data)
            try:
                if case.error:
                    _settled(page, ERROR_HAS, [WIDGET_ERROR if case.widget_error else APP_ERROR, case.error])
                    if not case.widget_error:
                        errors = " ".join(texts(page, "stAlertContentError"))
                        assert "Could not use this file" in errors, errors
                        # a hostile file name shows as typed: no link is made of it
                        assert page.locator('[data-testid="stAlertContentError"] a').count() == 0
                else:
                    _settled(page, CAPTION_HAS, case.name)
                    wait_for_app(page, min_charts=EXPLORER_CHARTS)  # the mosaics and the probabilities are drawn
                    no_errors(page)
                    caption = " ".join(texts(page, "stCaptionContainer"))
                    for note in case.notes:
                        assert note in caption, (note, caption)
                    if case.aspect is not None:
                        got = page.evaluate(PREVIEW_ASPECT)
                        assert got is not None and abs(got - case.aspect) < 0.05, (got, case.aspect)
                assert page.locator('[data-testid="stException"]').count() == 0, texts(page, "stException")
            except Exception as e:  # report every case, not only the first to fail
                failures.append(f"{case.name}: {type(e).__name__}: {str(e)[:300]}")
        # the next interaction works: back to the test split, everything drawn, no error left over
        page.get_by_role("radiogroup", name="Image source").get_by_text("Test split").click()
        wait_for_app(page, min_charts=EXPLORER_CHARTS)
        no_errors(page)
        _, peak = rss_mb(proc.pid)
    print(f"server RSS before the uploads {rss_before:.0f} MB, peak over them {peak:.0f} MB")
    assert not failures, "\n".join(failures)
    # the bombs were refused from their headers: no decode of 10 gigapixels or 42 MP happened
    assert peak - rss_before < 600, f"server memory grew from {rss_before:.0f} MB to a peak of {peak:.0f} MB"


# ---- your own models -----------------------------------------------------------------------------

def _checkpoint_cases(tmp: Path, marker: Path) -> list[Case]:
    import torch
    import torchvision

    missing = lab_state_dict()
    del missing["backbone.conv2.weight"]
    shapes = lab_state_dict()
    shapes["classifier.weight"] = torch.zeros(100, 512)
    huge = tmp / "huge.pt"
    huge.write_bytes(b"\x00" * (51 * 2**20))
    return [
        Case("evil.pt", torch_bytes({"state_dict": lab_state_dict(), "payload": Evil(marker)}),
             error="evil.pt is not plain weights"),
        Case("empty.pt", b"", error="empty"),
        Case("notes.pt", b"these are my notes, not weights\n", error="not a PyTorch checkpoint"),
        Case("list.ckpt", torch_bytes([1, 2, 3]), error="holds no state_dict"),
        Case("resnet18.pth", torch_bytes(torchvision.models.resnet18(num_classes=10).state_dict()),
             error="resnet18.pth does not match the course-lab VGG"),
        Case("missing-key.pt", torch_bytes(missing), error="missing keys ['backbone.conv2.weight']"),
        Case("cifar100-head.pt", torch_bytes(shapes), error="wrong shapes"),
        Case("huge.pt", huge, error="MB or smaller", widget_error=True),
    ]


def _own_models(page):
    """The sidebar's "Your own models" expander, opened."""
    exp = page.get_by_test_id("stSidebar").get_by_test_id("stExpander").filter(has_text="Your own models")
    if not exp.get_by_test_id("stFileUploader").first.is_visible():
        exp.locator("summary").click()
    return exp


def _sidebar_load(page, dense: tuple[str, bytes | Path], pruned: tuple[str, bytes | Path],
                  refused: bool = False) -> None:
    """Open "Your own models", choose a dense file (it replaces the one before) and add a pruned one (the pruned files
    chosen before stay: the unusable ones are skipped, each with its message), and wait until the server has them (a
    click on "Open" before that would open the files chosen before); ``refused``: the uploader itself refuses the
    pruned file, which then never arrives."""
    _own_models(page)
    for label, (name, data) in (("Dense model", dense), ("Pruned models", pruned)):
        _upload(page, label, name, data)
        if not (refused and label == "Pruned models"):
            chip = page.get_by_test_id("stFileUploader").filter(has_text=label).get_by_test_id(
                "stFileChip").filter(has_text=name).first
            chip.wait_for(timeout=90_000)
            chip.get_by_test_id("stFileChipIconSpinner").wait_for(state="detached", timeout=90_000)  # uploaded
        wait_for_app(page, min_charts=0)


def _press_load(page) -> None:
    page.get_by_test_id("stSidebar").get_by_role("button", name="Open these models", exact=True).click()


def _pruned_copy(sd: dict, fraction: float) -> dict:
    import torch

    out = {k: v.clone() for k, v in sd.items()}
    for k, v in out.items():
        if k.endswith("weight") and v.dim() > 1:
            v[torch.rand(v.shape, generator=torch.Generator().manual_seed(1)) < fraction] = 0
    return out


def test_bad_checkpoints_are_refused_by_name_and_good_ones_explored(server, tmp_path):
    url, _ = server
    marker = tmp_path / "pwned"
    failures: list[str] = []
    good = ("lab-dense.pth", torch_bytes({"state_dict": lab_state_dict()}))
    with browser_page() as page:
        # the dead-filter page is the cheapest to redraw; the sidebar is the same on every page
        open_page(page, url + "/dead-filters", 1)
        for case in _checkpoint_cases(tmp_path, marker):
            try:
                _sidebar_load(page, good, (case.name, case.data), refused=case.widget_error)
                if case.widget_error:
                    _settled(page, ERROR_HAS, [WIDGET_ERROR, case.error])
                else:
                    _press_load(page)
                    _settled(page, ERROR_HAS, [APP_ERROR, case.error])
                    wait_for_app(page, min_charts=1)  # the shipped models are still explored
                    assert page.locator('[data-testid="stException"]').count() == 0
            except Exception as e:
                failures.append(f"{case.name}: {type(e).__name__}: {str(e)[:300]}")
        assert not marker.exists(), "the pickle's code ran on the server"
        assert not failures, "\n".join(failures)

        # the course lab's own state_dict as dense, NaN weights in it, and a pruned copy: explored like the shipped
        bad = lab_state_dict(1)
        bad["backbone.conv5.weight"][0, 0, 0, 0] = float("nan")
        _sidebar_load(page, ("nan.pt", torch_bytes(bad)), ("pruned-60.pth", torch_bytes(_pruned_copy(lab_state_dict(1), 0.6))))
        _press_load(page)
        _settled(page, ERROR_HAS, [SIDEBAR_CAPTION, "pruned 60%: pruned-60.pth"])
        page.get_by_test_id("stSidebarNav").get_by_text("Explorer").click()
        _settled(page, ERROR_HAS, ['[data-testid="stAlertContentWarning"]', "backbone.conv5.weight"])
        wait_for_app(page, min_charts=EXPLORER_CHARTS)
        assert page.locator('[data-testid="stException"]').count() == 0
        warn = " ".join(texts(page, "stAlertContentWarning"))
        assert "dense model has NaN or infinite values" in warn, warn

        # the other pages explore the session's own models too, with no "shipped only" notice
        page.get_by_test_id("stSidebarNav").get_by_text("Models").click()
        _settled(page, ERROR_HAS, ['[data-testid="stHeading"]', "Per-layer sparsity"])
        wait_for_app(page, min_charts=1)
        no_errors(page)
        title = " ".join(page.locator(".js-plotly-plot .gtitle").evaluate_all("els => els.map(e => e.textContent)"))
        assert "conv5: |w| (1 non-finite left out)" in title, title
        assert "only for the shipped" not in page.inner_text("body")

        # and back to the shipped ladder
        exp = _own_models(page)
        exp.get_by_role("button", name="Back to the shipped ladder").click()
        _settled(page, NONE_HAS, [SIDEBAR_CAPTION, "nan.pt"])
        wait_for_app(page, min_charts=1)
        no_errors(page)
        assert not any("NaN" in t for t in texts(page, "stAlertContentWarning"))


# ---- missing and damaged shipped files --------------------------------------------------------

def test_missing_and_damaged_files_keep_every_page_up(tmp_path):
    """dense.pt missing, pruned.pt damaged, scan.npz and the test split garbage: each named with its fix.

    (A missing test split: tests/ui/test_app.py.)
    """
    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    (ckpt / "pruned.pt").write_bytes(b"PK\x03\x04 half a zip file")
    (ckpt / "scan.npz").write_bytes(b"garbage")
    (tmp_path / "test.npz").write_bytes(b"<html>a captive portal page, not the test split</html>")
    env = {"VGGEXPLORER_CKPT_DIR": str(ckpt), "VGGEXPLORER_TEST_SPLIT": str(tmp_path / "test.npz")}
    with streamlit_server(env) as (url, _), browser_page() as page:
        for path in ("/", "/dead-filters", "/models"):
            page.goto(url + path)
            wait_for_app(page, min_charts=0)
            page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=60_000)
            assert page.locator('[data-testid="stException"]').count() == 0, texts(page, "stException")
            errors = " ".join(texts(page, "stAlertContentError"))
            assert "dense model unavailable" in errors and "python -m vggexplorer train" in errors, errors
            assert "pruned model unavailable" in errors and "python -m vggexplorer prune" in errors, errors
        # the user can still bring a checkpoint and explore it, with an upload as the image
        _sidebar_load(page, ("dense.pt", DENSE), ("pruned.pt", PRUNED))
        _press_load(page)
        _settled(page, ERROR_HAS, [SIDEBAR_CAPTION, "dense: dense.pt"])
        assert "dense model unavailable" not in " ".join(texts(page, "stAlertContentError"))
        page.get_by_test_id("stSidebarNav").get_by_text("Explorer").click()
        _settled(page, ERROR_HAS, ['[data-testid="stFileUploader"]', "Your image"])
        warnings = " ".join(texts(page, "stAlertContentWarning"))
        assert "not an .npz archive" in warnings and "pack-test" in warnings, warnings
        _upload(page, "Your image", "photo.png", _save(_photo(64, 48), "PNG"))
        _settled(page, CAPTION_HAS, "photo.png")
        wait_for_app(page, min_charts=3)
        assert page.locator('[data-testid="stException"]').count() == 0
