"""Feature visualisation: for each channel of a block, the image that maximises its mean post-ReLU activation.

The loop is Lucid/Lucent's (``param.image(fft=True, decorrelate=True)``, ``transform.standard_transforms``,
``objectives.channel``) written small and sized for 32 px:

* the image is a Fourier spectrum scaled by 1/f, its colours mixed by the square root of CIFAR-10's colour
  covariance (not ImageNet's), then a sigmoid: the result is the [0, 1] RGB the model sees before its
  input normalization, which is applied inside the loop;
* each step sees the image jittered by a few whole pixels, scaled and rotated a little (one ``grid_sample``);
* the first ``pre_relu_steps`` steps maximise the BatchNorm output (the pre-ReLU value), so a render that
  starts where the ReLU is off still gets a gradient; the rest maximise the post-ReLU mean;
* the start and every random transform come from ``(seed, channel)`` only, never from the model or the batch:
  dense and every rung are rendered from the same start, so any difference comes from the model.

All channels of one call run in one batch, and forward and backward run only as far as the block;
:func:`render_across` puts several models in that batch (each model sees only its own images), so a channel's
renders in dense and every rung come from one call and equal what each model gets alone. The model
passed in is never modified (it is shared by the app's sessions): gradients are taken with respect to the image
alone (``torch.autograd.grad``), so no parameter's ``.grad`` is written, and no hook is attached.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.images import normalization
from ..model.vgg import blocks
from .hooks import block_output

# The square root of CIFAR-10's colour covariance (RGB in [0, 1], 50,000 training images, 51.2 M pixels):
# U * sqrt(S) from the SVD of the 3x3 covariance, divided by its largest column norm (Lucid's normalisation).
# Computed once from ../shared/data/cifar10/train (mean came out (0.4914, 0.4822, 0.4465), the published one) by:
#   paths = sorted(glob.glob("../shared/data/cifar10/train/*/*.png")); s, ss, n = 0, 0, 0
#   for p in paths: x = np.asarray(Image.open(p).convert("RGB"), np.float64).reshape(-1, 3) / 255
#                   s, ss, n = s + x.sum(0), ss + x.T @ x, n + len(x)
#   cov = ss / n - np.outer(s / n, s / n); u, S, _ = np.linalg.svd(cov); m = u * np.sqrt(S)
#   m / np.max(np.linalg.norm(m, axis=0))
# The columns' signs are the SVD's and do not matter (the start is symmetric about 0).
COLOUR_SQRT = np.array([[-0.5580, 0.2011, 0.0566],
                        [-0.5775, 0.0132, -0.1058],
                        [-0.5960, -0.2011, 0.0496]], dtype=np.float32)

WEIGHT_DEAD = "weight-dead"  # the words of vggexplorer.stats.status (above this layer); a test keeps them equal
ACTIVATION_DEAD = "activation-dead"


@dataclass(frozen=True)
class Settings:
    """What a render depends on besides the model, the block, the channel and the seed."""

    steps: int = 256
    lr: float = 0.01  # Adam, on the spectrum: Lucent's 0.05 reached less on CIFAR-10 (runs/issue19-*.log)
    pre_relu_steps: int = 32  # the first steps maximise the BN output, so a closed ReLU still passes gradient
    jitter: int = 2  # whole pixels, each way
    scale: float = 0.1  # random scale in [1 - scale, 1 + scale]
    rotate: float = 10.0  # degrees, each way
    decay_power: float = 1.0  # the spectrum's 1/f**decay_power scaling
    init_sd: float = 0.01
    size: int = 32
    colour: str = "cifar10-train-sqrt-cov"

    @classmethod
    def for_steps(cls, steps: int) -> "Settings":
        """The defaults for ``steps`` steps, the first eighth of them on the pre-ReLU value."""
        return cls(steps=int(steps), pre_relu_steps=max(1, int(steps) // 8))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Render:
    """One channel's render: the image (None when dead), the activation it reaches, and how it was made."""

    block: str
    channel: int
    image: np.ndarray | None  # uint8 [size, size, 3], the RGB the model sees before normalization
    activation: float  # mean post-ReLU activation of ``image`` itself (quantised to uint8, no transforms)
    steps: int
    seed: int
    settings: dict
    dead: str | None = None  # WEIGHT_DEAD or ACTIVATION_DEAD
    reason: str | None = None  # for the user, when dead


def _freqs(size: int) -> np.ndarray:
    """|f| of every coefficient of a ``size`` x ``size`` real FFT: ``[size, size // 2 + 1]``."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    return np.sqrt(fx * fx + fy * fy)


def spectrum_scale(size: int, decay_power: float = 1.0) -> torch.Tensor:
    """Lucid's 1/f scaling of the spectrum (the DC term as the lowest frequency), times ``size``."""
    scale = 1.0 / np.maximum(_freqs(size), 1.0 / size) ** decay_power
    return torch.from_numpy((scale * size).astype(np.float32))


def spectrum_to_rgb(spectrum: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``[N, 3, S, S//2+1, 2]`` spectrum -> ``[N, 3, S, S]`` RGB in (0, 1): inverse FFT, colour mixing, sigmoid."""
    size = scale.shape[0]
    x = torch.fft.irfft2(torch.view_as_complex(spectrum) * scale, s=(size, size), norm="ortho") / 4.0
    x = torch.einsum("nchw,dc->ndhw", x, torch.from_numpy(COLOUR_SQRT).to(x))
    return torch.sigmoid(x)


def _start(seed: int, channel: int, s: Settings) -> tuple[torch.Tensor, torch.Tensor]:
    """The start spectrum ``[3, S, S//2+1, 2]`` and every step's affine transform ``[steps, 2, 3]``, from
    ``(seed, channel)`` alone: the same for every model and whatever else is in the batch."""
    rng = np.random.default_rng([int(seed), int(channel)])
    spec = rng.standard_normal((3, s.size, s.size // 2 + 1, 2)) * s.init_sd
    shift = rng.integers(-s.jitter, s.jitter + 1, size=(s.steps, 2)) * (2.0 / s.size)  # pixels -> grid units
    zoom = rng.uniform(1 - s.scale, 1 + s.scale, size=s.steps)
    angle = np.deg2rad(rng.uniform(-s.rotate, s.rotate, size=s.steps))
    cos, sin = np.cos(angle) * zoom, np.sin(angle) * zoom
    theta = np.stack([np.stack([cos, -sin, shift[:, 0]], 1), np.stack([sin, cos, shift[:, 1]], 1)], 1)
    return torch.from_numpy(spec.astype(np.float32)), torch.from_numpy(theta.astype(np.float32))


def transform(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Each image ``[N, 3, S, S]`` jittered, scaled and rotated by its own ``theta [N, 2, 3]`` (reflected at the
    edges, bilinear): whole-pixel shifts alone move pixels exactly."""
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def truncated(model: nn.Module, block: str) -> list[nn.Module]:
    """The backbone's modules up to ``block``'s BatchNorm (its ReLU excluded): calling them in order gives the
    pre-ReLU value. The modules are the model's own, only called, never copied or changed."""
    bl = blocks(model)
    if block not in bl:
        raise ValueError(f"unknown block {block!r}; the model has {list(bl)}")
    children = list(model.backbone.children())
    b = bl[block]
    if children[b.relu_index] is not b.relu:
        raise AssertionError(f"{block}'s ReLU is not where blocks() says")
    return children[: b.relu_index]


def pre_relu(layers: Sequence[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """Run ``layers`` (from :func:`truncated`) on a normalised input."""
    for layer in layers:
        x = layer(x)  # earlier blocks' in-place ReLUs write into this call's own intermediates
    return x


def _normaliser(model: nn.Module, device, dtype):
    mean, std = normalization(model)
    if mean is None:
        return lambda x: x
    m = torch.tensor(mean, device=device, dtype=dtype).view(1, -1, 1, 1)
    sd = torch.tensor(std, device=device, dtype=dtype).view(1, -1, 1, 1)
    return lambda x: (x - m) / sd


def weight_dead(model: nn.Module, block: str) -> np.ndarray:
    """``bool [C]``: every weight of the block's filter is exactly zero (the status module's definition)."""
    return (blocks(model)[block].conv.weight.detach().flatten(1) == 0).all(1).cpu().numpy()


def _check(model: nn.Module, block: str, channels: Sequence[int]) -> list[int]:
    if model.training:
        raise ValueError("The model is in training mode (BatchNorm would use batch statistics). "
                         "Call model.eval() once after loading; vggexplorer.load_model does this.")
    width = blocks(model)[block].conv.out_channels if block in blocks(model) else None
    if width is None:
        raise ValueError(f"unknown block {block!r}; the model has {list(blocks(model))}")
    chans = [int(c) for c in channels]
    bad = [c for c in chans if not 0 <= c < width]
    if bad:
        raise ValueError(f"{block} has channels 0..{width - 1}; got {bad}")
    return chans


def _optimise(groups: Sequence[tuple[nn.Module, list[int]]], block: str, seed: int, s: Settings,
              on_step=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The loop on one batch of ``(model, channels)`` groups, each model seeing only its own images: per group
    ``(uint8 images [N, S, S, 3], activation reached [N])``. A group's result does not depend on the others: Adam
    is elementwise and each image's loss comes from its own model and channel only."""
    device, dtype = blocks(groups[0][0])[block].bn.running_mean.device, torch.float32
    parts = []  # per group: (layers, normaliser, rows slice, row index, channel index)
    at = 0
    for model, chans in groups:
        n = len(chans)
        parts.append((truncated(model, block), _normaliser(model, device, dtype), slice(at, at + n),
                      torch.arange(n, device=device), torch.tensor(chans, device=device)))
        at += n
    starts = [_start(seed, c, s) for _, chans in groups for c in chans]
    spectrum = torch.stack([a for a, _ in starts]).to(device)
    thetas = torch.stack([t for _, t in starts], 1).to(device)  # [steps, N, 2, 3]
    scale = spectrum_scale(s.size, s.decay_power).to(device)  # [S, S//2+1], on the complex spectrum
    with torch.enable_grad():
        param = spectrum.clone().requires_grad_(True)
        opt = torch.optim.Adam([param], lr=s.lr)
        for step in range(s.steps):
            img = transform(spectrum_to_rgb(param, scale), thetas[step])
            loss = 0
            for layers, norm, part, rows, idx in parts:
                pre = pre_relu(layers, norm(img[part]))[rows, idx]  # [N, H, W], each image's own channel
                obj = pre if step < s.pre_relu_steps else F.relu(pre)
                loss = loss - obj.flatten(1).mean(1).sum()
            (param.grad,) = torch.autograd.grad(loss, [param])  # the image only: the model's .grad stay untouched
            opt.step()
            if on_step is not None:
                on_step(step + 1, s.steps)
    out = []
    with torch.no_grad():
        u8 = (spectrum_to_rgb(param, scale) * 255).round().clamp(0, 255).to(torch.uint8)
        x = u8.to(dtype) / 255
        for layers, norm, part, rows, idx in parts:
            act = F.relu(pre_relu(layers, norm(x[part]))[rows, idx]).flatten(1).mean(1)
            out.append((u8[part].permute(0, 2, 3, 1).cpu().numpy(), act.float().cpu().numpy()))
    return out


def _weight_dead_renders(model: nn.Module, block: str, chans: Sequence[int], wdead: np.ndarray, seed: int,
                         s: Settings) -> dict[int, Render]:
    """The renders of the weight-dead ones among ``chans``: not optimised (the output is a constant, whatever the
    input), reported with that constant."""
    dead = [c for c in chans if wdead[c]]
    if not dead:
        return {}
    grey = np.full((1, s.size, s.size, 3), 128, np.uint8)  # any input: the conv outputs 0 everywhere
    const = block_output(model, grey, block)[0].flatten(1).mean(1).numpy()
    return {c: Render(block, c, None, float(const[c]), 0, seed, s.to_dict(), WEIGHT_DEAD,
                      f"{WEIGHT_DEAD}: every weight of {block}'s filter {c} is exactly zero, so it emits "
                      f"the constant {float(const[c]):.3g} whatever the image; there is nothing to render.")
            for c in dead}


def _finished(block: str, c: int, image: np.ndarray, activation: float, seed: int, s: Settings) -> Render:
    if activation > 0:
        return Render(block, c, image, float(activation), s.steps, seed, s.to_dict())
    return Render(block, c, None, 0.0, s.steps, seed, s.to_dict(), ACTIVATION_DEAD,
                  f"{ACTIVATION_DEAD}: after {s.steps} steps ({s.pre_relu_steps} on the pre-ReLU value) "
                  f"the render still leaves {block} channel {c} at 0: its ReLU never opens.")


def render_channels(model: nn.Module, block: str, channels: Sequence[int], settings: Settings | None = None,
                    seed: int = 0, batch: int = 16, progress=None) -> list[Render]:
    """A :class:`Render` per channel of ``block``, in the order given, ``batch`` channels per optimisation.

    A weight-dead channel is not optimised (its output is a constant, whatever the input); a channel whose
    render ends at 0 is activation-dead. Both come back with ``image=None`` and a reason. ``progress(n)`` is
    called after each batch with the number of channels it finished.
    """
    s = settings or Settings()
    chans = _check(model, block, channels)
    wdead = weight_dead(model, block)
    out = _weight_dead_renders(model, block, chans, wdead, seed, s)
    live = [c for c in chans if not wdead[c]]
    for i in range(0, len(live), max(1, batch)):
        part = live[i:i + max(1, batch)]
        ((images, acts),) = _optimise([(model, part)], block, seed, s)
        for c, im, a in zip(part, images, acts):
            out[c] = _finished(block, c, im, float(a), seed, s)
        if progress is not None:
            progress(len(part))
    if progress is not None and len(live) < len(chans):
        progress(len(chans) - len(live))
    return [out[c] for c in chans]


def render_across(groups: Sequence[tuple[nn.Module, Sequence[int]]], block: str, settings: Settings | None = None,
                  seed: int = 0, on_step=None) -> list[list[Render]]:
    """Per ``(model, channels)`` group, the :class:`Render` of each of its channels, all from one optimisation:
    e.g. ``render_across([(m, [5]) for m in ladder], "conv7")`` renders conv7's channel 5 in dense and every rung
    in one call. The image batch holds every group's images; each model sees only its own, so each group's
    renders are the ones :func:`render_channels` gives that model for those channels in one batch (same seed,
    same start). ``on_step(done, total)`` is called after every optimisation step (a progress bar)."""
    s = settings or Settings()
    done, todo = [], []
    for model, channels in groups:
        chans = _check(model, block, channels)
        wdead = weight_dead(model, block)
        done.append((chans, _weight_dead_renders(model, block, chans, wdead, seed, s)))
        todo.append((model, [c for c in chans if not wdead[c]]))
    live = [i for i, (_, chans) in enumerate(todo) if chans]
    if live:
        results = _optimise([todo[i] for i in live], block, seed, s, on_step)
        for i, (images, acts) in zip(live, results):
            for c, im, a in zip(todo[i][1], images, acts):
                done[i][1][c] = _finished(block, c, im, float(a), seed, s)
    elif on_step is not None:
        on_step(s.steps, s.steps)
    return [[out[c] for c in chans] for chans, out in done]


def best_test_activation(model: nn.Module, block: str, channels: Sequence[int], images: np.ndarray,
                         batch: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """Over uint8 images ``[N, 32, 32, 3]``: each channel's largest spatial-mean post-ReLU activation and the
    index of the image that reaches it (the first, on ties): ``(float [C], int [C])``."""
    chans = _check(model, block, channels)
    best = np.full(len(chans), -np.inf, np.float64)
    where = np.zeros(len(chans), np.int64)
    for i in range(0, len(images), batch):
        acts = block_output(model, images[i:i + batch], block)[:, chans].flatten(2).mean(2).double().numpy()
        j = acts.argmax(0)
        better = acts[j, np.arange(len(chans))] > best
        best = np.where(better, acts[j, np.arange(len(chans))], best)
        where = np.where(better, i + j, where)
    return best, where
