"""The renders' disk cache: keyed by the checkpoint's content, served from disk the second time."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from vggexplorer import files
from vggexplorer.model.checkpoint import load_model, save_checkpoint
from vggexplorer.model.vgg import VGG_CFG
from vggexplorer.probe import featurevis as fv
from vggexplorer.views import render_cache as rc

from ..probe.test_featurevis import FAST, edge_model


@pytest.fixture()
def ckpts(tmp_path):
    """Two tiny checkpoints that differ in conv0's filter 0 (an edge detector and its mirror image)."""
    a, b = edge_model(cfg=VGG_CFG, num_classes=10), edge_model(cfg=VGG_CFG, num_classes=10)
    import torch

    with torch.no_grad():
        b.backbone.conv0.weight[0].neg_()
    pa = save_checkpoint(tmp_path / "a.pt", a, {"normalization": None, "role": "dense"})
    pb = save_checkpoint(tmp_path / "b.pt", b, {"normalization": None, "role": "dense"})
    return pa, pb


def test_the_key_changes_when_the_checkpoint_changes(ckpts, tmp_path):
    pa, pb = ckpts
    ka, kb = rc.key_for(pa, "conv0", 0, FAST), rc.key_for(pb, "conv0", 0, FAST)
    assert ka != kb
    same = shutil.copy(pa, tmp_path / "copy.pt")  # the same bytes elsewhere: the same renders
    assert rc.key_for(same, "conv0", 0, FAST) == ka
    shutil.copy(pb, pa)  # the file rewritten with other weights: a new stamp, so its hash is taken again
    assert rc.key_for(pa, "conv0", 0, FAST) == kb


def test_the_key_depends_on_block_channel_settings_and_seed():
    sha = "0" * 64
    keys = {rc.render_key(sha, "conv0", 0, FAST), rc.render_key(sha, "conv1", 0, FAST),
            rc.render_key(sha, "conv0", 1, FAST), rc.render_key(sha, "conv0", 0, fv.Settings.for_steps(8)),
            rc.render_key(sha, "conv0", 0, FAST, seed=1), rc.render_key("1" * 64, "conv0", 0, FAST)}
    assert len(keys) == 6
    assert rc.render_key(sha, "conv0", 0, fv.Settings(steps=48, pre_relu_steps=8)) == rc.render_key(sha, "conv0", 0, FAST)


def test_a_second_request_is_served_from_disk_without_rendering(ckpts, tmp_path, monkeypatch):
    pa, _ = ckpts
    root = tmp_path / "cache"
    model = load_model(pa)
    assert rc.cached({"dense": pa}, "conv0", 0, FAST, root=root) == {"dense": None}
    first = rc.fill({"dense": (model, pa)}, "conv0", [0, 1], FAST, root=root)
    assert first["dense"][1].dead == fv.WEIGHT_DEAD and first["dense"][0].image is not None
    assert len(list(rc.entries_dir(root).glob("*.json"))) == 2 and len(list(rc.entries_dir(root).glob("*.png"))) == 1

    def no_render(*a, **k):
        raise AssertionError("rendered again")

    monkeypatch.setattr(rc, "render_across", no_render)
    steps = []
    again = rc.fill({"dense": (model, pa)}, "conv0", [0, 1], FAST, root=root, on_step=lambda d, t: steps.append(d))
    assert steps == [FAST.steps]  # a request served from disk still completes its progress
    for c in (0, 1):
        a, b = first["dense"][c], again["dense"][c]
        assert (a.dead, a.activation, a.steps, a.settings, a.reason) == (b.dead, b.activation, b.steps, b.settings,
                                                                         b.reason)
        assert (a.image is None and b.image is None) or np.array_equal(a.image, b.image)
    assert rc.cached({"dense": pa}, "conv0", 0, FAST, root=root)["dense"].activation == first["dense"][0].activation


def test_a_damaged_entry_is_rendered_again(ckpts, tmp_path):
    pa, _ = ckpts
    root = tmp_path / "cache"
    model = load_model(pa)
    rc.fill({"dense": (model, pa)}, "conv0", [0], FAST, root=root)
    key = rc.key_for(pa, "conv0", 0, FAST)
    (rc.entries_dir(root) / f"{key}.json").write_text("{not json")
    assert rc.load(key, root) is None
    assert rc.fill({"dense": (model, pa)}, "conv0", [0], FAST, root=root)["dense"][0].image is not None
    assert rc.load(key, root) is not None
    (rc.entries_dir(root) / f"{key}.png").unlink()
    assert rc.load(key, root) is None


def test_the_cache_directory_is_one_place(tmp_path, monkeypatch):
    monkeypatch.setenv("VGGEXPLORER_CACHE", str(tmp_path / "c"))
    assert files.cache_dir() == tmp_path / "c"
    assert rc.entries_dir() == tmp_path / "c" / "renders"
    monkeypatch.delenv("VGGEXPLORER_CACHE")
    assert files.cache_dir() == files.REPO_ROOT / "runs" / "cache"  # a checkout: under the ignored runs/
