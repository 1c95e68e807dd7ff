"""What a channel looks for: the numbers and words of the Explorer's panel, as plain functions.

The panel shows, for dense and every rung, the render of one channel (:mod:`vggexplorer.probe.featurevis`, cached
by :mod:`vggexplorer.views.render_cache`), the activation it reaches and that of the channel's best test image,
and beside them the channel's top test images cropped to its receptive field at its peak
(:mod:`vggexplorer.probe.receptive`).

The best test image's activation is the dataset scan's ``topk_value[channel][0]``: the largest, over the test
images, of the channel's post-ReLU map averaged over its positions. That is the render's objective (and what
``Render.activation`` measures on the render itself), so the two numbers compare directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..probe.featurevis import ACTIVATION_DEAD, WEIGHT_DEAD, Render
from ..probe.receptive import receptive_field

def heading(block: str, channel: int) -> str:
    return f"**What {block} channel {channel} looks for**: the image that excites it most, in dense and every rung"


def explanation(n_images: int | None, steps: int) -> str:
    """The caption under the row: what is rendered and what the numbers are."""
    over = f"the {n_images:,} test images" if n_images else "the test images"
    return (f"Each image is optimised ({steps} steps) to maximise the channel's mean post-ReLU activation, from the "
            "same seed and the same start in every model, so any difference comes from the model. *reaches*: that "
            "mean on the render; *best test image*: the largest such mean over " + over + " (from the dataset "
            "scan), the same quantity.")


def best_test(scan: Any, role: str, block: str, channel: int) -> float | None:
    """The channel's best test image's activation (its largest spatial-mean post-ReLU value over the scanned test
    images), or None when the scan does not hold the model."""
    if scan is None or role not in scan.models or block not in scan.models[role]:
        return None
    return max(float(scan.stat(role, block, "topk_value")[channel][0]), 0.0)


def top_images(scan: Any, role: str, block: str, channel: int) -> list[int]:
    """The test images on which the channel's spatial mean is highest (best first); none when it never fires."""
    if scan is None or role not in scan.models or block not in scan.models[role]:
        return []
    top = scan.stat(role, block, "topk_index")[channel]
    vals = scan.stat(role, block, "topk_value")[channel]
    return [int(i) for i, v in zip(top, vals) if i >= 0 and v > 0]


def rung_caption(label: str, render: Render | None, best: float | None) -> str:
    """Under one model's render: what it reaches against the best test image, or why there is nothing to show."""
    never = best is not None and best <= 0
    if render is None:
        return f"**{label}** · not rendered yet"
    if render.dead == WEIGHT_DEAD:
        return (f"**{label}** · {WEIGHT_DEAD}: every weight of its filter is zero, so it emits the constant "
                f"{render.activation:.3g} whatever the image; nothing to render.")
    if render.dead == ACTIVATION_DEAD:
        return (f"**{label}** · {ACTIVATION_DEAD}: the render leaves it at 0 after {render.steps} steps (its ReLU "
                "never opens)" + ("; no test image fires it either." if never else
                                  f"; best test image {best:.3g}." if best is not None else "."))
    text = f"**{label}** · reaches {render.activation:.3g}"
    if best is None:
        return text + " · not in the dataset scan"
    if never:
        return text + " · no test image fires it (0 on every test image)"
    return text + f" · best test image {best:.3g} ({render.activation / best:.1f}x)"


def crops_caption(label: str, block: str, n: int) -> str:
    size = receptive_field(block).size
    return (f"{label}: its top {n} test images, each cropped to {block}'s {size} px receptive field around the "
            "channel's strongest unit on it (grey: outside the image)")


def strip_scale(side: int, target: int = 64) -> int:
    """The whole upscaling factor that shows a ``side`` px crop at about ``target`` px (at least 1)."""
    return max(1, round(target / side))


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """``uint8 [H, W, 3]`` enlarged ``factor`` times, nearest neighbour (pixels stay square)."""
    return np.kron(image, np.ones((factor, factor, 1), np.uint8))
