"""The feature visualisations' disk cache, shared by every session and process.

One entry per (checkpoint content, block, channel, seed, settings): ``<key>.json`` (the activation reached, dead or
not and why, the settings) and, for a live channel, ``<key>.png`` (the 32x32 RGB the model sees before
normalization). The key is a hash of the checkpoint file's SHA-256 (:func:`vggexplorer.files.stamped_sha256`:
computed once per file stamp), the block, the channel, the seed, the :class:`~vggexplorer.probe.featurevis.Settings`
and :data:`CACHE_VERSION`, so a retrained or re-pruned checkpoint, other settings or a changed algorithm never
read an old render. The PNG is written before the JSON, each atomically: an entry is there once its JSON is.

The app and ``python -m vggexplorer render --cache`` both read and fill :func:`entries_dir` (under
:func:`vggexplorer.files.cache_dir`), and render what is missing with
:func:`~vggexplorer.probe.featurevis.render_across`: a channel of every model in one batched optimisation.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from torch import nn

from ..files import atomic_write, cache_dir, stamped_sha256
from ..probe.featurevis import Render, Settings, render_across

CACHE_VERSION = 1  # raise it when the render changes in a way the settings do not record
APP_SETTINGS = Settings()  # what the app renders with, and ``render --cache`` by default
APP_SEED = 0
ENTRIES = "renders"


def entries_dir(root: str | Path | None = None) -> Path:
    return Path(root if root is not None else cache_dir()) / ENTRIES


def render_key(checkpoint_sha256: str, block: str, channel: int, settings: Settings, seed: int = APP_SEED) -> str:
    """The cache key of one render: a hash of everything it depends on."""
    what = {"version": CACHE_VERSION, "checkpoint_sha256": checkpoint_sha256, "block": block,
            "channel": int(channel), "seed": int(seed), "settings": settings.to_dict()}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]


def key_for(checkpoint: str | Path, block: str, channel: int, settings: Settings, seed: int = APP_SEED) -> str:
    """:func:`render_key` of the checkpoint file at ``checkpoint`` (its hash computed once per file stamp)."""
    return render_key(stamped_sha256(checkpoint), block, channel, settings, seed)


def load(key: str, root: str | Path | None = None) -> Render | None:
    """The cached render, or None when there is none (or it cannot be read: it is rendered again)."""
    from PIL import Image

    d = entries_dir(root)
    try:
        e = json.loads((d / f"{key}.json").read_text())
        image = None
        if e["png"]:
            with Image.open(d / e["png"]) as im:
                image = np.asarray(im.convert("RGB"), np.uint8)
        return Render(e["block"], int(e["channel"]), image, float(e["activation"]), int(e["steps"]), int(e["seed"]),
                      dict(e["settings"]), e.get("dead"), e.get("reason"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(key: str, render: Render, checkpoint_sha256: str, root: str | Path | None = None) -> None:
    from PIL import Image

    d = entries_dir(root)
    png = None
    if render.image is not None:
        png = f"{key}.png"
        with atomic_write(d / png) as tmp:
            Image.fromarray(np.asarray(render.image, np.uint8)).save(tmp, format="PNG")
    entry = {"block": render.block, "channel": render.channel, "png": png, "activation": render.activation,
             "steps": render.steps, "seed": render.seed, "settings": render.settings, "dead": render.dead,
             "reason": render.reason, "checkpoint_sha256": checkpoint_sha256, "version": CACHE_VERSION}
    with atomic_write(d / f"{key}.json") as tmp:
        tmp.write_text(json.dumps(entry, indent=1))


def cached(checkpoints: Mapping[str, str | Path], block: str, channel: int, settings: Settings | None = None,
           seed: int = APP_SEED, root: str | Path | None = None) -> dict[str, Render | None]:
    """Role -> the cached render of ``block``'s ``channel`` for the checkpoint file of each role (None: not cached)."""
    s = settings or APP_SETTINGS
    return {role: load(key_for(p, block, channel, s, seed), root) for role, p in checkpoints.items()}


def fill(models: Mapping[str, tuple[nn.Module, str | Path]], block: str, channels: Sequence[int],
         settings: Settings | None = None, seed: int = APP_SEED, root: str | Path | None = None,
         on_step: Callable[[int, int], None] | None = None) -> dict[str, dict[int, Render]]:
    """Role -> channel -> render of ``block``'s ``channels`` for each role's ``(model, checkpoint file)``: read from
    the cache, and what is missing rendered in one batched call (:func:`render_across`: every model's missing
    channels in one optimisation) and written to it. ``on_step(done, total)`` follows the optimisation's steps."""
    s = settings or APP_SETTINGS
    chans = [int(c) for c in dict.fromkeys(channels)]
    out: dict[str, dict[int, Render]] = {}
    todo: list[tuple[str, list[int]]] = []
    shas = {role: stamped_sha256(path) for role, (_, path) in models.items()}
    for role in models:
        out[role] = {}
        for c in chans:
            r = load(render_key(shas[role], block, c, s, seed), root)
            if r is not None:
                out[role][c] = r
        missing = [c for c in chans if c not in out[role]]
        if missing:
            todo.append((role, missing))
    if todo:
        rendered = render_across([(models[role][0], missing) for role, missing in todo], block, s, seed, on_step)
        for (role, _), renders in zip(todo, rendered):
            for r in renders:
                save(render_key(shas[role], block, r.channel, s, seed), r, shas[role], root)
                out[role][r.channel] = r
    elif on_step is not None:
        on_step(s.steps, s.steps)
    return {role: {c: out[role][c] for c in chans} for role in models}
