"""``python -m vggexplorer render``: feature visualisations of a block's channels, as PNGs and ``renders.json``.

DIR/<block>-<channel>.png is the 32x32 RGB the model sees before normalization; DIR/renders.json holds, per
render, the activation it reaches, the best test image's activation (the largest spatial-mean post-ReLU value
over the test images used, and which image), and the settings. The file is rewritten after every batch, so a
killed run resumes where it stopped: a render already there with the same seed and settings is skipped.

With ``--cache`` it fills the app's renders cache instead (:mod:`vggexplorer.views.render_cache`, under
``VGGEXPLORER_CACHE`` or ``runs/cache``): every channel asked for, in dense and every rung (or the
``--checkpoint`` files given), each channel of every model in one batched optimisation; what is already cached is
skipped, so it resumes too. ``--block all`` does every block. A hosted demo then shows every render at once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..data.cifar10 import load_split, stratified_holdout
from ..errors import ConfigError
from ..files import atomic_write, file_sha256
from ..model.checkpoint import load_model
from ..model.vgg import blocks

RENDERS_JSON = "renders.json"


def add_render_parser(sub) -> None:
    """The ``render`` subcommand's flags (``sub`` is the parser's subparsers)."""
    p = sub.add_parser("render", help="feature visualisation: the image that most excites each channel of a block")
    p.add_argument("--checkpoint", type=Path, action="append", default=None,
                   help="the model (with --cache: repeat for several; default there the shipped ladder)")
    p.add_argument("--block", required=True, help="conv0..conv7 (with --cache also 'all')")
    p.add_argument("--channels", required=True, help="comma-separated channel numbers (0,5,9) or 'all'")
    p.add_argument("--out", type=Path, default=None, help="folder for <block>-<channel>.png and renders.json")
    p.add_argument("--cache", action="store_true", help="fill the app's renders cache instead of --out (dense and "
                                                         "every rung unless --checkpoint is given)")
    p.add_argument("--steps", type=int, default=256, help="optimisation steps (default 256)")
    p.add_argument("--batch", type=int, default=16, help="channels optimised together (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the start and the transforms (default 0)")
    p.add_argument("--test-images", type=int, default=None,
                   help="compare against a stratified sample of N test images (N // 10 per class, seed 0; the split is "
                        "stored class by class, so never its first N) instead of all of the split")
    p.add_argument("--data-dir", type=Path, default=None, help="CIFAR-10 in ImageFolder layout (default: the "
                                                               "bundled test split)")


def test_sample(labels: np.ndarray, n: int | None) -> np.ndarray:
    """Indices of the test images a render is compared with: all of them, or a stratified sample of ``n`` (``n // 10``
    per class, at least one per class, seed 0), sorted."""
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    k = len(np.unique(labels))
    return stratified_holdout(labels, max(n // k, 1) * k, seed=0)[1]


def parse_channels(text: str, width: int, block: str) -> list[int]:
    """``"all"`` or ``"0,5,9"`` -> channel numbers in order, without repeats; a bad entry is a ConfigError."""
    if text.strip().lower() == "all":
        return list(range(width))
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) >= width:
            raise ConfigError(f"--channels: {part!r} is not a channel of {block} (0..{width - 1}); give numbers "
                              "separated by commas, e.g. 0,5,9, or 'all'")
        if int(part) not in out:
            out.append(int(part))
    return out


def _load_json(path: Path, sha: str) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} cannot be read ({e}); remove it or choose another --out") from e
    if data.get("checkpoint_sha256") not in (None, sha):
        raise ConfigError(f"{path} holds renders of another checkpoint ({data.get('checkpoint')}); "
                          "choose another --out")
    return data


def cmd_render(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    from ..probe.featurevis import Settings, best_test_activation, render_channels

    if args.steps < 1 or args.batch < 1:
        raise ConfigError("--steps and --batch must be at least 1")
    if args.cache:
        return fill_cache(args, Settings.for_steps(args.steps))
    if args.out is None or not args.checkpoint or len(args.checkpoint) > 1:
        raise ConfigError("give one --checkpoint and --out (or --cache to fill the app's renders cache)")
    args.checkpoint = args.checkpoint[0]
    model = load_model(args.checkpoint)
    bl = blocks(model)
    if args.block not in bl:
        raise ConfigError(f"--block {args.block!r} is not a block of this model; choose one of {', '.join(bl)}")
    channels = parse_channels(args.channels, bl[args.block].conv.out_channels, args.block)
    settings = Settings.for_steps(args.steps)
    sha = file_sha256(args.checkpoint)
    path = args.out / RENDERS_JSON
    data = _load_json(path, sha)
    split = load_split("test", args.data_dir)
    sample = test_sample(split.labels, args.test_images)
    n_test = len(sample)
    data.update({"checkpoint": str(args.checkpoint), "checkpoint_sha256": sha,
                 "test_source": str(args.data_dir or "bundled test split"), "test_images": n_test})
    renders = data.setdefault("renders", {})

    def done(c: int) -> bool:
        r = renders.get(f"{args.block}-{c}")
        return bool(r) and r["seed"] == args.seed and r["settings"] == settings.to_dict() and r["test_images"] == n_test

    todo = [c for c in channels if not done(c)]
    skipped = len(channels) - len(todo)
    if todo:
        best, where = best_test_activation(model, args.block, todo, split.images[sample])
        where = sample[np.asarray(where)]  # indices into the split
        bar = tqdm(total=len(todo), desc=f"render {args.block}", unit="ch", initial=0)
        for i in range(0, len(todo), args.batch):
            part = todo[i:i + args.batch]
            for r in render_channels(model, args.block, part, settings, seed=args.seed, batch=args.batch):
                k = todo.index(r.channel)
                png = None
                if r.image is not None:
                    png = f"{args.block}-{r.channel}.png"
                    with atomic_write(args.out / png) as tmp:
                        Image.fromarray(np.asarray(r.image)).save(tmp)
                b = float(best[k])
                renders[f"{args.block}-{r.channel}"] = {
                    "block": args.block, "channel": r.channel, "png": png, "activation": r.activation,
                    "best_test_activation": b, "best_test_image": int(where[k]),
                    "best_test_file": split.filenames[int(where[k])], "test_images": n_test,
                    "ratio": r.activation / b if b > 0 else None, "dead": r.dead, "reason": r.reason,
                    "seed": r.seed, "steps": r.steps, "settings": r.settings}
            with atomic_write(path) as tmp:
                tmp.write_text(json.dumps(data, indent=1))
            bar.update(len(part))
        bar.close()
    elif not path.exists():
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(data, indent=1))
    dead = sum(1 for c in channels if renders[f"{args.block}-{c}"]["dead"])
    print(f"wrote {args.out}: {len(todo)} rendered, {skipped} already there, {dead} dead "
          f"(of {len(channels)} channels of {args.block})")
    return 0


def fill_cache(args: argparse.Namespace, settings) -> int:
    """``render --cache``: the app's renders cache filled for ``--channels`` of ``--block`` in every model."""
    from tqdm import tqdm

    from ..model.ladder import LADDER
    from ..views.render_cache import cached, entries_dir, fill

    paths = args.checkpoint or [r.path for r in LADDER]
    models = {str(p): (load_model(p), p) for p in paths}
    bl = blocks(next(iter(models.values()))[0])
    names = list(bl) if args.block.strip().lower() == "all" else [args.block]
    bad = [b for b in names if b not in bl]
    if bad:
        raise ConfigError(f"--block {bad[0]!r} is not a block of this model; choose one of {', '.join(bl)} or all")
    rendered = there = dead = 0
    for b in names:
        channels = parse_channels(args.channels, bl[b].conv.out_channels, b)
        bar = tqdm(total=len(channels), desc=f"cache {b}", unit="ch")
        for i in range(0, len(channels), args.batch):
            part = channels[i:i + args.batch]
            before = sum(r is not None for c in part for r in cached({k: p for k, (_, p) in models.items()}, b, c,
                                                                     settings, args.seed).values())
            out = fill(models, b, part, settings, args.seed)
            n = sum(len(v) for v in out.values())
            there, rendered = there + before, rendered + n - before
            dead += sum(r.dead is not None for v in out.values() for r in v.values())
            bar.update(len(part))
        bar.close()
    print(f"wrote {entries_dir()}: {rendered} rendered, {there} already there, {dead} dead "
          f"({len(models)} models, {', '.join(names)})")
    return 0
