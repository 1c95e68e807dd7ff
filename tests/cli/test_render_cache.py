"""``python -m vggexplorer render --cache``: fills the app's renders cache, resumably, for several checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vggexplorer.cli.main import main
from vggexplorer.model.checkpoint import save_checkpoint
from vggexplorer.model.vgg import VGG_CFG
from vggexplorer.probe.featurevis import WEIGHT_DEAD, Settings
from vggexplorer.views import render_cache

from ..probe.test_featurevis import edge_model


@pytest.fixture()
def two_ckpts(tmp_path, monkeypatch):
    monkeypatch.setenv("VGGEXPLORER_CACHE", str(tmp_path / "cache"))
    a, b = edge_model(cfg=VGG_CFG, num_classes=10), edge_model(cfg=VGG_CFG, num_classes=10)
    with torch.no_grad():
        b.backbone.conv0.weight[0].neg_()
    return (save_checkpoint(tmp_path / "a.pt", a, {"normalization": None}),
            save_checkpoint(tmp_path / "b.pt", b, {"normalization": None}))


def test_render_cache_fills_what_the_app_reads_and_resumes(two_ckpts, capsys):
    pa, pb = two_ckpts
    args = ["render", "--cache", "--checkpoint", str(pa), "--checkpoint", str(pb), "--block", "conv0",
            "--channels", "0,1", "--steps", "4"]
    assert main(args) == 0
    # channel 0 rendered in both models, channel 1 weight-dead in both (every filter but 0, 2 is zero)
    assert "4 rendered, 0 already there, 2 dead (2 models, conv0)" in capsys.readouterr().out
    got = render_cache.cached({"a": pa, "b": pb}, "conv0", 0, Settings.for_steps(4))
    assert got["a"].image is not None and got["b"].image is not None
    assert not np.array_equal(got["a"].image, got["b"].image)  # opposite edge detectors, opposite renders
    assert render_cache.cached({"a": pa}, "conv0", 1, Settings.for_steps(4))["a"].dead == WEIGHT_DEAD
    assert main(args) == 0
    assert "0 rendered, 4 already there" in capsys.readouterr().out


def test_render_cache_every_block(two_ckpts, capsys):
    pa, _ = two_ckpts
    assert main(["render", "--cache", "--checkpoint", str(pa), "--block", "all", "--channels", "0",
                 "--steps", "2"]) == 0
    assert "8 rendered, 0 already there" in capsys.readouterr().out


def test_bad_flags_say_what_to_do(two_ckpts, tmp_path, capsys):
    pa, _ = two_ckpts
    assert main(["render", "--cache", "--checkpoint", str(pa), "--block", "conv9", "--channels", "0"]) == 2
    assert "conv9" in capsys.readouterr().err
    assert main(["render", "--checkpoint", str(pa), "--block", "conv0", "--channels", "0"]) == 2
    assert "--out" in capsys.readouterr().err
