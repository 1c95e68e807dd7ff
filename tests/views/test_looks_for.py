"""The words of the "What this channel looks for" panel, on hand-made renders and a hand-made scan."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from vggexplorer.probe.featurevis import ACTIVATION_DEAD, WEIGHT_DEAD, Render
from vggexplorer.views import looks_for as lf

IMG = np.zeros((32, 32, 3), np.uint8)


def _render(activation: float, dead: str | None = None, image=IMG) -> Render:
    return Render("conv3", 5, None if dead else image, activation, 256, 0, {}, dead, "why" if dead else None)


class _Scan(SimpleNamespace):
    def stat(self, role, block, name):
        return self.models[role][block][name]


SCAN = _Scan(models={"dense": {"conv3": {"topk_value": np.array([[2.0, 1.0], [0.0, 0.0]]),
                                        "topk_index": np.array([[17, 4], [3, 8]])}}})


def test_best_test_and_top_images_from_the_scan():
    assert lf.best_test(SCAN, "dense", "conv3", 0) == 2.0
    assert lf.best_test(SCAN, "dense", "conv3", 1) == 0.0
    assert lf.best_test(SCAN, "p95", "conv3", 0) is None and lf.best_test(None, "dense", "conv3", 0) is None
    assert lf.top_images(SCAN, "dense", "conv3", 0) == [17, 4]
    assert lf.top_images(SCAN, "dense", "conv3", 1) == []  # never fires: no top images


def test_captions_say_what_the_render_reaches_or_why_there_is_none():
    assert lf.rung_caption("dense", _render(6.0), 2.0) == "**dense** · reaches 6 · best test image 2 (3.0x)"
    assert "no test image fires it" in lf.rung_caption("pruned 95%", _render(0.5), 0.0)
    assert lf.rung_caption("dense", _render(1.0), None).endswith("not in the dataset scan")
    dead = lf.rung_caption("pruned 95%", _render(0.25, WEIGHT_DEAD), 0.25)
    assert dead.startswith(f"**pruned 95%** · {WEIGHT_DEAD}") and "constant 0.25" in dead and "nothing to render" in dead
    silent = lf.rung_caption("pruned 90%", _render(0.0, ACTIVATION_DEAD), 0.0)
    assert ACTIVATION_DEAD in silent and "no test image fires it either" in silent
    assert lf.rung_caption("dense", None, 1.0) == "**dense** · not rendered yet"


def test_crops_caption_names_the_receptive_field():
    assert "conv2's 10 px receptive field" in lf.crops_caption("dense", "conv2", 9)
    assert lf.strip_scale(3) == 21 and lf.strip_scale(68) == 1 and lf.strip_scale(14) == 5
    big = lf.enlarge(np.arange(12, dtype=np.uint8).reshape(2, 2, 3), 3)
    assert big.shape == (6, 6, 3) and (big[:3, :3] == np.arange(3)).all()
