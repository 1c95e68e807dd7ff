"""The CLI as a user runs it: evaluate agrees with the model card; scan and export write their files."""

import json
import subprocess
import sys

import numpy as np
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


# ---- prune's and train's flags are their configs' fields ------------------------------------------

def _options(command: str) -> dict[str, object]:
    """Flag -> default of one subcommand's parser."""
    from vggexplorer.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return {a.option_strings[-1]: a.default for a in sub._actions if a.option_strings}


PIPELINE_FLAGS = {"--help", "--data-dir", "--download-root", "--checkpoint", "--run-dir", "--out", "--resume"}


def test_prune_flags_are_prune_config_fields_with_its_defaults():
    from dataclasses import fields

    from vggexplorer.training.prune import PruneConfig

    opts = _options("prune")
    defaults = PruneConfig()
    assert set(opts) - PIPELINE_FLAGS == {"--" + f.name.replace("_", "-") for f in fields(PruneConfig)}
    for f in fields(PruneConfig):
        assert opts["--" + f.name.replace("_", "-")] == getattr(defaults, f.name), f.name
    # every flag prune took before its flags came from PruneConfig, by name
    assert {"--target-sparsity", "--finetune-epochs", "--finetune-lr", "--scan-sparsities", "--scan-images",
            "--batch-size", "--seed", "--precision", "--max-steps-per-epoch", "--max-layer-sparsity",
            "--distill-from", "--distill-weight", "--distill-temperature"} <= set(opts)


def test_train_flags_are_train_config_fields_but_extra():
    from dataclasses import fields

    from vggexplorer.training.train import TrainConfig

    opts = _options("train")
    assert set(opts) - PIPELINE_FLAGS == {"--" + f.name.replace("_", "-") for f in fields(TrainConfig)} - {"--extra"}
    assert opts["--nesterov"] is True and opts["--resolution-schedule"] == "16:4,24:2,32:14"


def test_prune_flags_parse_into_the_config():
    from vggexplorer.cli.flags import config_from_args
    from vggexplorer.cli.main import build_parser
    from vggexplorer.training.prune import PruneConfig

    args = build_parser().parse_args(["prune", "--target-sparsity", "0.75", "--scan-sparsities", "0.5,0.9",
                                      "--distill-from", "checkpoints/dense.pt", "--distill-weight", "0.5",
                                      "--max-steps-per-epoch", "3", "--resume"])
    assert config_from_args(PruneConfig, args) == PruneConfig(
        target_sparsity=0.75, scan_sparsities=[0.5, 0.9], distill_from="checkpoints/dense.pt", distill_weight=0.5,
        max_steps_per_epoch=3)
    assert args.resume and config_from_args(PruneConfig, build_parser().parse_args(["prune"])) == PruneConfig()


def test_the_ladder_script_uses_only_prune_flags():
    import re

    script = (REPO / "scripts" / "make_ladder.sh").read_text()
    used = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", script))
    assert {"--scan-sparsities", "--max-layer-sparsity", "--distill-temperature"} <= used
    assert used <= set(_options("prune"))


def test_the_model_card_prune_command_prints_the_non_default_flags_and_parses_back():
    import shlex

    from vggexplorer.cli.card import prune_command
    from vggexplorer.cli.flags import config_from_args
    from vggexplorer.cli.main import build_parser
    from vggexplorer.training.prune import PruneConfig

    recipe = {"command": "prune", "source_checkpoint": "checkpoints/pruned.pt", "target_sparsity": 0.75,
              "finetune_epochs": 3, "scan_sparsities": [0.3, 0.9], "scan_images": 2000, "finetune_lr": 0.01,
              "momentum": 0.9, "seed": 0, "max_layer_sparsity": 0.99, "distill_from": "checkpoints/dense.pt",
              "distill_weight": 0.5, "distill_temperature": 4.0, "max_steps_per_epoch": None,
              "precision_used": "bf16", "source_sha256": "ab12"}
    cmd = prune_command(recipe, "checkpoints/pruned-75.pt", "runs/p75")
    assert cmd == ("python -m vggexplorer prune --data-dir ../shared/data/cifar10 --checkpoint checkpoints/pruned.pt "
                   "--target-sparsity 0.75 --finetune-epochs 3 --scan-sparsities 0.3,0.9 --scan-images 2000 "
                   "--max-layer-sparsity 0.99 --distill-from checkpoints/dense.pt --distill-weight 0.5 "
                   "--run-dir runs/p75 --out checkpoints/pruned-75.pt")
    cfg = config_from_args(PruneConfig, build_parser().parse_args(shlex.split(cmd)[3:]))
    assert cfg == PruneConfig(target_sparsity=0.75, finetune_epochs=3, scan_sparsities=[0.3, 0.9], scan_images=2000,
                              max_layer_sparsity=0.99, distill_from="checkpoints/dense.pt", distill_weight=0.5)
    # a recipe at the defaults: only the rung's own target and epochs
    assert prune_command({"dense_checkpoint": "d.pt", "target_sparsity": 0.55, "finetune_epochs": 5}, "o.pt", "r") == (
        "python -m vggexplorer prune --data-dir ../shared/data/cifar10 --checkpoint d.pt --target-sparsity 0.55 "
        "--finetune-epochs 5 --run-dir r --out o.pt")


# ---- your own checkpoints: scan names them as the app does, compare reads the file ---------------------------

def test_scan_of_your_own_checkpoints_then_compare_reads_it(tmp_path, capsys, test_split):
    import shutil

    from vggexplorer.cli.main import main
    from vggexplorer.data.cifar10 import stratified_indices
    from vggexplorer.model.ladder import LADDER
    from vggexplorer.stats.scan import load_scan

    mine = tmp_path / "my-rung.pt"  # a name the shipped ladder does not know
    shutil.copy(next(r for r in LADDER if r.role == "p90").path, mine)
    out = tmp_path / "scan.npz"
    assert main(["scan", "--checkpoint", str(DENSE), "--checkpoint", str(mine), "--limit", "50",
                 "--out", str(out)]) == 0
    assert "stratified sample (50 of 10,000 test images, 5 per class, seed 0)" in capsys.readouterr().out
    chosen = stratified_indices(test_split.labels, 50, seed=0)
    scan = load_scan(out)
    assert scan.roles == ["dense", "p90"] and scan.label("p90") == "pruned 90%"  # 90.24% of its weights are zero
    assert scan.meta["checkpoints"]["p90"] == str(mine) and np.array_equal(scan.indices, chosen)
    assert main(["compare", "--scan", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_images"] == 50 and [(p["role"], p["percent"]) for p in report["pairs"]] == [("p90", 90)]
    rows = report["pairs"][0]["disagreement_list"]
    assert rows and {r["index"] for r in rows} <= set(chosen.tolist())
    assert all(r["truth"] == test_split.classes[test_split.labels[r["index"]]] for r in rows)


def test_scan_refuses_two_checkpoints_of_the_same_sparsity(tmp_path, capsys):
    import shutil

    from vggexplorer.cli.main import build_parser, main

    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    shutil.copy(PRUNED, a)
    shutil.copy(PRUNED, b)
    assert main(["scan", "--checkpoint", str(DENSE), "--checkpoint", str(a), "--checkpoint", str(b),
                 "--out", str(tmp_path / "s.npz")]) == 2
    err = capsys.readouterr().err
    assert str(a) in err and str(b) in err and "55%" in err and "Traceback" not in err
    assert not (tmp_path / "s.npz").exists()
    assert main(["scan", "--checkpoint", str(a), "--checkpoint", str(DENSE), "--out", str(tmp_path / "s.npz")]) == 2
    assert "dense model first" in capsys.readouterr().err
    sub = next(x for x in build_parser()._actions if x.dest == "command").choices["scan"]
    assert "stratified" in next(x for x in sub._actions if x.dest == "limit").help
