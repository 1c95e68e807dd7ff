"""The run mechanics train and prune share: config check, atomic state, batching, one epoch, validation, metrics."""

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from torch import nn

from vggexplorer.data.cifar10 import Split
from vggexplorer.errors import ConfigError
from vggexplorer.training import run
from vggexplorer.training.run import (EpochStats, Progress, check_config, config_differences, epoch_batches,
                                      epoch_record, load_state, make_batch, run_epochs, save_state, sgd_epoch,
                                      steps_per_epoch, val_top1)


@dataclass
class Tiny:
    """A hand-made config."""

    lr: float = 0.1
    epochs: int = 2
    sizes: list[int] = field(default_factory=lambda: [16, 32])
    teacher: str | None = None


def _parts(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, torch.Generator().manual_seed(seed)


# ---- config check ---------------------------------------------------------------------------------

def test_config_differences_name_each_differing_field():
    saved = {"lr": 0.1, "epochs": 2, "sizes": [16, 32], "teacher": None}
    assert config_differences(saved, dict(saved)) == []
    now = {"lr": 0.5, "epochs": 2, "sizes": [16, 24], "teacher": None}
    assert config_differences(saved, now) == ["lr (saved 0.1, now 0.5)", "sizes (saved [16, 32], now [16, 24])"]
    # a field the older state lacks, and one the current config no longer has
    assert config_differences({"lr": 0.1, "gone": 1}, {"lr": 0.1, "new": 3}) == [
        "new (saved '(none)', now 3)", "gone (saved 1, now '(none)')"]


def test_check_config_refuses_another_config_with_the_fix(tmp_path):
    path = tmp_path / "state.pt"
    check_config(path, {"lr": 0.1, "epochs": 2, "sizes": [16, 32], "teacher": None}, Tiny())  # same: passes
    with pytest.raises(ConfigError) as e:
        check_config(path, {"lr": 0.1, "epochs": 3, "sizes": [16, 32], "teacher": None}, Tiny())
    assert str(e.value) == (f"{path} was written with another config: epochs (saved 3, now 2). "
                            "Use a new --run-dir, or the same flags as that run.")
    with pytest.raises(ConfigError, match="another config: lr"):
        check_config(path, None, Tiny())  # a state without a config is not this run's


def test_load_state_checks_the_config_before_touching_the_model(tmp_path):
    model, opt, gen = _parts()
    save_state(tmp_path / "state.pt", Tiny(), model, opt, gen, Progress(1, 3, [{"epoch": 1}], 2.5))
    other, other_opt, other_gen = _parts(seed=1)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(ConfigError, match=r"teacher \(saved None, now 'dense.pt'\)"):
        load_state(tmp_path / "state.pt", Tiny(teacher="dense.pt"), other, other_opt, other_gen)
    for k, v in other.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_state_round_trip_restores_model_optimizer_generator_and_progress(tmp_path):
    model, opt, gen = _parts()
    model(torch.ones(4, 3)).sum().backward()
    opt.step()  # momentum buffers exist now
    torch.randperm(7, generator=gen)  # the generator has moved on
    save_state(tmp_path / "state.pt", Tiny(), model, opt, gen, Progress(2, 6, [{"epoch": 1}, {"epoch": 2}], 4.0))
    expected_next = torch.randperm(10, generator=gen)  # what the saved generator draws next

    fresh, fresh_opt, fresh_gen = _parts(seed=5)
    progress = load_state(tmp_path / "state.pt", Tiny(), fresh, fresh_opt, fresh_gen)
    assert progress == Progress(2, 6, [{"epoch": 1}, {"epoch": 2}], 4.0)
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k
    buf = opt.state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(fresh_opt.state_dict()["state"][0]["momentum_buffer"], buf)
    assert torch.equal(torch.randperm(10, generator=fresh_gen), expected_next)


def test_a_state_without_wall_time_resumes_with_zero(tmp_path):
    """States from before the shared run module (prune's had no ``wall_s``) still resume."""
    model, opt, gen = _parts()
    torch.save({"config": {"lr": 0.1, "epochs": 2, "sizes": [16, 32], "teacher": None}, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "generator": gen.get_state(), "epoch": 1, "step": 3,
                "history": [{"epoch": 1}]}, tmp_path / "old.pt")
    assert load_state(tmp_path / "old.pt", Tiny(), *_parts(seed=2)) == Progress(1, 3, [{"epoch": 1}], 0.0)


def test_a_save_that_fails_leaves_the_previous_state_and_no_partial_file(tmp_path, monkeypatch):
    model, opt, gen = _parts()
    path = tmp_path / "state.pt"
    save_state(path, Tiny(), model, opt, gen, Progress(1, 3, [{"epoch": 1}], 1.0))
    real_save = torch.save

    def half_then_fail(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a zip")  # a partial file where the writer was
        raise OSError("disk full")

    monkeypatch.setattr(run.torch, "save", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_state(path, Tiny(), model, opt, gen, Progress(2, 6, [{"epoch": 1}, {"epoch": 2}], 2.0))
    monkeypatch.setattr(run.torch, "save", real_save)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]  # no temporary file left behind
    assert torch.load(path, weights_only=True)["epoch"] == 1  # the previous epoch's state, whole


# ---- batching -------------------------------------------------------------------------------------

def test_steps_per_epoch_by_hand():
    assert steps_per_epoch(5, 2) == 3  # 2 + 2 + 1
    assert steps_per_epoch(4, 2) == 2
    assert steps_per_epoch(5, 2, max_steps=2) == 2
    assert steps_per_epoch(5, 2, max_steps=9) == 3


def test_epoch_batches_cover_every_index_once_per_epoch():
    idx = np.array([10, 11, 12, 13, 14])
    gen = torch.Generator().manual_seed(0)
    epochs = [epoch_batches(idx, 2, gen) for _ in range(3)]
    for batches in epochs:
        assert [len(b) for b in batches] == [2, 2, 1]  # 5 images in batches of 2: the last partial batch kept
        assert sorted(np.concatenate(batches).tolist()) == [10, 11, 12, 13, 14]  # each exactly once
    orders = [np.concatenate(b).tolist() for b in epochs]
    assert len({tuple(o) for o in orders}) > 1  # the generator moves on: epochs are shuffled afresh
    again = torch.Generator().manual_seed(0)
    assert [np.concatenate(epoch_batches(idx, 2, again)).tolist() for _ in range(3)] == orders  # seeded
    capped = epoch_batches(idx, 2, torch.Generator().manual_seed(0), max_steps=2)
    assert [b.tolist() for b in capped] == [b.tolist() for b in epochs[0][:2]]  # the first two batches only


def test_make_batch_normalizes_resizes_and_labels():
    images = np.zeros((3, 32, 32, 3), np.uint8)
    images[1] = 255
    split = Split(images, np.array([4, 7, 9]), ["a", "b", "c"])
    gen = torch.Generator().manual_seed(0)
    x, y = make_batch(split, np.array([1, 2]), [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], gen, torch.device("cpu"))
    assert x.shape == (2, 3, 32, 32) and y.tolist() == [7, 9]
    assert x.is_contiguous(memory_format=torch.channels_last)
    # (1 - 0.5) / 0.5 = 1 for white, (0 - 0.5) / 0.5 = -1 for black; the crop's zero padding adds 0s at the border
    assert set(torch.unique(x[0]).tolist()) <= {0.0, 1.0} and float(x[0, :, 4:28, 4:28].min()) == 1.0
    assert set(torch.unique(x[1]).tolist()) <= {0.0, -1.0} and float(x[1, :, 4:28, 4:28].max()) == -1.0
    small, _ = make_batch(split, np.array([1]), None, None, gen, torch.device("cpu"), size=16)
    assert small.shape == (1, 3, 16, 16)


# ---- one epoch, validation, metrics ---------------------------------------------------------------

def test_sgd_epoch_counts_steps_sets_lr_and_calls_after_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    data_x, data_y = torch.randn(10, 1, 2, 2), torch.arange(10) % 3
    lrs, calls = [], []

    def after():
        calls.append(opt.param_groups[0]["lr"])

    batches = [np.arange(0, 4), np.arange(4, 8), np.arange(8, 10)]
    seen_logits = []  # what each step's forward produced, to recount correct answers and loss independently
    model.register_forward_hook(lambda mod, inp, out: seen_logits.append(out.detach().clone()))
    ep = sgd_epoch(model, opt, batches, lambda b: (data_x[b], data_y[b]), lambda i: lrs.append(i) or 0.1 * i,
                   step=5, precision="fp32", crit=nn.CrossEntropyLoss(), desc=None, after_step=after)
    assert lrs == [5, 6, 7] and calls == pytest.approx([0.5, 0.6, 0.7])
    ys = [data_y[b] for b in batches]
    assert (ep.step, ep.seen) == (8, 10)
    assert ep.correct == sum(int((lg.argmax(1) == y).sum()) for lg, y in zip(seen_logits, ys))
    assert ep.loss_sum == pytest.approx(sum(float(nn.functional.cross_entropy(lg, y)) * len(y)
                                            for lg, y in zip(seen_logits, ys)))
    assert not model.training  # left in eval mode, ready for validation


class Brightness(nn.Module):
    """Says class 1 for a bright image, class 0 for a dark one (inputs in [0, 1], no normalization)."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # where the device is read from

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean((1, 2, 3))
        return torch.stack([0.5 - m, m - 0.5, *([torch.full_like(m, -9.0)] * 8)], 1)  # [N, 10]


def test_val_top1_on_a_hand_made_model():
    images = np.zeros((4, 32, 32, 3), np.uint8)
    images[:2] = 255  # two white images, two black
    split = Split(images, np.array([1, 0, 0, 0]), list("abcd"))
    # white -> 1 (right for image 0, wrong for image 1); black -> 0 (right twice): 3 of 4
    assert val_top1(Brightness().eval(), split, np.arange(4), "fp32", None, None) == 0.75
    assert val_top1(Brightness().eval(), split, np.array([1, 2]), "fp32", None, None) == 0.5


def test_epoch_record_by_hand():
    rec = epoch_record(2, EpochStats(step=8, loss_sum=6.0, seen=4, correct=3), 0.5, 2.04, resolution=16)
    assert rec == {"epoch": 2, "resolution": 16, "train_loss": 1.5, "train_acc": 0.75, "val_top1": 0.5,
                   "epoch_s": 2.0, "images_per_s": 2.0}
    assert list(rec) == ["epoch", "resolution", "train_loss", "train_acc", "val_top1", "epoch_s", "images_per_s"]


def test_run_epochs_saves_every_epoch_and_resumes_without_rerunning(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    split = Split(images, np.arange(10) % 2, [str(i) for i in range(10)])
    cfg = Tiny(epochs=3)

    def go(resume, on_epoch=None, epochs=3):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
        done = run_epochs(cfg, model, opt, torch.Generator().manual_seed(0), split, np.arange(6), np.arange(6, 10),
                          None, None, state_path=tmp_path / "state.pt", resume=resume, epochs=epochs,
                          batch_size=4, max_steps=None, lr_at=lambda i: 0.01, precision="fp32",
                          crit=nn.CrossEntropyLoss(), on_epoch=on_epoch)
        return model, done

    seen = []
    _, first = go(False, on_epoch=lambda rec: seen.append(torch.load(tmp_path / "state.pt")["epoch"]), epochs=2)
    assert seen == [1, 2]  # on_epoch runs after that epoch's state is on disk
    assert (first.epoch, first.step) == (2, 4)  # 6 images in batches of 4: 2 steps per epoch
    assert "resolution" not in first.history[0]
    ran = []
    resumed_model, resumed = go(True, on_epoch=lambda rec: ran.append(rec["epoch"]))
    assert ran == [3] and (resumed.epoch, resumed.step) == (3, 6) and resumed.history[:2] == first.history
    (tmp_path / "state.pt").unlink()
    whole_model, _ = go(False)
    for k, v in whole_model.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[k], v), k
