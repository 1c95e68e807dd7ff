"""Where things live and how they are written: the one place for the package's paths, atomic writes and file hashes.

Every file the package writes (checkpoints, run states, scans, the bundled test split, the model card) goes
through :func:`atomic_write`: it is written beside its destination and renamed over it, so a killed process
leaves either the old file or the new one, never half of one that reads as complete.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
ASSETS_DIR = PACKAGE_DIR / "assets"  # package data: the bundled test split
DATA_DIR_HINT = "../shared/data/cifar10"  # where the commands' examples say CIFAR-10 is (ImageFolder layout)


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """``with atomic_write(p) as tmp: save(..., tmp)``: write to a temporary file beside ``p``, then rename it
    over ``p``. The temporary name keeps ``p``'s suffix (``np.savez`` adds ``.npz`` to a name without it). On an
    error the temporary file is removed and ``p`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def cache_dir() -> Path:
    """Where results derived from the checkpoints are cached for every session and process (the feature
    visualisations): ``VGGEXPLORER_CACHE``, else ``runs/cache`` in a checkout (ignored by git), else
    ``~/.cache/vggexplorer`` for an installed package."""
    env = os.environ.get("VGGEXPLORER_CACHE")
    if env:
        return Path(env)
    if (REPO_ROOT / "pyproject.toml").exists():
        return REPO_ROOT / "runs" / "cache"
    return Path.home() / ".cache" / "vggexplorer"


def file_stamp(path: str | Path) -> tuple:
    """Identity of a file on disk: (path, mtime, size), or (path, None, None) when it is missing."""
    try:
        s = Path(path).stat()
        return (str(path), s.st_mtime_ns, s.st_size)
    except OSError:
        return (str(path), None, None)


_SHA_BY_STAMP: dict[tuple, str] = {}


def stamped_sha256(path: str | Path) -> str:
    """:func:`file_sha256`, computed once per :func:`file_stamp` of the resolved path in this process: a rewritten
    file is hashed again."""
    p = Path(path).resolve()
    p.stat()  # a missing file raises here, as before, rather than being hashed under a (path, None, None) stamp
    stamp = file_stamp(p)
    sha = _SHA_BY_STAMP.get(stamp)
    if sha is None:
        sha = _SHA_BY_STAMP[stamp] = file_sha256(p)
    return sha


def file_sha256(path: str | Path) -> str:
    """Hex digest of a file, to tie a scan or a derived model to the exact checkpoint it came from."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
