
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


def _untimed(history):
    """The metrics records without their wall-clock fields, which no two runs share."""
    return [{k: v for k, v in h.items() if k not in ("epoch_s", "images_per_s")} for h in history]


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
    saved = torch.load(tmp_path / "b" / "state.pt", weights_only=True)
    assert saved["epoch"] == 1 and saved["step"] == 2 and saved["config"]["seed"] == 3  # 2 steps per epoch
    ran = []
    resumed = train(_cfg(), small, tmp_path / "b", tmp_path / "b.pt", progress=False, resume=True,
                    on_epoch=lambda rec: ran.append(rec["epoch"]))
    assert ran == [2]  # epoch 1 came from the state, not from running it again
    assert resumed["history"][0] == saved["history"][0]
    # the interrupted run's seconds are counted: epoch 1's from the state plus epoch 2's (each rounded to 0.1 s)
    assert resumed["wall_time_s"] == pytest.approx(saved["wall_s"] + resumed["history"][1]["epoch_s"], abs=0.11)
    assert _untimed(resumed["history"]) == _untimed(meta["history"])
    a, b = torch.load(tmp_path / "a.pt", weights_only=True), torch.load(tmp_path / "b.pt", weights_only=True)
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), f"resumed run differs at {k}"


def test_resume_refuses_another_config(tmp_path, test_split):
    small = test_split.subset(np.arange(0, 10000, 25))
    train(_cfg(epochs=1), small, tmp_path / "r", tmp_path / "r.pt", progress=False)
    with pytest.raises(ValueError, match=r"another config: lr \(saved 0\.4, now 0\.1\)\. Use a new --run-dir"):
        train(_cfg(epochs=1, lr=0.1), small, tmp_path / "r", tmp_path / "r2.pt", progress=False, resume=True)
