"""Real browser: a ladder saved as a student would save it, opened from a folder, scanned in the app, and the Dead
filters totals checked against a direct computation here.

The folder: the shipped dense weights as an ``nn.DataParallel`` state_dict, one rung from
``torch.nn.utils.prune.global_unstructured`` (L1, 80% of every conv weight and the classifier weight, no fine-tuning,
saved without ``prune.remove``: ``weight_orig`` / ``weight_mask``) and the dense model's ``normalization.json``.
The app runs with ``VGGEXPLORER_FULL_SCAN=0``, so it scans the quick pass only (1,000 stratified test images).

The expected totals are computed here without the app's loader, scan or status rules: the files are read and
folded by hand, the inputs normalised with the json's mean and std, and each block's ReLU hooked directly.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from ..browser import browser_page, no_errors, require_chromium, streamlit_server, wait_for_app
from ..conftest import DENSE

require_chromium()

AMOUNT = 0.8
QUICK = 1000  # the app's quick pass: stratified, 100 per class, seed 0
ORDER = ("weight-dead", "activation-dead", "dormant", "weakened")  # the status priority, highest first
TOTALS = re.compile(r"([\d,]+) weight-dead · ([\d,]+) activation-dead · ([\d,]+) dormant · ([\d,]+) weakened")


def _prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    """The student's folder: dense.pth (DataParallel), l1-80.pth (prune's re-parametrisation kept), normalization.json."""
    from vggexplorer import load_model

    folder = tmp_path_factory.mktemp("student-ladder")
    dense = load_model(DENSE)
    torch.save(nn.DataParallel(dense).state_dict(), folder / "dense.pth")
    rung = load_model(DENSE)
    prune.global_unstructured(_prunable(rung), pruning_method=prune.L1Unstructured, amount=AMOUNT)
    sd = rung.state_dict()
    assert any(k.endswith("weight_orig") for k in sd) and any(k.endswith("weight_mask") for k in sd)
    torch.save(sd, folder / "l1-80.pth")
    (folder / "normalization.json").write_text(json.dumps(dense.meta["normalization"]))
    return folder


# ---- the direct computation: plain torch, the rules written out ----------------------------------------------

def _plain_model(path) -> nn.Module:
    """The file as a VGG: ``module.`` stripped, every ``weight_orig * weight_mask`` folded into ``weight``."""
    from vggexplorer.model.vgg import VGG

    sd = torch.load(path, map_location="cpu", weights_only=True)
    sd = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}
    folded = {}
    for k, v in sd.items():
        if k.endswith("_orig"):
            folded[k[: -len("_orig")]] = v * sd[k[: -len("_orig")] + "_mask"]
        elif not k.endswith("_mask"):
            folded[k] = v
    model = VGG()
    model.load_state_dict(folded, strict=True)
    return model.float().eval()


@torch.no_grad()
def _block_stats(model: nn.Module, images: np.ndarray, norm: dict, batch: int = 250) -> list[dict[str, np.ndarray]]:
    """Per block (conv i with ReLU i, in order): filter_sparsity, fire_fraction, density, mean of every channel."""
    convs = [m for m in model.backbone.children() if isinstance(m, nn.Conv2d)]
    relus = [m for m in model.backbone.children() if isinstance(m, nn.ReLU)]
    assert len(convs) == len(relus) == 8
    acc = [{"fires": 0, "nonzero": 0, "positions": 0, "mean_sum": 0} for _ in relus]

    def hook(a):
        def fn(mod, inp, out):
            o = out.detach()
            a["fires"] = a["fires"] + (o.flatten(2).amax(2) > 0).sum(0).numpy()
            a["nonzero"] = a["nonzero"] + (o > 0).sum((0, 2, 3)).numpy()
            a["positions"] += o.shape[0] * o.shape[2] * o.shape[3]
            a["mean_sum"] = a["mean_sum"] + o.mean((2, 3)).double().sum(0).numpy()
        return fn

    handles = [r.register_forward_hook(hook(a)) for r, a in zip(relus, acc)]
    mean = torch.tensor(norm["mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(norm["std"], dtype=torch.float32).view(1, 3, 1, 1)
    try:
        for s in range(0, len(images), batch):
            x = torch.from_numpy(images[s:s + batch]).permute(0, 3, 1, 2).float() / 255.0
            model((x - mean) / std)
    finally:
        for h in handles:
            h.remove()
    n = len(images)
    return [{"filter_sparsity": (c.weight.detach().flatten(1) == 0).double().mean(1).numpy(),
             "fire_fraction": a["fires"] / n, "density": a["nonzero"] / a["positions"], "mean": a["mean_sum"] / n}
            for c, a in zip(convs, acc)]


def _totals(rung: list[dict], dense: list[dict]) -> dict[str, int]:
    """Each channel once, by the first status that applies (weight-dead, activation-dead, dormant, weakened)."""
    out = dict.fromkeys(ORDER, 0)
    for st, ref in zip(rung, dense):
        flags = {"weight-dead": st["filter_sparsity"] == 1.0,
                 "activation-dead": st["fire_fraction"] == 0,
                 "dormant": st["density"] < 0.01,
                 "weakened": (ref["mean"] > 0) & (st["mean"] < 0.25 * ref["mean"])}
        taken = np.zeros(len(st["mean"]), bool)
        for name in ORDER:
            out[name] += int(np.sum(flags[name] & ~taken))
            taken |= flags[name]
    return out


def _zero_percent(model: nn.Module) -> int:
    ws = [m.weight for m, _ in _prunable(model)]
    return round(100 * sum(int((w == 0).sum()) for w in ws) / sum(w.numel() for w in ws))


@pytest.fixture(scope="module")
def expected(ladder):
    """(the rung's percent, its totals over the quick pass's 1,000 images), computed here."""
    from vggexplorer.data.cifar10 import load_bundled_test, stratified_indices

    split = load_bundled_test()
    images = split.images[stratified_indices(split.labels, QUICK, 0)]
    assert np.bincount(split.labels[stratified_indices(split.labels, QUICK, 0)]).tolist() == [100] * 10
    norm = json.loads((ladder / "normalization.json").read_text())
    dense, rung = _plain_model(ladder / "dense.pth"), _plain_model(ladder / "l1-80.pth")
    totals = _totals(_block_stats(rung, images, norm), _block_stats(dense, images, norm))
    return _zero_percent(rung), totals


def test_the_app_scans_a_student_ladder_and_its_dead_filter_totals_match_a_direct_computation(ladder, expected,
                                                                                              tmp_path):
    pct, want = expected
    assert pct == round(AMOUNT * 100)
    assert sum(want.values()) > 0, want  # something to count: a line of zeros would match a page that counts nothing
    env = {"VGGEXPLORER_MODELS": str(ladder), "VGGEXPLORER_CACHE": str(tmp_path / "cache"),
           "VGGEXPLORER_FULL_SCAN": "0"}
    with streamlit_server(env=env) as (url, _), browser_page() as page:
        page.goto(f"{url}/dead-filters?pruned={pct}")
        # the scan's progress bar, before the page has anything else to show
        page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stProgress"]')].some(e => {
            const t = e.innerText.trim();
            return t.startsWith('Scanning your models') || t.startsWith('Your models are queued'); })""",
                               timeout=120_000, polling=200)
        assert page.locator('[data-testid="stMarkdown"]').filter(has_text=TOTALS).count() == 0
        line = page.locator('[data-testid="stMarkdown"]').filter(has_text=TOTALS).first
        line.wait_for(timeout=180_000)
        wait_for_app(page, min_charts=2)
        no_errors(page)
        text = line.inner_text()
        body = page.locator('[data-testid="stMain"]').inner_text()
        assert f"pruned {pct}%" in text, text
        got = dict(zip(ORDER, (int(g.replace(",", "")) for g in TOTALS.search(text).groups())))
        assert got == want, (got, want)
        assert "1,000 of 10,000" in body, body[:800]
        assert "only for the shipped" not in body
        assert page.locator('[data-testid="stProgress"]').count() == 0  # the quick pass is all there is to run
