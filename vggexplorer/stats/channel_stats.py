"""The running per-channel reductions a scan folds in batch by batch (:mod:`vggexplorer.stats.scan`): sums, class
sums, fire and non-zero counts, peaks and the top-``k`` images of every channel of one block, and the Pearson
correlation of two models' channels from running moments. No activation tensor is kept beyond its batch.

Inside the scan's hooks these reductions are bound by memory traffic and by the number of small operations, not
by arithmetic:

* positions > 0 are counted by writing the comparison into a reused float buffer, in the map's memory format, and
  summing it (a boolean tensor summed as integers costs three times as much; a buffer in another layout, a
  transposing copy);
* everything else (sums, class sums, peaks, the top-``k`` merge) folds in :data:`MERGE_IMAGES` images at a time,
  not batch by batch, so its few dozen small operations per block run once per merge, from a buffer allocated
  once (see :class:`BlockStats`);
* the top-``k`` merge is one ``topk`` of an integer key rather than two sorts (``benchmarks/README.md``, scan).
"""

from __future__ import annotations

import numpy as np
import torch

MERGE_IMAGES = 200  # images folded into the running statistics at a time (the per-batch results wait until then)


def pearson_from_moments(m: dict[str, torch.Tensor], n: int) -> torch.Tensor:
    """Per-channel Pearson correlation from running sums; both constant -> 1, one constant -> 0."""
    ma, mb = m["a"] / n, m["b"] / n
    va, vb = m["aa"] / n - ma * ma, m["bb"] / n - mb * mb
    cov = m["ab"] / n - ma * mb
    tiny_a = va <= 1e-12 * torch.clamp(ma * ma, min=1.0)
    tiny_b = vb <= 1e-12 * torch.clamp(mb * mb, min=1.0)
    r = cov / torch.sqrt(va.clamp_min(1e-300) * vb.clamp_min(1e-300))
    r = torch.where(tiny_a & tiny_b, torch.ones_like(r), r)
    r = torch.where(tiny_a ^ tiny_b, torch.zeros_like(r), r)
    return r.clamp(-1, 1).float()


class PairMoments:
    """Running sums, per channel, of two models' spatial means over the same images, for their Pearson correlation."""

    def __init__(self, channels: int) -> None:
        # allocated now, before any activation (see BlockStats): "a", "b", "aa", "bb", "ab", float64 [C]
        self.sums = {key: torch.zeros(channels, dtype=torch.float64) for key in ("a", "b", "aa", "bb", "ab")}
        self.n = 0

    def update(self, xa: torch.Tensor, xb: torch.Tensor) -> None:
        """Fold in one batch's spatial means ``[B, C]`` of the first and the second model (in place: nothing is
        allocated that outlives the batch)."""
        xa, xb = xa.double(), xb.double()
        m = self.sums
        m["a"] += xa.sum(0); m["b"] += xb.sum(0)
        m["aa"] += (xa * xa).sum(0); m["bb"] += (xb * xb).sum(0); m["ab"] += (xa * xb).sum(0)
        self.n += xa.shape[0]

    def correlation(self) -> torch.Tensor:
        """float32 ``[C]``: :func:`pearson_from_moments` over every image folded in."""
        if not self.n:
            raise ValueError("no images were folded in")
        return pearson_from_moments(self.sums, self.n)


def _rank_key(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``int64`` keys that order float32 ``values`` as numbers (NaN above everything, as ``torch.sort`` puts it) and,
    among equal values, the lower dataset ``index`` (< 2**31) higher."""
    bits = (values + 0.0).contiguous().view(torch.int32).to(torch.int64)  # + 0.0: -0.0 becomes 0.0, equal as numbers
    ordered = torch.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)  # the float order, as integers in [-2**31, 2**31)
    ordered = torch.where(torch.isnan(values), (1 << 31) - 1, ordered)  # any NaN (x86's is negative) above everything
    return ordered * (1 << 32) + ((1 << 32) - 1 - index)


CHUNK_BYTES = 1 << 22  # the count's float buffer: a slice of a batch's maps at a time, reused (see below)


def spatial_reductions(out: torch.Tensor, chunk_bytes: int = CHUNK_BYTES, scratch: torch.Tensor | None = None,
                       into: tuple[torch.Tensor, torch.Tensor] | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``[B, C, H, W]`` -> (spatial means ``[B, C]``, spatial peaks ``[B, C]``, positions > 0 per channel ``int64 [C]``).

    The means and peaks are one reduction each over the whole batch, written into ``into`` (two float32 ``[B, C]``
    tensors) when given. The count writes ``x > 0`` as 1.0 / 0.0 into
    ``scratch`` (float32, any shape, reused from call to call; one is allocated when it is missing or too small) a
    slice of ``chunk_bytes`` at a time, in the map's own memory format, and sums it: a boolean tensor summed as
    integers costs three times as much, and small slices cost more in per-operation overhead than they save in
    cache misses (measured inside the scan's hooks, benchmarks/README.md, scan)."""
    b, c, h, w = out.shape
    means, peaks = into if into is not None else (torch.empty(b, c), torch.empty(b, c))
    torch.sum(out, (2, 3), out=means).div_(h * w)  # torch.mean with ``out`` would reduce into a copy first
    torch.amax(out, (2, 3), out=peaks)
    step = max(1, chunk_bytes // max(1, out[0].numel() * out.element_size()))
    # counts as floats, exact: float32 below 2**24 positions per channel (any batch of up to 16,384 32x32 maps)
    positive = torch.zeros(c, dtype=torch.float32 if b * h * w < 1 << 24 else torch.float64)
    size = min(step, b) * out[0].numel()
    if scratch is None or scratch.numel() < size or scratch.dtype != torch.float32:
        scratch = torch.empty(size)
    flat = scratch.view(-1)
    for s in range(0, b, step):
        part = out[s:s + step]
        flags = _like(flat[:part.numel()], part)
        torch.gt(part, 0, out=flags)
        positive += flags.sum((0, 2, 3))
    return means, peaks, positive.to(torch.int64)


def _like(flat: torch.Tensor, part: torch.Tensor) -> torch.Tensor:
    """``flat`` (``part.numel()`` elements) viewed in ``part``'s memory format (oneDNN returns channels-last maps
    for larger batches): a comparison written across two layouts would be a transposing copy, several times slower."""
    if part.is_contiguous():
        return flat.view(part.shape)
    if part.dim() == 4 and part.is_contiguous(memory_format=torch.channels_last):
        b, c, h, w = part.shape
        return flat.view(b, h, w, c).permute(0, 3, 1, 2)
    return torch.empty_like(part)


def scratch_for(chunk_bytes: int = CHUNK_BYTES) -> torch.Tensor:
    """A float32 buffer for :func:`spatial_reductions`' count: one slice of ``chunk_bytes`` (a single image's maps
    may need more; it then allocates its own)."""
    return torch.empty(chunk_bytes // 4)


class BlockStats:
    """Running per-channel statistics of one block over batches.

    :meth:`update` reduces a batch's maps at once (they are not kept) and writes the per-image results into a
    buffer allocated once; they are folded into the running statistics :data:`MERGE_IMAGES` images at a time, and
    before any statistic is read. The buffer, rather than a list of per-batch tensors, keeps the worker's heap from
    fragmenting: small tensors that outlive their batch, scattered among the freed activations, make glibc grow the
    heap batch after batch (measured: benchmarks/README.md, memory). ``batch``: the largest batch to come, so that
    the buffer is allocated now, before any activation, rather than among them on the first batch.
    """

    def __init__(self, channels: int, k: int, classes: int, merge_images: int = MERGE_IMAGES,
                 scratch: torch.Tensor | None = None, batch: int = 0) -> None:
        self.k = k
        self.merge_images = merge_images
        self.scratch = scratch  # shared by the blocks of one scan: see spatial_reductions
        self.sum = torch.zeros(channels, dtype=torch.float64)
        self.class_sum = torch.zeros(classes, channels, dtype=torch.float64)  # [classes, C]
        self.class_n = torch.zeros(classes, dtype=torch.int64)
        self.fires = torch.zeros(channels, dtype=torch.int64)
        self.nonzero = torch.zeros(channels, dtype=torch.int64)
        self.positions = 0
        self.max = torch.zeros(channels)
        self._top_val = torch.full((channels, k), -1.0)
        self._top_idx = torch.full((channels, k), -1, dtype=torch.int64)
        self.n = 0
        self._buf: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # means, peaks, index, labels
        self._fill = 0  # images waiting in the buffer
        if batch:
            self._allocate(channels, batch)

    def _allocate(self, channels: int, batch: int) -> None:
        cap = max(self.merge_images, batch)
        self._buf = (torch.empty(cap, channels), torch.empty(cap, channels), torch.empty(cap, dtype=torch.int64),
                     torch.empty(cap, dtype=torch.int64))

    def update(self, out: torch.Tensor, index: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Fold in a batch ``[B, C, H, W]`` of the images with dataset indices ``index [B]`` and classes ``labels [B]``;
        return their spatial means ``[B, C]``: a view of the buffer, valid until the next update."""
        out = out.detach().float()  # [B, C, H, W], any memory format: reductions need no copy
        b, c = out.shape[:2]
        if self._buf is None or self._buf[0].shape[0] < b:
            self._merge()
            self._allocate(c, b)
        if self._fill + b > self._buf[0].shape[0]:
            self._merge()
        start = self._fill
        means, peaks, index_buf, label_buf = (buf[start:start + b] for buf in self._buf)
        _, _, positive = spatial_reductions(out, scratch=self.scratch, into=(means, peaks))
        index_buf.copy_(index)
        label_buf.copy_(labels)
        self.nonzero += positive
        self.positions += out.shape[0] * out.shape[2] * out.shape[3]
        self._fill += b
        if self._fill >= self.merge_images:
            self._merge()  # reads the buffer; the region just written stays as it is until the next update
        return self._buf[0][start:start + b]

    def _merge(self) -> None:
        """Fold the buffered images into the running statistics."""
        if not self._fill:
            return
        means, peak, index, labels = (buf[:self._fill] for buf in self._buf)  # [B, C], [B, C], [B], [B]
        self._fill = 0
        self.sum += means.sum(0, dtype=torch.float64)
        self.class_sum.index_add_(0, labels, means.double())  # one scatter-add, no loop over images
        self.class_n += torch.bincount(labels, minlength=self.class_n.numel())
        self.fires += (peak > 0).sum(0)
        torch.maximum(self.max, peak.amax(0), out=self.max)  # in place, as every running statistic here
        vals = torch.cat([self._top_val, means.t()], 1)  # [C, k + B]
        ids = torch.cat([self._top_idx, index.expand(means.shape[1], -1)], 1)
        # largest value first; ties go to the lower image index, whatever the scan order: one top-k of a key that
        # orders by value, then by index (a stable sort by index and another by value would cost twice as much)
        order = torch.topk(_rank_key(vals, ids), self.k, dim=1).indices
        torch.gather(vals, 1, order, out=self._top_val)
        torch.gather(ids, 1, order, out=self._top_idx)
        self.n += means.shape[0]

    @property
    def top_val(self) -> torch.Tensor:
        """``[C, k]``: the channel's ``k`` highest spatial means so far, highest first."""
        self._merge()
        return self._top_val

    @property
    def top_idx(self) -> torch.Tensor:
        """``int64 [C, k]``: the dataset indices of those images."""
        self._merge()
        return self._top_idx

    def result(self) -> dict[str, np.ndarray]:
        self._merge()
        return {
            "mean": (self.sum / max(self.n, 1)).float().numpy(),
            "class_mean": (self.class_sum / self.class_n[:, None]).t().float().numpy(),  # [C, classes]; 0/0: NaN
            "fire_fraction": (self.fires.double() / max(self.n, 1)).float().numpy(),
            "density": (self.nonzero.double() / max(self.positions, 1)).float().numpy(),
            "max": self.max.numpy(),
            "topk_index": self._top_idx.numpy().astype(np.int32),
            "topk_value": self._top_val.numpy(),
        }
