"""The running per-channel reductions a scan folds in batch by batch (:mod:`vggexplorer.stats.scan`): sums, class
sums, fire and non-zero counts, peaks and the top-``k`` images of every channel of one block, and the Pearson
correlation of two models' channels from running moments. No activation tensor is kept beyond its batch.

On this CPU the scan is bound by memory, not arithmetic: the spatial reductions run a few images at a time, so each
slice is read from memory once and reduced three ways from cache, and the top-``k`` merge is one ``topk`` of an
integer key rather than two sorts (``benchmarks/README.md``, scan).
"""

from __future__ import annotations

import numpy as np
import torch


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


def _rank_key(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``int64`` keys that order float32 ``values`` as numbers (NaN above everything, as ``torch.sort`` puts it) and,
    among equal values, the lower dataset ``index`` (< 2**31) higher."""
    bits = (values + 0.0).contiguous().view(torch.int32).to(torch.int64)  # + 0.0: -0.0 becomes 0.0, equal as numbers
    ordered = torch.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)  # the float order, as integers in [-2**31, 2**31)
    ordered = torch.where(torch.isnan(values), (1 << 31) - 1, ordered)  # any NaN (x86's is negative) above everything
    return ordered * (1 << 32) + ((1 << 32) - 1 - index)


CHUNK_BYTES = 1 << 21  # a few images' maps: each slice stays in cache while it is reduced


def spatial_reductions(out: torch.Tensor, chunk_bytes: int = CHUNK_BYTES) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``[B, C, H, W]`` -> (spatial means ``[B, C]``, spatial peaks ``[B, C]``, positions > 0 per channel ``int64 [C]``),
    a few images at a time: each slice of ``chunk_bytes`` stays in the CPU's cache while it is reduced three ways, so
    the activations are read from memory once rather than three times (the scan is memory-bound here)."""
    b, c = out.shape[:2]
    step = max(1, chunk_bytes // max(1, out[0].numel() * out.element_size()))
    means, peaks = torch.empty(b, c), torch.empty(b, c)
    positive = torch.zeros(c, dtype=torch.int64)
    for s in range(0, b, step):
        part = out[s:s + step]
        torch.mean(part, (2, 3), out=means[s:s + step])
        torch.amax(part, (2, 3), out=peaks[s:s + step])
        positive += torch.gt(part, 0).view(torch.uint8).sum((0, 2, 3), dtype=torch.int32)
    return means, peaks, positive


class BlockStats:
    """Running per-channel statistics of one block over batches."""

    def __init__(self, channels: int, k: int, classes: int) -> None:
        self.k = k
        self.sum = torch.zeros(channels, dtype=torch.float64)
        self.class_sum = torch.zeros(classes, channels, dtype=torch.float64)  # [classes, C]
        self.class_n = torch.zeros(classes, dtype=torch.int64)
        self.fires = torch.zeros(channels, dtype=torch.int64)
        self.nonzero = torch.zeros(channels, dtype=torch.int64)
        self.positions = 0
        self.max = torch.zeros(channels)
        self.top_val = torch.full((channels, k), -1.0)
        self.top_idx = torch.full((channels, k), -1, dtype=torch.int64)
        self.n = 0

    def update(self, out: torch.Tensor, index: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Fold in a batch ``[B, C, H, W]`` of the images with dataset indices ``index [B]`` and classes ``labels [B]``;
        return spatial means."""
        out = out.detach().float()  # [B, C, H, W], any memory format: reductions need no copy
        means, peak, positive = spatial_reductions(out)
        self.sum += means.sum(0).double()
        self.class_sum.index_add_(0, labels, means.double())  # one scatter-add per batch, no loop over images
        self.class_n += torch.bincount(labels, minlength=self.class_n.numel())
        self.fires += (peak > 0).sum(0)
        self.nonzero += positive
        self.positions += out.shape[0] * out.shape[2] * out.shape[3]
        self.max = torch.maximum(self.max, peak.amax(0))
        vals = torch.cat([self.top_val, means.t()], 1)  # [C, k + B]
        ids = torch.cat([self.top_idx, index.expand(out.shape[1], -1)], 1)
        # largest value first; ties go to the lower image index, whatever the scan order: one top-k of a key that
        # orders by value, then by index (a stable sort by index and another by value would cost twice as much)
        order = torch.topk(_rank_key(vals, ids), self.k, dim=1).indices
        self.top_val, self.top_idx = vals.gather(1, order), ids.gather(1, order)
        self.n += out.shape[0]
        return means

    def result(self) -> dict[str, np.ndarray]:
        return {
            "mean": (self.sum / max(self.n, 1)).float().numpy(),
            "class_mean": (self.class_sum / self.class_n[:, None]).t().float().numpy(),  # [C, classes]; 0/0: NaN
            "fire_fraction": (self.fires.double() / max(self.n, 1)).float().numpy(),
            "density": (self.nonzero.double() / max(self.positions, 1)).float().numpy(),
            "max": self.max.numpy(),
            "topk_index": self.top_idx.numpy().astype(np.int32),
            "topk_value": self.top_val.numpy(),
        }
