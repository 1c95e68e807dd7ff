"""Your own ladder from a folder: which file is dense, how rungs are named, nesting, skipped files, uploads."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from vggexplorer.model.checkpoint import CheckpointError, load_model
from vggexplorer.model.folder_ladder import LADDER_JSON, nesting, open_folder, save_upload

from ..conftest import CKPT_DIR, DENSE


@pytest.fixture(scope="module")
def dense_sd():
    return {k: v.clone() for k, v in load_model(DENSE).state_dict().items()}


def _zero_smallest(sd: dict, fraction: float) -> dict:
    """Global magnitude pruning of every conv and linear weight, worked out here (not with the package's code)."""
    out = {k: v.clone() for k, v in sd.items()}
    names = [k for k, v in out.items() if k.endswith("weight") and v.dim() > 1]
    flat = torch.cat([out[k].abs().flatten() for k in names])
    k = int(round(fraction * flat.numel()))
    threshold = flat.kthvalue(k).values
    for n in names:
        out[n][out[n].abs() <= threshold] = 0
    return out


def test_dense_is_the_file_with_fewest_zeros_and_rungs_are_named_by_measured_percent(tmp_path, dense_sd):
    torch.save(dense_sd, tmp_path / "a-base.pth")
    torch.save(_zero_smallest(dense_sd, 0.80), tmp_path / "b.pt")
    torch.save(_zero_smallest(dense_sd, 0.60), tmp_path / "c.pt")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    ladder = open_folder(tmp_path)
    assert [r.filename for r in ladder.rungs] == ["a-base.pth", "c.pt", "b.pt"]  # dense, then by sparsity
    assert [r.role for r in ladder.rungs] == ["dense", "p60", "p80"] and ladder.percents == [60, 80]
    assert ladder.by_percent(80).label == "pruned 80%" and ladder.default.percent == 60
    assert ladder.nesting.nested and not ladder.notes and not ladder.is_shipped


def test_ladder_json_names_dense(tmp_path, dense_sd):
    torch.save(_zero_smallest(dense_sd, 0.30), tmp_path / "trained.pt")  # the student's "dense" already has zeros
    torch.save(_zero_smallest(dense_sd, 0.10), tmp_path / "other.pt")
    (tmp_path / LADDER_JSON).write_text(json.dumps({"dense": "trained.pt"}))
    ladder = open_folder(tmp_path)
    assert ladder.dense.filename == "trained.pt" and ladder.percents == [10]
    (tmp_path / LADDER_JSON).write_text(json.dumps({"dense": "gone.pt"}))
    with pytest.raises(CheckpointError, match="gone.pt.*other.pt, trained.pt"):
        open_folder(tmp_path)


def test_a_mismatched_file_is_skipped_with_the_layer_and_both_shapes(tmp_path, dense_sd):
    shutil.copy(DENSE, tmp_path / "dense.pt")
    shutil.copy(CKPT_DIR / "pruned-90.pt", tmp_path / "p90.pt")
    narrow = {k: v for k, v in dense_sd.items()}
    narrow["backbone.conv0.weight"] = narrow["backbone.conv0.weight"][:32]  # a channel-pruned conv0
    torch.save(narrow, tmp_path / "channel-pruned.pt")
    ladder = open_folder(tmp_path)
    assert ladder.percents == [90]
    (note,) = ladder.notes
    assert "channel-pruned.pt" in note and "backbone.conv0.weight" in note
    assert "(32, 3, 3, 3)" in note and "(64, 3, 3, 3)" in note


def test_same_percent_keeps_the_first_and_says_so(tmp_path, dense_sd):
    torch.save(dense_sd, tmp_path / "dense.pt")
    torch.save(_zero_smallest(dense_sd, 0.70), tmp_path / "x.pt")
    torch.save(_zero_smallest(dense_sd, 0.702), tmp_path / "y.pt")  # also rounds to 70%
    ladder = open_folder(tmp_path)
    assert ladder.percents == [70] and ladder.by_percent(70).filename == "x.pt"
    assert any("y.pt" in n and "x.pt" in n and "70%" in n for n in ladder.notes)


def test_folders_that_do_not_make_a_ladder_are_refused_with_the_reason(tmp_path, dense_sd):
    with pytest.raises(CheckpointError, match="no .pt or .pth"):
        open_folder(tmp_path)
    torch.save(dense_sd, tmp_path / "dense.pt")
    with pytest.raises(CheckpointError, match="no pruned one"):
        open_folder(tmp_path)
    with pytest.raises(CheckpointError, match="not a folder"):
        open_folder(tmp_path / "dense.pt")


def test_nesting_counts_the_weights_that_came_back():
    # worked out by hand: rung a zeros {0, 1}; rung b zeros {1, 2, 3}: weight 0 is zero on a, non-zero on b
    a = {"w": torch.tensor([True, True, False, False])}
    b = {"w": torch.tensor([False, True, True, True])}
    c = {"w": torch.tensor([True, True, True, True])}
    n = nesting({"p50": a, "p75": b, "p100": c})
    assert n.breaks == (("p50", "p75", 1),) and not n.nested
    assert "not nested" in n.sentence(str) and "1 weights zero on p50 are non-zero on p75" in n.sentence(str)
    assert nesting({"p50": a, "p100": c}).nested


def test_a_non_nested_ladder_is_measured(tmp_path, dense_sd):
    torch.save(dense_sd, tmp_path / "dense.pt")
    low = _zero_smallest(dense_sd, 0.5)
    high = {k: v.clone() for k, v in _zero_smallest(dense_sd, 0.9).items()}
    w = high["backbone.conv3.weight"]
    low_zero = low["backbone.conv3.weight"] == 0
    idx = torch.nonzero(low_zero.flatten())[:7, 0]  # 7 weights zero at 50% get back a value at 90%
    w.view(-1)[idx] = 1.0
    torch.save(low, tmp_path / "low.pt")
    torch.save(high, tmp_path / "high.pt")
    ladder = open_folder(tmp_path)
    assert ladder.nesting.breaks == (("p50", "p90", 7),)


def test_uploads_become_a_content_addressed_folder(tmp_path, dense_sd):
    import io

    def raw(sd):
        buf = io.BytesIO()
        torch.save(sd, buf)
        return buf.getvalue()

    d, p = raw(dense_sd), raw(_zero_smallest(dense_sd, 0.8))
    # the "dense" upload is named dense even though it is not the file with fewer zeros by name order
    f1 = save_upload(("my model.pth", d), [("pruned.pth", p)], "cifar10", root=tmp_path)
    f2 = save_upload(("my model.pth", d), [("pruned.pth", p)], "cifar10", root=tmp_path)
    f3 = save_upload(("my model.pth", d), [("pruned.pth", p)], "lab", root=tmp_path)
    assert f1 == f2 != f3
    ladder = open_folder(f1)
    assert ladder.dense.filename == "my_model.pth" and ladder.percents == [80]
    assert json.loads((f1 / "normalization.json").read_text())["std"] == [0.247, 0.2435, 0.2616]
    assert json.loads((f3 / "normalization.json").read_text()) == {"mean": [0.0] * 3, "std": [1.0] * 3}
    f4 = save_upload(("d.pt", d), [("p.pt", p)], "checkpoint", root=tmp_path)
    assert not (f4 / "normalization.json").exists()
