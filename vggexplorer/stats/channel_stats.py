"""The running per-channel reductions a scan folds in batch by batch (:mod:`vggexplorer.stats.scan`): sums, class
sums, fire and non-zero counts, peaks and the top-``k`` images of every channel of one block, and the Pearson
correlation of two models' channels from running moments. No activation tensor is kept beyond its batch.
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


def positive_counts(out: torch.Tensor, chunk_bytes: int = 1 << 19) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``int64 [C]``: positions > 0 per channel, counted in the layout the forward produced.

    oneDNN returns channels-last maps on CPU: viewed as ``[B*H*W, C]`` (no copy) the count is a reduction
    over rows. The comparison goes through one small reused bool buffer (``chunk_bytes``): a comparison
    mask of the whole batch (130 MB for conv1 at batch 250) costs more in fresh pages than in arithmetic,
    so counting chunk by chunk is about 4x faster.
    """
    b, c = out.shape[:2]
    if out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous():
        rows = out.permute(0, 2, 3, 1).reshape(-1, c)  # [B*H*W, C], a view
    else:
        rows = out.transpose(0, 1).reshape(c, -1).t()  # [B*H*W, C]; a copy only for odd layouts
    step = max(1, chunk_bytes // c)
    buf = torch.empty((min(step, rows.shape[0]), c), dtype=torch.bool)
    total = torch.zeros(c, dtype=torch.int64)
    for s in range(0, rows.shape[0], step):
        part = rows[s:s + step]
        mask = buf[:part.shape[0]]
        torch.gt(part, 0, out=mask)
        total += mask.view(torch.uint8).sum(0, dtype=torch.int32)  # < 2**31: step rows at most
    return total


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
        means = out.mean((2, 3))  # [B, C]
        peak = out.amax((2, 3))  # [B, C]: one pass gives both "fires" and the maximum
        self.sum += means.sum(0).double()
        self.class_sum.index_add_(0, labels, means.double())  # one scatter-add per batch, no loop over images
        self.class_n += torch.bincount(labels, minlength=self.class_n.numel())
        self.fires += (peak > 0).sum(0)
        self.nonzero += positive_counts(out)
        self.positions += out.shape[0] * out.shape[2] * out.shape[3]
        self.max = torch.maximum(self.max, peak.amax(0))
        vals = torch.cat([self.top_val, means.t()], 1)  # [C, k + B]
        ids = torch.cat([self.top_idx, index.expand(out.shape[1], -1)], 1)
        # ties go to the lower image index, whatever the scan order: sort by index, then stably by value
        by_id = ids.argsort(dim=1)
        vals, ids = vals.gather(1, by_id), ids.gather(1, by_id)
        order = torch.sort(vals, dim=1, descending=True, stable=True).indices[:, : self.k]
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
