"""A feature visualisation against the bare optimisation loop, and one channel in every model in one call.

    python -m benchmarks.bench_render [--steps 64] [--batch 16] [--repeats 3] [--block conv3] [--no-write]

1. ``render_channels`` on ``--batch`` channels of ``--block`` of the dense model, ``--steps`` steps, against the
   floor: the loop with the same forward and backward (the same truncated model, the same batch, gradients with
   respect to the input only), the same optimiser (Adam, the same learning rate) and the same steps, on a raw
   pixel tensor: no Fourier parameterisation, no colour decorrelation, no sigmoid, no jitter, scale or rotation,
   and no final measurement of the render. Target: render / floor <= 1.2x.
2. One channel in dense and every rung: ``render_across`` (one optimisation, every model sees its own image)
   against ``render_channels`` called once per model.

Each pair is run alternately after one warm-up of each; medians are reported and written to benchmarks/README.md.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from benchmarks._report import arguments, interleaved, machine, write_section
from vggexplorer import load_model
from vggexplorer.data.images import normalization
from vggexplorer.model.ladder import LADDER
from vggexplorer.probe import featurevis as fv

TARGET = 1.2


def floor_loop(model, block: str, channels: list[int], s: fv.Settings) -> None:
    """The bare loop: the same forward, backward and Adam steps on raw pixels (see the module's docstring)."""
    layers = fv.truncated(model, block)
    mean, std = normalization(model)
    m = torch.tensor(mean if mean is not None else (0.0, 0.0, 0.0)).view(1, -1, 1, 1)
    sd = torch.tensor(std if std is not None else (1.0, 1.0, 1.0)).view(1, -1, 1, 1)
    rows, idx = torch.arange(len(channels)), torch.tensor(channels)
    with torch.enable_grad():
        x = torch.full((len(channels), 3, s.size, s.size), 0.5, requires_grad=True)
        opt = torch.optim.Adam([x], lr=s.lr)
        for step in range(s.steps):
            pre = fv.pre_relu(layers, (x - m) / sd)[rows, idx]
            obj = pre if step < s.pre_relu_steps else F.relu(pre)
            (x.grad,) = torch.autograd.grad(-obj.flatten(1).mean(1).sum(), [x])
            opt.step()


def main() -> None:
    args = arguments(__doc__, {"steps": 64, "batch": 16, "repeats": 3}, "no-write", block="conv3")
    s = fv.Settings.for_steps(args.steps)
    models = {r.role: load_model(r.path) for r in LADDER if r.path.exists()}
    dense = models["dense"]
    channels = list(range(args.batch))
    render, floor = interleaved(lambda: fv.render_channels(dense, args.block, channels, s, batch=args.batch),
                                lambda: floor_loop(dense, args.block, channels, s), repeats=args.repeats)
    ch = [0]
    across, each = interleaved(lambda: fv.render_across([(m, ch) for m in models.values()], args.block, s),
                               lambda: [fv.render_channels(m, args.block, ch, s) for m in models.values()],
                               repeats=args.repeats)
    ratio = render / floor
    body = [
        "## Feature visualisation (`python -m benchmarks.bench_render`)", "",
        f"Machine: {machine()}. {args.block}, {args.steps} steps, medians of {args.repeats} interleaved runs after "
        "one warm-up each.", "",
        f"Floor: the same loop (the dense model truncated at {args.block}'s BatchNorm, the same batch, forward and "
        "backward with respect to the input only, Adam at the same learning rate, the same steps) on a raw pixel "
        "tensor, without the Fourier parameterisation, colour decorrelation, sigmoid, jitter, scale and rotation, "
        "and without the render's final measurement.", "",
        "| what | time | ratio | target |", "|---|---:|---:|---:|",
        f"| floor: bare loop, {args.batch} channels | {floor:.2f} s | 1.000x | |",
        f"| `render_channels`, {args.batch} channels in one batch | {render:.2f} s | {ratio:.3f}x | <= {TARGET}x |",
        f"| one channel in {len(models)} models ({', '.join(models)}), `render_channels` per model | {each:.2f} s "
        "| 1.000x | |",
        f"| the same in one `render_across` call | {across:.2f} s | {across / each:.3f}x | |",
    ]
    print("\n".join(body))
    if not args.no_write:
        write_section("render", "\n".join(body))
    if ratio > TARGET:
        print(f"render / floor = {ratio:.3f}x: above the {TARGET}x target")


if __name__ == "__main__":
    main()
