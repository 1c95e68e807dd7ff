"""Everything the app caches, and nothing else.

Models, the test split and the scan are ``st.cache_resource``: one read-only copy per process, shared by
every session, keyed by the files' identity (path, mtime, size) so a regenerated file is picked up
without a restart. Per-image results are ``st.cache_data`` (copied per session, so sessions never share
mutable results), keyed by the :class:`~ui.modelset.ModelSet` and the image's pixels.
"""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import streamlit as st
from torch import nn

from vggexplorer import load_bundled_test, load_model, load_scan
from vggexplorer.errors import VGGExplorerError
from vggexplorer.files import file_stamp
from vggexplorer.stats import status as dead
from vggexplorer.model.compact import load_compact
from vggexplorer.data.cifar10 import bundled_test_path
from vggexplorer.views.explorer_model import (ImageAnalysis, ScanView, analyze_image, channel_table,
                                             importance_every_block, importance_scores, scan_view, slot_statuses)
from vggexplorer.views import ladder_model as lv
from vggexplorer.model.ladder import SCAN_CMD, Ladder, Rung, prune_command  # noqa: F401 (pages)
from vggexplorer.stats import scan_store
from vggexplorer.stats.scan import QUICK_IMAGES, check_scan_matches

from . import readahead, scan_queue, shared_models
from .caps import caps
from .modelset import ModelRef, ModelSet
from .state import BLOCKS

# ---- a ladder's files ----------------------------------------------------------------------------

def _compact_rungs(ladder: Ladder) -> list[Rung]:
    """The rungs held compact in the ladder (see :func:`ladder_models`): those above the one shown first."""
    return [r for r in ladder.pruned if r.percent > ladder.default.percent]


def prefetch_ladder(ladder: Ladder) -> None:
    """After the first page is complete: start reading the rungs above the default one (the Explorer's ladder panel
    runs them all), one at a time, so that they do not compete with the first page for the CPU."""
    readahead.read_ahead(f"ladder-{ladder.folder}", lambda: {("compact", ModelRef.of(r).stamp): partial(load_compact, r.path)
                                                             for r in _compact_rungs(ladder)}, workers=1)


def _shared_rung(kind: str, rung: Rung, stamp: tuple, loader: Callable[[Any], nn.Module]) -> nn.Module:
    """The rung loaded as ``kind`` once per process (:func:`ui.shared_models.shared`), read ahead if it was."""
    return shared_models.shared((kind, stamp), lambda: readahead.take((kind, stamp), partial(loader, rung.path)))


def scan_model(ladder: Ladder, path: str | Path) -> nn.Module:
    """What the scan worker runs for ``path``, one of ``ladder``'s files: a twin (its own hooks and lock) of the very
    model the pages hold, or will, of the kind they hold it in (the rungs above the default one compact)."""
    rung = next(r for r in ladder.rungs if Path(r.path) == Path(path))
    kind, loader = ("compact", load_compact) if rung in _compact_rungs(ladder) else ("model", load_model)
    return shared_models.twin(_shared_rung(kind, rung, ModelRef.of(rung).stamp, loader))


def _rung_or_problem(kind: str, rung: Rung, stamp: tuple, loader: Callable[[Any], nn.Module]
                     ) -> tuple[nn.Module | None, str | None]:
    """(the rung loaded by ``loader``, prefetched as ``kind`` if it was, None), or (None, the problem and its fix)."""
    try:
        return _shared_rung(kind, rung, stamp, loader), None
    except VGGExplorerError as e:
        if rung.folder is not None:
            return None, str(e)
        return None, f"{e} Re-create it with: `{prune_command(rung)}` (see checkpoints/README.md)."


@st.cache_resource(show_spinner="Loading a checkpoint…", max_entries=12)
def _model(rung: Rung, stamp: tuple) -> tuple[nn.Module | None, str | None]:
    return _rung_or_problem("model", rung, stamp, load_model)


def load(ref: ModelRef) -> tuple[nn.Module | None, str | None]:
    """(model, None), or (None, what is wrong and the command that rebuilds it)."""
    return _model(ref.rung, ref.stamp)


def models(ms: ModelSet) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """Slot -> model for the slots that loaded, and slot -> message for those that did not."""
    out, errors = {}, {}
    for slot, ref in ms.refs().items():
        model, err = load(ref)
        if model is not None:
            out[slot] = model
        else:
            errors[slot] = err
    return out, errors


@st.cache_resource(show_spinner="Loading the bundled CIFAR-10 test split…", max_entries=2)
def _test_split(stamp: tuple):
    try:
        split = readahead.take(("split", stamp), load_bundled_test)
    except VGGExplorerError as e:
        return None, str(e)
    split.images.setflags(write=False)
    split.labels.setflags(write=False)
    return split, None


def test_split():
    """(split, problem message or None): the 10,000 test images, shared read-only by every session."""
    return _test_split(file_stamp(bundled_test_path()))


# ---- a ladder's scan ------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading the dataset scan…", max_entries=8)
def _scan_at(path: str, stamp: tuple):
    try:
        return readahead.take(("scan", stamp), partial(load_scan, path)), None
    except VGGExplorerError as e:
        return None, str(e)


@st.cache_resource(max_entries=16)
def _matches(path: str, stamp: tuple, ladder: Ladder, stamps: tuple) -> list[str]:
    """The ladder's roles whose file differs from the one the scan at ``path`` was computed on (by SHA-256)."""
    scan, _ = _scan_at(path, stamp)
    if scan is None:
        return []
    extra = [r for r in scan.roles if r not in {x.role for x in ladder.rungs}]  # a scan of other rungs too
    return check_scan_matches(scan, checkpoints_of(ladder)) + extra


def checkpoints_of(ladder: Ladder) -> dict[str, Path]:
    return {r.role: r.path for r in ladder.rungs}


def scan_source(ladder: Ladder) -> tuple[tuple | None, str | None, Any]:
    """Where ``ladder``'s statistics come from: (``(path, stamp)`` of the scan file in use or None, a note, the scan
    job's status or None).

    The shipped ladder reads ``checkpoints/scan.npz``. Your own reads the scan given with it (``VGGEXPLORER_SCAN``, a
    ``scan.npz`` beside it) when that was computed on these files, else the scan cache; whatever is not scanned yet
    is queued (:mod:`ui.scan_queue`: one scan at a time per process, a quick pass first, then the full one)."""
    given = ladder.scan_path()
    if ladder.is_shipped:
        return (str(given), file_stamp(given)), None, None
    note = None
    if given is not None:
        stamp = file_stamp(given)
        scan, err = _scan_at(str(given), stamp)
        if scan is not None and not _matches(str(given), stamp, ladder, ladder_stamps(ladder)):
            return (str(given), stamp), None, None
        note = (f"The scan {given.name} was not computed on these checkpoints ({err or 'other files'}): "
                "scanning them here instead.")
    key = scan_store.ladder_key(checkpoints_of(ladder))
    split = test_split()[0]  # the app's own copy, read-only: the scan does not read a second one
    status = scan_queue.QUEUE.request(key, checkpoints_of(ladder), (lambda: split) if split is not None
                                      else load_bundled_test, full=caps().full_pass, load=partial(scan_model, ladder))
    path = scan_store.lookup(key)
    return ((str(path), file_stamp(path)) if path is not None else None), note, status


def scan_of(source: tuple | None):
    """(the scan at ``source`` from :func:`scan_source`, or None; the problem message)."""
    if source is None:
        return None, None
    return _scan_at(*source)


def ladder_scan(ladder: Ladder):
    """(the scan of ``ladder``'s models with its stored comparison, or None; the problem message)."""
    source, note, status = scan_source(ladder)
    if source is None:
        return None, note or (f"Not scanned yet: this page fills as soon as the quick pass ({QUICK_IMAGES:,} stratified "
                              "test images) is done; the full 10,000-image pass then replaces it. Its progress is above.")
    return scan_of(source)


@st.cache_resource(max_entries=8)
def _scan(source: tuple, ms: ModelSet) -> tuple[ScanView | None, str | None]:
    scan, err = scan_of(source)
    if scan is None:
        return None, err
    view = scan_view(scan, {slot: ref.role for slot, ref in ms.refs().items()})
    if not view.models:
        return None, f"The dataset scan holds none of the models shown. Rebuild it with: `{SCAN_CMD}`"
    if ms.ladder.is_shipped:
        stale = check_scan_matches(scan, {ms.refs()[s].role: ms.refs()[s].path for s in view.models})
        if stale:
            return view, (f"The dataset scan was computed on other checkpoints than the ones loaded "
                          f"({', '.join(stale)}); its statistics may not match. Rebuild it with: `{SCAN_CMD}`")
    return view, None


def scan(ms: ModelSet) -> tuple[ScanView | None, str | None]:
    """The scan's statistics by slot, for the models shown, and a note when something is off."""
    source, note, _ = scan_source(ms.ladder)
    if source is None:
        return None, note
    return _scan(source, ms)


# ---- per model set ----------------------------------------------------------------------------

@st.cache_resource(max_entries=8)
def filter_sparsity(ms: ModelSet) -> dict[str, dict[str, np.ndarray]]:
    """Slot -> block -> ``[C]``: each filter's fraction of zero weights (read-only, shared)."""
    return {slot: dead.filter_sparsity(model) for slot, model in models(ms)[0].items()}


@st.cache_resource(max_entries=8)
def _statuses(source: tuple | None, ms: ModelSet) -> dict[str, dict[str, np.ndarray]]:
    full, _ = scan_of(source)
    return slot_statuses(full, {slot: ref.role for slot, ref in ms.refs().items()}, filter_sparsity(ms))


def statuses(ms: ModelSet) -> dict[str, dict[str, np.ndarray]]:
    """Slot -> block -> ``str [C]``: every channel's status, computed once per model set and scan file (read-only,
    shared); every view of the Explorer (mosaic hover, importance bars, channel table) reads it."""
    return _statuses(scan_source(ms.ladder)[0], ms)


@st.cache_data(max_entries=16, show_spinner=False)
def _channels_df(source: tuple | None, ms: ModelSet):
    full, _ = scan_of(source)
    died = {b: dead.scan_died_at(full, b, full.roles[0]) for b in BLOCKS} if full is not None else None
    return channel_table(models(ms)[0], _scan(source, ms)[0] if source else None, BLOCKS, statuses(ms), died,
                         ms.pruned.rung.percent)


def channels_df(ms: ModelSet):
    return _channels_df(scan_source(ms.ladder)[0], ms)


# ---- per image: 32 images x ~3 MB of maps for both models, bounded for a hosted demo ------------

@st.cache_data(max_entries=32, show_spinner=False)
def analyze(ms: ModelSet, image: np.ndarray) -> ImageAnalysis:
    """Both models on one ``uint8 [32, 32, 3]`` image (maps and comparisons; the importance panel asks for its own
    backward pass, so a page without it runs none)."""
    return analyze_image(models(ms)[0], image)


@st.cache_data(max_entries=32, show_spinner=False)
def _importance_every_block(ms: ModelSet, image: np.ndarray, cls: int):
    return importance_every_block(models(ms)[0], analyze(ms, image), image, cls)


@st.cache_data(max_entries=16, show_spinner="Zeroing each channel…")
def _ablation(ms: ModelSet, image: np.ndarray, block: str, cls: int):
    return importance_scores(models(ms)[0], analyze(ms, image), image, block, cls, "ablation")


def importance(ms: ModelSet, image: np.ndarray, block: str, cls: int, method: str):
    """(slot -> ``[C]`` importance of ``block``'s channels for class ``cls``, the measure's name)."""
    return _ablation(ms, image, block, cls) if method == "ablation" else _importance_every_block(ms, image, cls)[block]


@st.cache_data(max_entries=16, show_spinner="Rendering the activation grid…")
def activation_png(ms: ModelSet, image: np.ndarray, title: str) -> bytes:
    from vggexplorer.views.render import activation_sheet

    an = analyze(ms, image)
    caps = {r: {b: c.block(b) for b in BLOCKS} for r, c in an.captures.items()}
    buf = io.BytesIO()
    activation_sheet(caps, title).save(buf, format="PNG")
    return buf.getvalue()


def nonfinite(loaded: Mapping[str, nn.Module]) -> dict[str, list[str]]:
    """Slot -> tensors with NaN or infinite values (found when the checkpoint was read)."""
    return {s: m.meta.get("nonfinite") for s, m in loaded.items() if m.meta.get("nonfinite")}


# ---- the whole sparsity ladder ------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading a checkpoint…", max_entries=12)
def _compact_rung(rung: Rung, stamp: tuple) -> tuple[nn.Module | None, str | None]:
    return _rung_or_problem("compact", rung, stamp, load_compact)


def ladder_models(ladder: Ladder) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """Role -> model for dense and every rung of ``ladder`` that loads, and problems.

    Dense and the default rung are the first page's own models (shared with the slots' cache); the rungs
    above it are held compact (:mod:`vggexplorer.model.compact`: their sparse layers as non-zeros only), which
    keeps a server with the whole ladder within a hosted demo's memory.
    """
    out, errors = {}, {}
    compact = _compact_rungs(ladder)
    for rung in ladder.rungs:
        model, err = (_compact_rung(rung, ModelRef.of(rung).stamp) if rung in compact
                      else load(ModelRef.of(rung)))
        if model is not None:
            out[rung.role] = model
        else:
            errors[rung.label] = err
    return out, errors


@st.cache_data(max_entries=8, show_spinner=False)
def channel_across(ladder: Ladder, image: np.ndarray, block: str,
                   _known: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Role -> ``[C, H, W]``: one block's maps on one image for dense and every rung (a channel pick reads it).

    ``_known``: role -> the maps the page already has (not part of the cache key: a role's maps on an image
    are the same wherever they were computed); the other rungs run only as far as ``block``.
    """
    return lv.block_across(ladder_models(ladder)[0], image, block, _known)


@st.cache_resource(max_entries=64)
def filter_figure(ms: ModelSet, block: str, ch: int, rung_label: str):
    """The filter panel's figure (dense against the chosen rung). It depends on the models and the channel, not on
    the image, so a new image reuses it; shared by sessions, and never modified (``st.plotly_chart`` copies it)."""
    from vggexplorer.views.weight_figures import filter_weights

    m = models(ms)[0]
    return filter_weights(lv.filter_weights(m["dense"], block, ch), lv.filter_weights(m["pruned"], block, ch), block,
                          ch, rung_label)


@st.cache_data(max_entries=8, show_spinner=False)
def ladder_channels(source: tuple, role: str):
    """Every channel of every block: its status and statistics on rung ``role`` and the rung where it died."""
    import pandas as pd

    scan, _ = scan_of(source)
    return pd.concat([lv.channel_table(scan, b, role).assign(block=b) for b in scan.blocks], ignore_index=True)


@st.cache_data(max_entries=4, show_spinner=False)
def ladder_summary(ladder: Ladder, stamps: tuple) -> dict:
    """Size on disk, non-zero parameters and per-layer sparsity of dense and every rung that loads."""
    from vggexplorer.model.vgg import count_nonzero_params, layer_sparsity

    models, _ = ladder_models(ladder)
    rungs = [r for r in ladder.rungs if r.role in models]
    return {"sizes": {r.role: r.path.stat().st_size for r in rungs},
            "nonzero": {r.role: count_nonzero_params(models[r.role]) for r in rungs},
            "layer_sparsity": {r.percent: layer_sparsity(models[r.role]) for r in rungs if r.percent > 0}}


@st.cache_data(max_entries=32, show_spinner=False)
def _field_crops(ladder: Ladder, role: str, block: str, ch: int, source: tuple | None, stamps: tuple) -> list[np.ndarray]:
    from vggexplorer.probe.receptive import field_crops as crops
    from vggexplorer.views.looks_for import top_images

    scan, _ = scan_of(source)
    split, _ = test_split()
    model = ladder_models(ladder)[0].get(role)
    top = top_images(scan, role, block, ch) if scan is not None else []
    if not top or split is None or model is None:
        return []
    return crops(model, block, ch, split.images[top])


def field_crops(ladder: Ladder, role: str, block: str, ch: int) -> list[np.ndarray]:
    """The channel's top test images on ``role`` (from the scan), each cropped to the block's receptive field around
    the channel's strongest unit on it; none when it never fires or is not scanned."""
    return _field_crops(ladder, role, block, ch, scan_source(ladder)[0], ladder_stamps(ladder))


def ladder_stamps(ladder: Ladder) -> tuple:
    return tuple(ModelRef.of(r).stamp for r in ladder.rungs)
