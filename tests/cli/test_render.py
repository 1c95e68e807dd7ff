"""``python -m vggexplorer render`` on a checkpoint whose first block is the hand-made edge detector."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vggexplorer.cli.main import main
from vggexplorer.data.cifar10 import load_bundled_test
from vggexplorer.model.checkpoint import save_checkpoint
from vggexplorer.model.vgg import VGG_CFG

from ..probe.test_featurevis import edge_model, edge_response


@pytest.fixture(scope="module")
def edge_ckpt(tmp_path_factory):
    """The full architecture (a checkpoint must have it); conv0's filters 0..2 as in the probe test, the other 61
    all zero (weight-dead); everything after conv0 random and never run."""
    path = tmp_path_factory.mktemp("ckpt") / "edge.pt"
    m = edge_model(cfg=VGG_CFG, num_classes=10)
    save_checkpoint(path, m, {"normalization": None, "role": "dense"})
    return path


def test_render_writes_pngs_and_renders_json_and_resumes(edge_ckpt, tmp_path, capsys):
    out = tmp_path / "renders"
    args = ["render", "--checkpoint", str(edge_ckpt), "--block", "conv0", "--out", str(out), "--steps", "8",
            "--test-images", "20"]
    assert main(args + ["--channels", "0,1"]) == 0
    assert "2 rendered, 0 already there, 1 dead" in capsys.readouterr().out
    data = json.loads((out / "renders.json").read_text())
    r0, r1 = data["renders"]["conv0-0"], data["renders"]["conv0-1"]
    png = np.asarray(Image.open(out / "conv0-0.png"))
    assert png.shape == (32, 32, 3) and png.dtype == np.uint8 and r0["png"] == "conv0-0.png"
    # eps 1e-5 after loading (a state_dict does not keep BN's eps): relative 5e-6 off the hand value
    assert r0["activation"] == pytest.approx(edge_response(png), rel=1e-4)
    split = load_bundled_test()
    rng = np.random.default_rng(0)  # 2 of each class, class by class, as --test-images 20 takes them
    picked = sorted(int(i) for c in range(10) for i in rng.choice(np.flatnonzero(split.labels == c), 2, replace=False))
    assert len({int(split.labels[i]) for i in picked}) == 10  # not the first 20 (all airplanes)
    by_hand = {i: edge_response(split.images[i]) for i in picked}
    assert r0["best_test_activation"] == pytest.approx(max(by_hand.values()), rel=1e-4)
    assert r0["best_test_image"] == max(by_hand, key=by_hand.get) and data["test_images"] == 20
    assert r0["ratio"] == pytest.approx(r0["activation"] / r0["best_test_activation"])
    assert r0["settings"]["steps"] == 8 and r0["seed"] == 0 and r0["dead"] is None
    assert (r1["dead"], r1["png"]) == ("weight-dead", None) and not (out / "conv0-1.png").exists()

    assert main(args + ["--channels", "1,0"]) == 0
    assert "0 rendered, 2 already there" in capsys.readouterr().out
    assert main(args + ["--channels", "all"]) == 0  # 62 more: filter 2 never fires, 3..63 are all zero
    assert "62 rendered, 2 already there, 63 dead (of 64 channels" in capsys.readouterr().out
    data = json.loads((out / "renders.json").read_text())
    assert data["renders"]["conv0-2"]["dead"] == "activation-dead" and len(data["renders"]) == 64


def test_render_refuses_bad_input_with_a_message(edge_ckpt, tmp_path, capsys):
    base = ["render", "--checkpoint", str(edge_ckpt), "--out", str(tmp_path), "--steps", "2", "--test-images", "4"]
    assert main(base + ["--block", "conv0", "--channels", "0,64"]) == 2
    assert "'64' is not a channel of conv0 (0..63)" in capsys.readouterr().err
    assert main(base + ["--block", "conv9", "--channels", "0"]) == 2
    assert "choose one of conv0" in capsys.readouterr().err
    (tmp_path / "renders.json").write_text(json.dumps({"checkpoint": "other.pt", "checkpoint_sha256": "0" * 64}))
    assert main(base + ["--block", "conv0", "--channels", "0"]) == 2
    assert "another checkpoint" in capsys.readouterr().err
