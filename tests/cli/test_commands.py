"""The CLI as a user runs it: evaluate agrees with the model card; scan and export write their files."""

import json
import subprocess
import sys

import pytest
import torch

from ..conftest import DENSE, PRUNED, REPO


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vggexplorer", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("ckpt", [DENSE, PRUNED])
def test_evaluate_slice_agrees_with_the_model_card(ckpt):
    out = run_cli("evaluate", "--checkpoint", str(ckpt), "--limit", "500", "--json")
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    card = torch.load(ckpt, map_location="cpu", weights_only=True)["meta"]["metrics"]["test_top1"]
    assert rep["n_images"] == 500 and len(rep["per_class"]) == 10
    assert min(rep["per_class"].values()) > 0  # every class is in the slice
    assert abs(rep["top1"] - card) <= 0.02
    assert rep["params"] == 9_228_362 and rep["macs"] == 605_754_368
    assert 0 < rep["nonzero_params"] <= rep["params"]


def test_evaluate_reports_a_bad_checkpoint_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    out = run_cli("evaluate", "--checkpoint", str(bad), "--json")
    assert out.returncode == 2
    assert "error:" in out.stderr and "Traceback" not in out.stderr


def test_scan_and_export_write_their_files(tmp_path):
    out = run_cli("scan", "--checkpoint", str(DENSE), "--checkpoint", str(PRUNED), "--limit", "40",
                  "--out", str(tmp_path / "scan.npz"))
    assert out.returncode == 0, out.stderr
    from vggexplorer.stats.scan import load_scan

    s = load_scan(tmp_path / "scan.npz")
    assert s.meta["n_images"] == 40 and s.roles == ["dense", "p55"]  # pruned.pt is the ladder's 55% rung
    assert s.stat("p55", "conv7", "topk_index").shape == (512, 9)
    assert set(s.meta["compare"]["pairs"][0]["cka"]) == {f"conv{i}" for i in range(8)}
    out = run_cli("compare", "--scan", str(tmp_path / "scan.npz"), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [p["role"] for p in report["pairs"]] == ["p55"] and report["n_images"] == 40
    out = run_cli("compare", "--scan", str(tmp_path / "missing.npz"))
    assert out.returncode == 2 and "vggexplorer scan" in out.stderr  # a user error, named, no traceback
    out = run_cli("export", "--image", "6000", "--out", str(tmp_path / "frog.png"), "--checkpoint", str(DENSE),
                  "--checkpoint", str(PRUNED))
    assert out.returncode == 0, out.stderr
    from PIL import Image

    im = Image.open(tmp_path / "frog.png")
    assert im.width > 500 and im.height > 2000  # 16 labelled grids: 8 blocks x 2 models
