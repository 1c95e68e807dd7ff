
import numpy as np
import pytest
import torch

from vggexplorer import load_model
from vggexplorer.training.train import TrainConfig, parse_resolution_schedule, train, triangular_lr


def _cfg(**kw) -> TrainConfig:
    base = dict(epochs=2, batch_size=16, holdout=100, train_subset=64, max_steps_per_epoch=2,
                resolution_schedule="16:1,32:1", precision="fp32", seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_schedules():
    assert parse_resolution_schedule("16:2,24:1,32:2", 6) == [16, 16, 24, 32, 32, 32]
    assert triangular_lr(0, 100, 0.4, 0.3) == 0.0
    assert triangular_lr(30, 100, 0.4, 0.3) == pytest.approx(0.4)
    assert triangular_lr(100, 100, 0.4, 0.3) == 0.0


def test_two_step_training_smoke_and_exact_resume(tmp_path, test_split):
    # a tiny stand-in "training split" taken from the bundled images; only the mechanics are tested
    small = test_split.subset(np.arange(0, 10000, 25))  # 400 images, 40 per class
    meta = train(_cfg(), small, tmp_path / "a", tmp_path / "a.pt", progress=False)
    assert [h["resolution"] for h in meta["history"]] == [16, 32]
    m = load_model(tmp_path / "a.pt")
    assert m.meta["recipe"]["label_smoothing"] == 0.1 and m.meta["recipe"]["holdout_images"] == 100
    assert "cpu" in m.meta["hardware"] and m.meta["wall_time_s"] > 0

    class Stop(Exception):
        pass

    def stop_after_first(rec):
        if rec["epoch"] == 1:
            raise Stop

    with pytest.raises(Stop):
        train(_cfg(), small, tmp_path / "b", tmp_path / "b.pt", progress=False, on_epoch=stop_after_first)
    assert not (tmp_path / "b.pt").exists()
    train(_cfg(), small, tmp_path / "b", tmp_path / "b.pt", progress=False, resume=True)
    a, b = torch.load(tmp_path / "a.pt", weights_only=True), torch.load(tmp_path / "b.pt", weights_only=True)
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), f"resumed run differs at {k}"


def test_resume_refuses_another_config(tmp_path, test_split):
    small = test_split.subset(np.arange(0, 10000, 25))
    train(_cfg(epochs=1), small, tmp_path / "r", tmp_path / "r.pt", progress=False)
    with pytest.raises(ValueError, match="another config"):
        train(_cfg(epochs=1, lr=0.1), small, tmp_path / "r", tmp_path / "r2.pt", progress=False, resume=True)


def test_sgd_epoch_counts_steps_sets_lr_and_calls_after_step():
    from torch import nn

    from vggexplorer.training.train import sgd_epoch

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
