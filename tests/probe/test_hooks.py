"""Hooked capture: exact, leaves no hooks, never changes the model, correct under threads."""

import threading

import numpy as np
import pytest
import torch

from vggexplorer.probe.hooks import capture_activations
from vggexplorer.data.images import preprocess
from vggexplorer.model.vgg import VGG


def _model(seed: int = 0) -> VGG:
    torch.manual_seed(seed)
    m = VGG()
    for mod in m.modules():  # non-trivial BN statistics, so BN is not the identity
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.1, 0.3)
    m.meta = {"normalization": {"mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}}
    return m.eval()


@torch.no_grad()
def _forward_blocks_manually(model, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The reference, without hooks: walk ``model.backbone`` module by module, cloning after each ReLU."""
    acts = {}
    h = x
    for name, mod in model.backbone.named_children():
        h = mod(h)
        if name.startswith("relu"):
            acts["conv" + name[len("relu"):]] = h.clone()
    return acts, model.classifier(h.mean([2, 3]))


def _hook_count(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def test_capture_equals_manual_forward_exactly():
    m = _model()
    imgs = _images(3, 0)
    cap = capture_activations(m, imgs)
    ref, ref_logits = _forward_blocks_manually(m, preprocess(imgs, m))
    assert list(cap.activations) == [f"conv{i}" for i in range(8)]
    for name, t in ref.items():
        assert cap.activations[name].dtype == torch.float32
        assert torch.equal(cap.activations[name], t), name
    assert cap.activations["conv0"].shape == (3, 64, 32, 32)
    assert cap.activations["conv7"].shape == (3, 512, 4, 4)
    assert torch.equal(cap.logits, ref_logits)
    assert torch.allclose(cap.probs.sum(1), torch.ones(3))


def test_kept_tensors_survive_an_in_place_module_after_the_relu():
    from vggexplorer.probe.hooks import needs_copy

    m = _model()
    assert not any(needs_copy(m).values())  # conv and max-pool only read the ReLU's output
    # put an in-place op right after relu0: the capture must then clone, or it would see clamped values
    m.backbone.pool0 = torch.nn.Sequential(torch.nn.Hardtanh(0.0, 0.05, inplace=True), torch.nn.MaxPool2d(2))
    m.backbone.pool0.inplace = True
    assert needs_copy(m)["conv1"]
    x = preprocess(_images(1, 3), m)
    with torch.no_grad():
        h = x
        for name, mod in m.backbone.named_children():
            h = mod(h)
            if name == "relu1":
                ref = h.clone()
                break
    cap = capture_activations(m, x)
    assert cap.activations["conv1"].max() > 0.05
    assert torch.equal(cap.activations["conv1"], ref)


def test_captured_tensors_are_independent():
    m = _model()
    cap = capture_activations(m, _images(1, 1))
    before = cap.activations["conv3"].clone()
    capture_activations(m, _images(1, 2))  # a second pass must not overwrite the first's maps
    assert torch.equal(cap.activations["conv3"], before)


def test_no_hooks_left_after_success_and_error():
    m = _model()
    assert _hook_count(m) == 0
    capture_activations(m, _images(1, 0))
    assert _hook_count(m) == 0

    class Boom(RuntimeError):
        pass

    def explode(x):
        raise Boom("mid-forward")

    m.backbone.conv5.forward = explode  # raises after conv0..conv4 hooks fired
    with pytest.raises(Boom):
        capture_activations(m, _images(1, 0))
    assert _hook_count(m) == 0


def test_model_is_never_changed():
    m = _model()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    capture_activations(m, _images(4, 0))
    assert not m.training
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k
    m.train()
    with pytest.raises(ValueError, match="training mode"):
        capture_activations(m, _images(1, 0))


def test_eight_threads_on_one_shared_model_get_serial_results():
    m = _model()
    inputs = [_images(1, 100 + i) for i in range(8)]
    serial = [capture_activations(m, x) for x in inputs]
    results: dict[int, list] = {i: [] for i in range(8)}
    errors = []
    barrier = threading.Barrier(9)

    def worker(i):
        try:
            barrier.wait()
            for _ in range(3):
                results[i].append(capture_activations(m, inputs[i]))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    def plain_forwards():  # a concurrent hook-free user of the same model must not leak into captures
        barrier.wait()
        with torch.no_grad():
            for _ in range(4):
                m(preprocess(_images(2, 999), m))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    threads.append(threading.Thread(target=plain_forwards))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _hook_count(m) == 0
    for i in range(8):
        assert len(results[i]) == 3
        for got in results[i]:
            assert torch.equal(got.logits, serial[i].logits)
            for name, t in serial[i].activations.items():
                assert torch.equal(got.activations[name], t), (i, name)


def test_block_output_stops_at_the_block_and_equals_the_hooked_capture():
    from vggexplorer.probe.hooks import block_output

    m = _model(3)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    cap = capture_activations(m, x)
    for block in ("conv0", "conv1", "conv4", "conv7"):
        out = block_output(m, x, block)
        assert torch.equal(out, cap.activations[block]), block
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in before.items())
    assert not any(mod._forward_hooks for mod in m.modules())
    with pytest.raises(ValueError, match="unknown block 'conv9'"):
        block_output(m, x, "conv9")
