"""Real browser: a ladder saved as a student would save it, opened from a folder, scanned in the app, and the Dead
filters totals checked against a direct computation here.

The folder: the shipped dense weights as an ``nn.DataParallel`` state_dict, one rung from
``torch.nn.utils.prune.global_unstructured`` (L1, 80% of every conv weight and the classifier weight, no fine-tuning,
saved without ``prune.remove``: ``weight_orig`` / ``weight_mask``) and the dense model's ``normalization.json``.
The app runs with ``VGGEXPLORER_FULL_SCAN=0``, so it scans the quick pass only (1,000 stratified test images).

The expected totals are computed without the app's loader, scan or status rules (``tests/independent.py``): the files
are read and folded by hand, the inputs normalised with the json's mean and std, and each block's ReLU hooked
directly.
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
from ..independent import ORDER, plain_model, prunable, run_model, totals, zero_percent

require_chromium()

AMOUNT = 0.8
QUICK = 1000  # the app's quick pass: stratified, 100 per class, seed 0
TOTALS = re.compile(r"([\d,]+) weight-dead · ([\d,]+) activation-dead · ([\d,]+) dormant · ([\d,]+) weakened")


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    """The student's folder: dense.pth (DataParallel), l1-80.pth (prune's re-parametrisation kept), normalization.json."""
    from vggexplorer import load_model

    folder = tmp_path_factory.mktemp("student-ladder")
    dense = load_model(DENSE)
    torch.save(nn.DataParallel(dense).state_dict(), folder / "dense.pth")
    rung = load_model(DENSE)
    prune.global_unstructured(prunable(rung), pruning_method=prune.L1Unstructured, amount=AMOUNT)
    sd = rung.state_dict()
    assert any(k.endswith("weight_orig") for k in sd) and any(k.endswith("weight_mask") for k in sd)
    torch.save(sd, folder / "l1-80.pth")
    (folder / "normalization.json").write_text(json.dumps(dense.meta["normalization"]))
    return folder


@pytest.fixture(scope="module")
def expected(ladder):
    """(the rung's percent, its totals over the quick pass's 1,000 images), computed here."""
    from vggexplorer.data.cifar10 import load_bundled_test, stratified_indices

    split = load_bundled_test()
    images = split.images[stratified_indices(split.labels, QUICK, 0)]
    assert np.bincount(split.labels[stratified_indices(split.labels, QUICK, 0)]).tolist() == [100] * 10
    norm = json.loads((ladder / "normalization.json").read_text())
    dense, rung = plain_model(ladder / "dense.pth"), plain_model(ladder / "l1-80.pth")
    status, _ = totals(run_model(rung, images, norm)[0], run_model(dense, images, norm)[0])
    return zero_percent(rung), status


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
