"""The on-disk cache of the scans of your own ladders: one file per ladder and pass, found by content hash.

A ladder's key (:func:`ladder_key`) is a hash of what decides its scan: each role's name and checkpoint bytes, the
``normalization.json`` beside each checkpoint (it changes the inputs), and the scan format version. The same files
anywhere on disk give the same key, so a restart, or another folder holding the same files, reuses the scan.

Each key has up to two files in :func:`store_dir`: ``<key>.quick.npz`` (the stratified quick pass, ``QUICK_IMAGES``
images) and ``<key>.full.npz`` (every image), which supersedes it. A file there is only ever complete: the scan
writes it through :func:`vggexplorer.files.atomic_write` (a temporary ``.<name>.<pid>.tmp.npz`` renamed over it),
so a killed scan leaves at most a temporary file, which :func:`lookup` never returns and :func:`evict` deletes
once it is an hour old.

The store is bounded (``VGGEXPLORER_SCAN_CACHE_MB``, default 256 MiB): :func:`evict` deletes the least recently
used files first (by mtime; :func:`lookup` refreshes the mtime of the file it returns).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from ..errors import ConfigError, VGGExplorerError
from ..files import cache_dir, stamped_sha256

if TYPE_CHECKING:  # the scan imports torch: this module does not, until a scan runs (ui/warm.py imports early)
    from torch import nn

    from ..data.cifar10 import Split

# Images per batch in the app's scans. At the CLI's 250, three models' transient activations add about 700 MB to the
# server (benchmarks/README.md, memory); at 50, the scan's CKA minibatch (stats.measures.CKA_BATCH, so the estimator
# is the same), far less, and the progress moves every 50 images.
APP_BATCH = 50
PHASES = ("quick", "full")  # the two passes, in the order they run; the full one supersedes the quick one
CACHE_MB_ENV = "VGGEXPLORER_SCAN_CACHE_MB"
DEFAULT_CACHE_MB = 256.0
STALE_TMP_S = 3600.0  # a temporary file this old is left by a killed scan (a live one exists only while it saves)

_COMPLETE = re.compile(r"^(?P<key>[0-9a-f]{64})\.(?P<phase>quick|full)\.npz$")


class ScanStoreError(VGGExplorerError, RuntimeError):
    """A ladder cannot be keyed or scanned into the store: a checkpoint is missing or unreadable."""


def ladder_key(checkpoints: Mapping[str, str | Path]) -> str:
    """The store key of a ladder ``{role: checkpoint path}`` (dense first): a SHA-256 hex digest of the scan
    version and, per role in order, its name, its file's SHA-256 and the SHA-256 of the ``normalization.json`` in
    the file's folder (``-`` without one). Where the files are does not enter it."""
    from ..data.images import NORMALIZATION_FILE
    from .scan import SCAN_VERSION

    if not checkpoints:
        raise ScanStoreError("No checkpoints to scan: a ladder needs at least its dense model.")
    h = hashlib.sha256(f"vggexplorer scan v{SCAN_VERSION}\n".encode())
    for role, path in checkpoints.items():
        p = Path(path)
        try:
            sha = stamped_sha256(p)
            norm = p.parent / NORMALIZATION_FILE
            norm_sha = stamped_sha256(norm) if norm.is_file() else "-"
        except OSError as e:
            raise ScanStoreError(f"Cannot read the {role} checkpoint {p}: {e.strerror or e}.") from e
        h.update(f"{role}\0{sha}\0{norm_sha}\n".encode())
    return h.hexdigest()


def store_dir() -> Path:
    """Where the scans of your own ladders are cached: ``scans/`` under :func:`vggexplorer.files.cache_dir`."""
    return cache_dir() / "scans"


def _check_phase(phase: str) -> None:
    if phase not in PHASES:
        raise ConfigError(f"Unknown scan pass {phase!r}: choose one of {', '.join(PHASES)}.")


def scan_file(key: str, phase: str) -> Path:
    """Where the ``phase`` pass of ladder ``key`` is stored (whether or not it exists yet)."""
    _check_phase(phase)
    return store_dir() / f"{key}.{phase}.npz"


def phase_of(path: str | Path) -> str | None:
    """Which pass a store file holds (``"quick"`` or ``"full"``), or None for any other file."""
    m = _COMPLETE.match(Path(path).name)
    return m["phase"] if m else None


def _touch(path: Path) -> bool:
    """Mark ``path`` used now (eviction drops the least recently used first); False if it is gone."""
    try:
        os.utime(path)
        return True
    except OSError:
        return False


def cached(key: str, phase: str) -> Path | None:
    """The stored ``phase`` pass of ``key`` if it is complete on disk (its mtime refreshed), else None."""
    path = scan_file(key, phase)
    return path if path.is_file() and _touch(path) else None


def lookup(key: str) -> Path | None:
    """The best stored scan of ``key``: the full pass if present, else the quick pass, else None. Only complete
    files are ever returned; the one returned is marked used now."""
    return cached(key, "full") or cached(key, "quick")


def cache_limit_bytes() -> int:
    """The store's size bound in bytes: ``VGGEXPLORER_SCAN_CACHE_MB`` (MiB, default 256)."""
    raw = os.environ.get(CACHE_MB_ENV, "").strip()
    if not raw:
        return int(DEFAULT_CACHE_MB * 2**20)
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb >= 0 or mb == float("inf"):
        raise ConfigError(f"{CACHE_MB_ENV} must be a number of megabytes >= 0 (default {DEFAULT_CACHE_MB:g}), "
                          f"not {raw!r}.")
    return int(mb * 2**20)


def _is_temporary(name: str) -> bool:
    """A temporary file of :func:`vggexplorer.files.atomic_write`: ``.<stem>.<pid>.tmp<suffix>``."""
    return name.startswith(".") and ".tmp" in name


def evict(keep: str | Path | None = None, max_bytes: int | None = None, now: float | None = None) -> list[Path]:
    """Bound the store: delete temporary files older than :data:`STALE_TMP_S` (left by a killed scan), then, while
    the complete scans total more than ``max_bytes`` (default :func:`cache_limit_bytes`), the least recently used
    one (oldest mtime first), never ``keep``. Files of other names are left alone. Returns what was deleted."""
    limit = cache_limit_bytes() if max_bytes is None else int(max_bytes)
    now = time.time() if now is None else now
    folder = store_dir()
    keep_path = Path(keep).resolve() if keep is not None else None
    deleted: list[Path] = []
    complete: list[tuple[int, int, Path]] = []  # (mtime_ns, size, path)
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return deleted
    for e in entries:
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:  # deleted meanwhile (another process evicting)
            continue
        path = Path(e.path)
        if _is_temporary(e.name):
            if now - st.st_mtime > STALE_TMP_S:
                path.unlink(missing_ok=True)
                deleted.append(path)
        elif _COMPLETE.match(e.name) and e.is_file(follow_symlinks=False):
            complete.append((st.st_mtime_ns, st.st_size, path))
    total = sum(size for _, size, _ in complete)
    for _, size, path in sorted(complete, key=lambda t: (t[0], t[2].name)):
        if total <= limit:
            break
        if keep_path is not None and path.resolve() == keep_path:
            continue
        path.unlink(missing_ok=True)
        deleted.append(path)
        total -= size
    return deleted


OnBatch = Callable[[int, int], None]  # on_batch(images done, images in this pass); may raise to cancel


def scan_ladder(checkpoints: Mapping[str, str | Path], split: "Split", phase: str,
                on_batch: OnBatch | None = None, load: Callable[[Path], nn.Module] | None = None) -> Path:
    """Scan a ladder ``{role: checkpoint}`` (dense first) over ``split`` into the store and return the file.

    ``phase``: ``"quick"`` scans :func:`vggexplorer.stats.scan.quick_indices` (``QUICK_IMAGES`` images,
    stratified, seeded), ``"full"`` every image. A pass already stored is returned as it is. The store is then
    bounded (:func:`evict`, keeping the new file). ``on_batch(done, total)`` is called after each batch and may raise
    to stop the scan, which then leaves no file. ``load(path)``: each model (default: read from the file).
    """
    from .scan import quick_indices, run_scan

    _check_phase(phase)
    key = ladder_key(checkpoints)
    done = cached(key, phase)
    if done is not None:
        return done
    out = scan_file(key, phase)
    indices = quick_indices(split.labels) if phase == "quick" else None
    run_scan(checkpoints, split, out, batch_size=APP_BATCH, progress=False, indices=indices, on_batch=on_batch,
             load=load)
    evict(keep=out)
    return out
