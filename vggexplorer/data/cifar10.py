"""CIFAR-10 as in-memory uint8 arrays: an ImageFolder directory, torchvision's download, or the bundled test split.

Training on a 2-core CPU cannot afford a PIL decode per sample per epoch, so every source is
decoded once into ``uint8 [N, 32, 32, 3]`` (HWC, like ``torchvision.datasets.CIFAR10.data``)
and augmentation runs on whole batches of tensors.
"""

from __future__ import annotations

from ..errors import VGGExplorerError
from ..files import ASSETS_DIR, DATA_DIR_HINT, atomic_write

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

# No torch at import (to_float and augment import it when called): the app decodes the bundled test split
# while torch is still importing (ui/warm.py).
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)

BUNDLED_TEST = ASSETS_DIR / "cifar10_test.npz"
PACK_TEST_CMD = f"python -m vggexplorer pack-test --data-dir {DATA_DIR_HINT}"


@dataclass
class Split:
    """One split of CIFAR-10 held in memory."""

    images: np.ndarray  # [N, 32, 32, 3] uint8
    labels: np.ndarray  # [N] int64
    filenames: list[str]
    classes: tuple[str, ...] = CIFAR10_CLASSES

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray | Sequence[int]) -> "Split":
        idx = np.asarray(idx)
        return Split(self.images[idx], self.labels[idx], [self.filenames[i] for i in idx], self.classes)


class DataError(VGGExplorerError, RuntimeError):
    """A data source is missing or malformed; the message says how to fix it."""


def _decode_png(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def load_imagefolder(root: str | Path, split: str, progress: bool = True) -> Split:
    """Decode ``root/<split>/<class>/*.png`` (ImageFolder layout) into memory.

    Index order is ImageFolder's: classes sorted, files sorted within a class.
    """
    from torchvision.datasets import ImageFolder

    folder = Path(root) / split
    if not folder.is_dir():
        raise DataError(
            f"No '{split}' folder under {root}. Expected {folder}/<class>/*.png (ImageFolder layout); "
            "or pass --download-root DIR to fetch CIFAR-10 with torchvision."
        )
    ds = ImageFolder(str(folder))
    if tuple(ds.classes) != CIFAR10_CLASSES:
        raise DataError(f"{folder} has classes {ds.classes}, expected the CIFAR-10 classes {list(CIFAR10_CLASSES)}.")
    paths = [p for p, _ in ds.samples]
    it = paths
    if progress:
        from tqdm import tqdm

        it = tqdm(paths, desc=f"decoding {split}", unit="img", mininterval=2.0)
    images = np.stack([_decode_png(p) for p in it])
    if images.shape[1:] != (32, 32, 3):
        raise DataError(f"{folder} holds images of shape {images.shape[1:]}, expected 32x32 RGB.")
    labels = np.asarray(ds.targets, dtype=np.int64)
    names = [str(Path(p).relative_to(folder)) for p in paths]
    return Split(images, labels, names)


def load_torchvision(root: str | Path, split: str) -> Split:
    """CIFAR-10 through ``torchvision.datasets.CIFAR10(root, download=True)`` (needs internet once)."""
    from torchvision.datasets import CIFAR10

    ds = CIFAR10(str(root), train=(split == "train"), download=True)
    labels = np.asarray(ds.targets, dtype=np.int64)
    return Split(np.asarray(ds.data, dtype=np.uint8), labels, [f"{split}_batch/{i}" for i in range(len(labels))])


def load_split(split: str, data_dir: str | Path | None = None, download_root: str | Path | None = None,
               cache_dir: str | Path | None = None) -> Split:
    """Load ``train`` or ``test`` from the first source given; the test split falls back to the bundled copy.

    ``cache_dir`` keeps a decoded ``.npz`` so a resumed run does not decode 50,000 PNGs again.
    """
    if data_dir is not None:
        cache = Path(cache_dir) / f"{split}.npz" if cache_dir else None
        if cache is not None and cache.exists():
            z = np.load(cache, allow_pickle=False)
            return Split(z["images"], z["labels"], list(z["filenames"]))
        s = load_imagefolder(data_dir, split)
        if cache is not None:  # atomically: a killed run must not leave a half cache that the next one reads
            with atomic_write(cache) as tmp:
                np.savez(tmp, images=s.images, labels=s.labels, filenames=np.asarray(s.filenames))
        return s
    if download_root is not None:
        return load_torchvision(download_root, split)
    if split == "test":
        return load_bundled_test()
    raise DataError("The training split is not bundled. Pass --data-dir DIR (ImageFolder layout, e.g. "
                    f"{DATA_DIR_HINT}) or --download-root DIR (torchvision download).")


def save_bundled_test(split: Split, path: Path = BUNDLED_TEST) -> Path:
    """Write the test split as one lossless PNG sprite per class inside an ``.npz``.

    PNG's filters compress CIFAR-10 about 25% better than zlib on raw bytes, which keeps the
    full 10,000-image split under 30 MB in the repo.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(split)
    cols = 100
    rows = -(-n // cols)
    sheet = np.zeros((rows * 32, cols * 32, 3), np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        sheet[r * 32:(r + 1) * 32, c * 32:(c + 1) * 32] = split.images[i]
    buf = io.BytesIO()
    Image.fromarray(sheet).save(buf, format="PNG", optimize=True)
    with atomic_write(path) as tmp:
        np.savez(tmp, sprite_png=np.frombuffer(buf.getvalue(), np.uint8), n=np.int64(n),
                 labels=split.labels.astype(np.uint8), filenames=np.asarray(split.filenames))
    return path


def bundled_test_path() -> Path:
    """The bundled test split; ``VGGEXPLORER_TEST_SPLIT`` points elsewhere (tests, other copies)."""
    return Path(os.environ.get("VGGEXPLORER_TEST_SPLIT", BUNDLED_TEST))


def not_npz(path: Path) -> str | None:
    """Why ``path`` is not an .npz archive, or None if it starts like one.

    Checked before ``np.load``, whose error for a non-zip file suggests ``allow_pickle=True``:
    the wrong advice for a damaged download.
    """
    with open(path, "rb") as f:
        head = f.read(4)
    return None if head == b"PK\x03\x04" else f"not an .npz archive (it starts with {head!r})"


def check_npz(path: Path, name: str, fix: str, error: type[Exception]) -> None:
    """Raise ``error`` naming ``path`` and the ``fix`` when the archive is missing or is not an .npz at all
    (the bundled test split, a scan)."""
    if not path.exists():
        raise error(f"{name} missing: {path}. {fix}")
    bad = not_npz(path)
    if bad:
        raise error(f"{name} {path} is damaged: {bad}. {fix}")


def load_bundled_test(path: Path | None = None) -> Split:
    """The full CIFAR-10 test split that ships in the repo (index order = ImageFolder order)."""
    path = Path(path) if path is not None else bundled_test_path()
    check_npz(path, "Bundled test split", f"Regenerate it with: {PACK_TEST_CMD}", DataError)
    try:
        z = np.load(path, allow_pickle=False)
        n = int(z["n"])
        sheet = np.asarray(Image.open(io.BytesIO(z["sprite_png"].tobytes())).convert("RGB"))
        cols = sheet.shape[1] // 32
        # [rows*32, cols*32, 3] -> [rows*cols, 32, 32, 3]
        tiles = sheet.reshape(-1, 32, cols, 32, 3).transpose(0, 2, 1, 3, 4).reshape(-1, 32, 32, 3)
        labels = z["labels"].astype(np.int64)
        names = [str(f) for f in z["filenames"]]
    except Exception as e:  # a damaged file must name itself and the fix
        raise DataError(f"Bundled test split {path} is damaged ({e}). Regenerate it with: {PACK_TEST_CMD}") from e
    if len(labels) != n or tiles.shape[0] < n:
        raise DataError(f"Bundled test split {path} is inconsistent. Regenerate it with: {PACK_TEST_CMD}")
    return Split(np.ascontiguousarray(tiles[:n]), labels, names)


def class_quotas(labels: np.ndarray, n: int) -> dict[int, int]:
    """Class -> how many of ``n`` images a stratified sample takes from it: ``n // classes`` each, the remainder one
    more each for the first classes (in class order); a class with fewer images gives all it has and the others
    share what it could not (``n`` at most ``len(labels)``)."""
    classes, avail = np.unique(labels, return_counts=True)
    quota = np.zeros(len(classes), np.int64)
    left = min(int(n), len(labels))
    while left > 0:
        open_ = np.flatnonzero(quota < avail)
        share, extra = divmod(left, len(open_))
        add = np.full(len(open_), share)
        add[:extra] += 1
        add = np.minimum(add, avail[open_] - quota[open_])
        quota[open_] += add
        left -= int(add.sum())
    return {int(c): int(q) for c, q in zip(classes, quota)}


def stratified_indices(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``int64 [n]``: sorted dataset indices of a seeded stratified sample, :func:`class_quotas` images per class,
    each class's drawn without replacement by one ``numpy`` Generator (seeded ``seed``), class after class.

    The test split is stored class by class, so its first ``n`` images are all airplanes: every subset of it is this
    one instead. ``n >= len(labels)`` gives every index.
    """
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels), dtype=np.int64)
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == c), q, replace=False) for c, q in class_quotas(labels, n).items()]
    return np.sort(np.concatenate(picked)).astype(np.int64)


def stratified_holdout(labels: np.ndarray, n_holdout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, holdout) with ``n_holdout // classes`` per class held out
    (:func:`stratified_indices`, seeded)."""
    per_class = n_holdout // len(np.unique(labels))
    holdout = stratified_indices(labels, per_class * len(np.unique(labels)), seed)
    mask = np.ones(len(labels), bool)
    mask[holdout] = False
    return np.flatnonzero(mask), holdout


def to_float(images_u8: torch.Tensor, mean: Sequence[float] | None, std: Sequence[float] | None) -> torch.Tensor:
    """``uint8 [N, H, W, 3]`` -> normalized ``float32 [N, 3, H, W]`` (``ToTensor()`` then optional Normalize)."""
    import torch

    x = images_u8.permute(0, 3, 1, 2).float().div_(255.0)
    if mean is not None and std is not None:
        m = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
        s = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
        x = (x - m) / s
    return x


def augment(x: torch.Tensor, gen: torch.Generator, pad: int = 4, cutout: int = 0) -> torch.Tensor:
    """Random crop (zero pad ``pad``), horizontal flip and optional cutout on a float batch ``[N, 3, H, W]``."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))  # [N, 3, H+2p, W+2p]
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    # Gather the crops with index arithmetic instead of a Python loop over images.
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h))  # [N, H]
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w))  # [N, W]
    flip = torch.rand(n, generator=gen) < 0.5
    cols = torch.where(flip.view(n, 1), cols.flip(1), cols)
    idx_n = torch.arange(n).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[idx_n, rows.view(n, h, 1), cols.view(n, 1, w)]  # [N, H, W, 3]
    out = out.permute(0, 3, 1, 2).contiguous()
    if cutout > 0:
        cy = torch.randint(0, h, (n,), generator=gen).view(n, 1, 1)
        cx = torch.randint(0, w, (n,), generator=gen).view(n, 1, 1)
        yy = torch.arange(h).view(1, h, 1)
        xx = torch.arange(w).view(1, 1, w)
        hole = ((yy - cy).abs() <= cutout // 2) & ((xx - cx).abs() <= cutout // 2)  # [N, H, W]
        out = out.masked_fill(hole.unsqueeze(1), 0.0)
    return out
