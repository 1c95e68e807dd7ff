
import pytest
import torch

from vggexplorer import CheckpointError, load_model
from vggexplorer.model.checkpoint import pack_state_dict, save_checkpoint, unpack_state_dict
from vggexplorer.model.vgg import VGG

from ..conftest import DENSE, PRUNED
from ..helpers import Evil, lab_state_dict


@pytest.mark.parametrize("nested", [False, True])
def test_lab_state_dict_loads_strictly(tmp_path, nested):
    sd = lab_state_dict()
    path = tmp_path / "vgg.cifar.pretrained.pth"
    torch.save({"state_dict": sd} if nested else sd, path)
    m = load_model(path)
    assert not m.training
    # a bare lab state_dict carries no metadata: run it on ToTensor() inputs, like the lab
    assert m.meta["normalization"] is None
    for k, v in sd.items():
        assert torch.equal(m.state_dict()[k], v), k


def test_missing_and_wrong_shape_keys_are_named(tmp_path):
    sd = lab_state_dict()
    del sd["backbone.conv3.weight"]
    sd["classifier.weight"] = torch.zeros(100, 512)
    sd["extra.thing"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as e:
        load_model(path)
    msg = str(e.value)
    assert "backbone.conv3.weight" in msg and "extra.thing" in msg and "classifier.weight" in msg


def test_refuses_pickle_that_runs_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": lab_state_dict(), "payload": Evil(marker)}, path)
    with pytest.raises(CheckpointError, match="not plain weights"):
        load_model(path)
    assert not marker.exists(), "the pickle's code ran"


def test_refuses_non_checkpoint_files(tmp_path):
    p = tmp_path / "x.pt"
    p.write_bytes(b"this is text")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_model(p)
    with pytest.raises(CheckpointError, match=r"starts with b'this is '"):
        load_model(p)
    p.write_bytes(b"PK\x03\x04 half a zip")
    with pytest.raises(CheckpointError, match=r"damaged \(RuntimeError: .*not a ZIP archive\)\. Save"):
        load_model(p)  # torch's several lines of advice are cut to their first sentence
    p.write_bytes(b"\x80\x02garbage")
    with pytest.raises(CheckpointError, match="damaged: its pickle data cannot be read"):
        load_model(p)
    p.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_model(p)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_model(tmp_path)


def test_sparse_packing_roundtrip_is_exact():
    torch.manual_seed(0)
    w = torch.randn(8, 4, 3, 3)
    w[w.abs() < 0.7] = 0
    sd = {"a.weight": w, "a.bias": torch.randn(8), "n": torch.tensor(3)}
    dense, packed = pack_state_dict(sd, half=False, sparse=True)
    assert "a.weight" in packed and packed["a.weight"]["values"].numel() == int((w != 0).sum())
    out = unpack_state_dict(dense, packed)
    assert torch.equal(out["a.weight"], w) and torch.equal(out["a.bias"], sd["a.bias"])
    assert torch.equal(out["n"], sd["n"])


def test_save_then_load_keeps_meta(tmp_path):
    m = VGG().eval()
    path = save_checkpoint(tmp_path / "c.pt", m, {"role": "dense", "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3}})
    back = load_model(path)
    assert back.meta["normalization"]["mean"] == [0.5] * 3
    for k, v in m.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(back.state_dict()[k], v.half().float()), k


@pytest.mark.parametrize("path", [DENSE, PRUNED])
def test_shipped_checkpoints_are_plain_and_self_describing(path):
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["format"] == "vggexplorer"
    meta = raw["meta"]
    for key in ("role", "normalization", "classes", "recipe", "metrics", "hardware", "wall_time_s"):
        assert key in meta, key
    assert meta["metrics"]["test_top1"] >= 0.925
    assert len(meta["classes"]) == 10
    m = load_model(path)
    assert not m.training and m.meta["nonfinite"] == []


def test_shipped_pruned_is_pruned_with_metadata(dense_model, pruned_model):
    from vggexplorer.model.vgg import zero_fraction as overall_sparsity

    s = overall_sparsity(pruned_model)
    assert 0.50 <= s <= 0.60
    p = pruned_model.meta["pruning"]
    assert set(p["thresholds"]) == set(p["sparsity_per_layer"]) and len(p["thresholds"]) == 9
    assert abs(p["overall_sparsity"] - s) < 1e-9
    # every pruned weight is below its layer's threshold in the dense model? no: fine-tuning moves
    # weights. What must hold: the dense model is not sparse and the card's figures are the file's.
    assert overall_sparsity(dense_model) < 0.01
    d, q = dense_model.meta["metrics"]["test_top1"], pruned_model.meta["metrics"]["test_top1"]
    assert q >= d - 0.003


def test_a_damaged_mask_is_named_by_both_readers(tmp_path):
    """One mask check: the full loader and the compact one refuse a mask whose bits do not match its values."""
    from vggexplorer.model.checkpoint import CheckpointError, make_checkpoint, unpack_mask
    from vggexplorer.model.compact import load_compact

    w = torch.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0]])
    _, packed = pack_state_dict({"w": w}, half=False, sparse=True)
    assert unpack_mask("w", packed["w"]).tolist() == [False, True, False, True, False, False]
    damaged = {**packed["w"], "values": torch.tensor([1.5, 2.0, 3.0])}  # 3 values for 2 mask bits
    message = ("Sparse tensor 'w' has 3 values for 2 mask bits: the file is damaged. Re-create it with "
               "`python -m vggexplorer prune`.")
    with pytest.raises(CheckpointError) as e:
        unpack_state_dict({}, {"w": damaged})
    assert str(e.value) == message

    torch.manual_seed(0)
    m = VGG().eval()
    with torch.no_grad():
        w = m.backbone.conv7.weight
        w[w.abs() <= w.abs().flatten().kthvalue(int(0.9 * w.numel())).values] = 0  # 90% zero: held packed
    ckpt = make_checkpoint(m, {"role": "pruned"}, half=False, sparse=True)
    entry = ckpt["sparse"]["backbone.conv7.weight"]
    entry["values"] = entry["values"][:-1]  # one value short
    torch.save(ckpt, tmp_path / "bad.pt")
    n = int(entry["values"].numel())
    tail = f"has {n} values for {n + 1} mask bits: the file is damaged"
    with pytest.raises(CheckpointError, match=rf"^Sparse tensor 'backbone\.conv7\.weight' {tail}"):
        load_model(tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as e:  # the compact loader unpacks the held layer itself, and names the file
        load_compact(tmp_path / "bad.pt")
    assert str(e.value).startswith(f"Sparse tensor 'backbone.conv7.weight' in {tmp_path / 'bad.pt'} {tail}")
