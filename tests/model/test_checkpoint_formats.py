"""What training scripts save, each built here from the shipped dense checkpoint, and the normalization.json beside
a checkpoint. Every file is made in tmp_path from checkpoints/dense.pt's weights; the expected values are worked
out here from the tensors written, not by the loader."""

from __future__ import annotations

import copy
import io
import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from vggexplorer import CheckpointError, load_model, preprocess
from vggexplorer.data.images import (CIFAR10_NORMALIZATION, FROM_CHECKPOINT, FROM_FILE, FROM_LAB, PRESET_CHECKPOINT,
                                     PRESET_CIFAR10, PRESET_LAB, describe_normalization)
from vggexplorer.model.checkpoint import write_normalization
from vggexplorer.model.vgg import blocks, parameter_name

from ..conftest import DENSE

CIFAR_TEXT = "mean (0.491, 0.482, 0.446), std (0.247, 0.244, 0.262)"  # the dense file's values, rounded by hand
NONE_TEXT = "none: ToTensor() only"


@pytest.fixture(scope="module")
def dense():
    return load_model(DENSE)


@pytest.fixture(scope="module")
def sd(dense):
    return {k: v.clone() for k, v in dense.state_dict().items()}


@pytest.fixture(scope="module")
def images(test_split):
    return test_split.images[::1000][:8]  # 8 images, one per 1000 of the class-sorted split: several classes


def save(obj, tmp_path, name="model.pth"):
    torch.save(obj, tmp_path / name)
    return tmp_path / name


def assert_same_weights(model, sd):
    got = model.state_dict()
    assert set(got) == set(sd)
    for k, v in sd.items():
        assert got[k].dtype == (torch.float32 if v.is_floating_point() else v.dtype), k
        assert torch.equal(got[k], v.float() if v.is_floating_point() else v), k


# ---- prefixes and wrappers ------------------------------------------------------------------------------------

def test_a_real_dataparallel_state_dict_loads(tmp_path, dense, sd):
    dp = nn.DataParallel(copy.deepcopy(dense))
    saved = {k: v.cpu() for k, v in dp.state_dict().items()}
    assert all(k.startswith("module.") for k in saved)
    m = load_model(save(saved, tmp_path))
    assert_same_weights(m, sd)
    assert m.meta["source"] == "DataParallel state_dict" and m.meta["folded_masks"] == []


@pytest.mark.parametrize("prefix, source", [
    ("_orig_mod.", "torch.compile state_dict"),
    ("module._orig_mod.", "DataParallel torch.compile state_dict"),
    ("_orig_mod.module.", "DataParallel torch.compile state_dict"),
    ("module.module.", "DataParallel state_dict"),
])
def test_compile_and_nested_prefixes_load(tmp_path, sd, prefix, source):
    m = load_model(save({prefix + k: v for k, v in sd.items()}, tmp_path))
    assert_same_weights(m, sd)
    assert m.meta["source"] == source


@pytest.mark.parametrize("key", ["state_dict", "model", "model_state_dict", "net"])
def test_each_training_script_wrapper_loads(tmp_path, sd, key):
    wrapped = {"epoch": 30, key: sd, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]},
               "accuracy": 93.4, "best_acc": torch.tensor(93.4)}
    m = load_model(save(wrapped, tmp_path))
    assert_same_weights(m, sd)
    assert m.meta["source"] == f"state_dict under '{key}'"


def test_a_wrapper_inside_a_wrapper_with_a_prefix_loads(tmp_path, sd):
    wrapped = {"epoch": 3, "model": {"state_dict": {"module." + k: v for k, v in sd.items()}, "arch": "vgg"}}
    m = load_model(save(wrapped, tmp_path))
    assert_same_weights(m, sd)
    assert m.meta["source"] == "DataParallel state_dict under 'model' > 'state_dict'"


def test_a_dict_without_weights_names_its_keys_and_the_wrappers(tmp_path):
    with pytest.raises(CheckpointError) as e:
        load_model(save({"epoch": 3, "weights": {"a": 1}}, tmp_path))
    msg = str(e.value)
    assert "holds no state_dict of tensors: its keys are ['epoch', 'weights']" in msg
    assert "'state_dict', 'model', 'model_state_dict', 'net'" in msg


def test_two_keys_that_meet_once_prefixes_go_are_refused(tmp_path, sd):
    both = {**sd, "module.classifier.bias": sd["classifier.bias"]}
    with pytest.raises(CheckpointError, match="holds 'classifier.bias' twice"):
        load_model(save(both, tmp_path))


# ---- torch.nn.utils.prune ---------------------------------------------------------------------------------------

def test_a_global_l1_prune_state_dict_folds_orig_times_mask(tmp_path, dense, sd):
    model = copy.deepcopy(dense)
    params = [(b.conv, "weight") for b in blocks(model).values()] + [(model.classifier, "weight")]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=0.8)  # no prune.remove
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    names = [parameter_name(b) for b in blocks(model)] + ["classifier.weight"]
    assert all(n + "_orig" in saved and n + "_mask" in saved and n not in saved for n in names)

    m = load_model(save(saved, tmp_path))
    got = m.state_dict()
    for n in names:
        assert torch.equal(got[n], saved[n + "_orig"] * saved[n + "_mask"]), n
    for k in set(sd) - set(names):  # BN, biases: untouched
        assert torch.equal(got[k], sd[k]), k
    mask_zeros = sum(int((saved[n + "_mask"] == 0).sum()) for n in names)
    total = sum(saved[n + "_mask"].numel() for n in names)
    assert mask_zeros == round(0.8 * total)  # what global_unstructured prunes: round(amount * all weights)
    assert sum(int((got[n] == 0).sum()) for n in names) == mask_zeros
    assert sorted(m.meta["folded_masks"]) == sorted(names)
    assert m.meta["source"] == "torch.nn.utils.prune state_dict"
    assert m.meta["role"] == "pruned"


# ---- fp16, bf16 ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, word, atol", [(torch.float16, "fp16", 0.0), (torch.bfloat16, "bf16", 0.35)])
def test_half_precision_files_run_in_fp32_close_to_dense(tmp_path, dense, sd, images, dtype, word, atol):
    half = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
    m = load_model(save(half, tmp_path))
    assert all(v.dtype == torch.float32 for v in m.state_dict().values() if v.is_floating_point())
    assert m.meta["source"] == f"{word} state_dict"
    # the shipped dense is stored in fp16, so the fp16 file is its weights exactly; bf16 keeps 8 bits of mantissa
    x = preprocess(images, dense)  # the same inputs for both: the bare file records no normalization
    with torch.no_grad():
        ref, out = dense(x), m(x)
    assert torch.allclose(out, ref, atol=atol, rtol=0), (out - ref).abs().max()
    assert torch.equal(out.argmax(1), ref.argmax(1))


# ---- refusals ---------------------------------------------------------------------------------------------------

def test_a_whole_pickled_model_is_refused_with_the_one_line_fix(tmp_path, dense):
    path = save(copy.deepcopy(dense), tmp_path, "whole.pt")
    with pytest.raises(CheckpointError) as e:
        load_model(path)
    msg = str(e.value)
    assert "whole pickled model" in msg and msg.endswith("Fix: torch.save(model.state_dict(), path)")
    assert "\n" not in msg


def test_a_channel_pruned_model_names_the_first_differing_layer_and_both_shapes(tmp_path, sd):
    slim = dict(sd)  # conv3 cut from 256 to 128 filters, as a channel pruner would, and conv4's inputs with it
    for k in ("backbone.conv3.weight", "backbone.bn3.weight", "backbone.bn3.bias", "backbone.bn3.running_mean",
              "backbone.bn3.running_var"):
        slim[k] = sd[k][:128].clone()
    slim["backbone.conv4.weight"] = sd["backbone.conv4.weight"][:, :128].clone()
    with pytest.raises(CheckpointError) as e:
        load_model(save(slim, tmp_path, "slim.pth"))
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'slim.pth'} has wrong shapes for the course-lab VGG: backbone.conv3.weight "
                          "is (128, 256, 3, 3) in the file and (256, 256, 3, 3) in the course-lab VGG. This looks like "
                          "a channel-pruned model")
    assert "cannot compare channel by channel" in msg
    assert "backbone.conv4.weight: file (512, 128, 3, 3) vs (512, 256, 3, 3)" in msg
    assert "module." not in msg


# ---- normalization.json -----------------------------------------------------------------------------------------

@pytest.fixture
def bare(tmp_path, sd):
    """A bare state_dict (no metadata) in its own folder; in fp16 (half the bytes to write and read)."""
    return save({k: v.half() if v.is_floating_point() else v for k, v in sd.items()}, tmp_path, "bare.pth")


@pytest.fixture
def ours(tmp_path):
    """The shipped dense file (its metadata: the CIFAR-10 mean/std) in its own folder."""
    return shutil.copy(DENSE, tmp_path / "ours.pt")


def test_a_normalization_file_applies_to_every_checkpoint_in_its_folder(tmp_path, bare, ours, images):
    norm = {"mean": [0.5, 0.25, 0.125], "std": [0.5, 0.25, 2]}
    (tmp_path / "normalization.json").write_text(json.dumps(norm))
    for path in (bare, ours):  # over the checkpoint's metadata too
        m = load_model(path)
        assert m.meta["normalization"] == {"mean": [0.5, 0.25, 0.125], "std": [0.5, 0.25, 2.0]}
        assert m.meta["normalization_source"] == FROM_FILE
        assert describe_normalization(m) == "mean (0.5, 0.25, 0.125), std (0.5, 0.25, 2), from normalization.json"
    px = images[0, 0, 0].astype(np.float64) / 255  # the top-left pixel, by hand
    x = preprocess(images[:1], m)[0, :, 0, 0].double()
    assert np.allclose(x.numpy(), (px - [0.5, 0.25, 0.125]) / [0.5, 0.25, 2.0], atol=1e-6)


def test_a_lab_file_overrides_the_checkpoints_metadata(tmp_path, ours):
    (tmp_path / "normalization.json").write_text('{"mean": [0, 0, 0], "std": [1, 1, 1]}')
    m = load_model(ours)
    assert m.meta["normalization"] is None and m.meta["normalization_source"] == FROM_FILE
    assert describe_normalization(m) == f"{NONE_TEXT}, from normalization.json"


def test_without_a_file_the_metadata_decides_and_without_that_the_lab(bare, ours):
    m = load_model(ours)
    assert m.meta["normalization"] == {"mean": [0.4913, 0.4821, 0.4464], "std": [0.247, 0.2435, 0.2616]}
    assert m.meta["normalization_source"] == FROM_CHECKPOINT
    assert describe_normalization(m) == f"{CIFAR_TEXT}, from the checkpoint"
    lab = load_model(bare)
    assert lab.meta["normalization"] is None and lab.meta["normalization_source"] == FROM_LAB
    assert describe_normalization(lab) == f"{NONE_TEXT} (the course lab's convention)"
    assert describe_normalization(lab.meta) == describe_normalization(lab)


def test_an_uploaded_file_object_has_no_folder(tmp_path, bare):
    (tmp_path / "normalization.json").write_text(json.dumps(CIFAR10_NORMALIZATION))
    m = load_model(io.BytesIO(bare.read_bytes()))
    assert m.meta["normalization"] is None and m.meta["normalization_source"] == FROM_LAB


@pytest.mark.parametrize("content, problem", [
    ('{"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2', "is not valid JSON"),
    ('[0.5, 0.5, 0.5]', "not an object with a mean and a std"),
    ('{"mean": [0.5, 0.5, 0.5]}', "has no std"),
    ('{"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2], "stdev": 1}', "has unexpected keys ['stdev']"),
    ('{"mean": [0.5, 0.5], "std": [0.2, 0.2, 0.2]}', "has mean [0.5, 0.5]: not a list of 3 numbers"),
    ('{"mean": ["0.5", 0.5, 0.5], "std": [0.2, 0.2, 0.2]}', "not all numbers"),
    ('{"mean": [0.5, 0.5, 0.5], "std": [0.2, NaN, 0.2]}', "has std [0.2, NaN, 0.2]: not all finite"),
    ('{"mean": [0.5, 0.5, 0.5], "std": [0.2, 0, 0.2]}', "has std [0.2, 0, 0.2]: every std must be > 0"),
])
def test_a_bad_normalization_file_names_itself_the_problem_and_the_expected_content(tmp_path, bare, content,
                                                                                    problem):
    (tmp_path / "normalization.json").write_text(content)
    with pytest.raises(CheckpointError) as e:
        load_model(bare)
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / "normalization.json")) and problem in msg
    assert 'Expected {"mean": [r, g, b], "std": [r, g, b]}, 3 finite numbers each and every std > 0' in msg


# ---- presets and writing ----------------------------------------------------------------------------------------

def test_the_cifar10_preset_is_what_the_shipped_dense_records():
    raw = torch.load(DENSE, map_location="cpu", weights_only=True)
    assert CIFAR10_NORMALIZATION == raw["meta"]["normalization"]


def test_write_normalization_presets_and_dicts(tmp_path, bare):
    path = write_normalization(tmp_path, PRESET_CIFAR10)
    assert path == tmp_path / "normalization.json"
    assert json.loads(path.read_text()) == {"mean": [0.4913, 0.4821, 0.4464], "std": [0.247, 0.2435, 0.2616]}
    assert describe_normalization(load_model(bare)) == f"{CIFAR_TEXT}, from normalization.json"
    write_normalization(tmp_path, PRESET_LAB)
    assert json.loads(path.read_text()) == {"mean": [0, 0, 0], "std": [1, 1, 1]}
    assert describe_normalization(load_model(bare)) == f"{NONE_TEXT}, from normalization.json"
    write_normalization(tmp_path, {"mean": [0.1, 0.2, 0.3], "std": [1, 2, 3]})
    assert json.loads(path.read_text()) == {"mean": [0.1, 0.2, 0.3], "std": [1, 2, 3]}
    assert write_normalization(tmp_path, PRESET_CHECKPOINT) is None and not path.exists()
    assert load_model(bare).meta["normalization_source"] == FROM_LAB
    assert [p.name for p in tmp_path.iterdir()] == ["bare.pth"]  # no temporary file left behind
    with pytest.raises(CheckpointError, match=r"every std must be > 0"):
        write_normalization(tmp_path, {"mean": [0, 0, 0], "std": [1, -1, 1]})
    with pytest.raises(CheckpointError, match=r"Unknown normalization preset 'imagenet': choose one of "
                                              r"\['lab', 'cifar10', 'checkpoint'\]"):
        write_normalization(tmp_path, "imagenet")
    assert not path.exists()


def test_describe_normalization_of_a_bare_mean_std_and_of_none():
    assert describe_normalization(None) == f"{NONE_TEXT} (the course lab's convention)"
    assert describe_normalization(CIFAR10_NORMALIZATION) == CIFAR_TEXT
    assert describe_normalization({"normalization": {"mean": [0, 0, 0], "std": [1, 1, 1]},
                                   "normalization_source": FROM_CHECKPOINT}) == f"{NONE_TEXT}, from the checkpoint"
