"""Statistics for comparing two models over a dataset: linear CKA, McNemar's exact test, a paired
interval for an accuracy difference, and the symmetric KL divergence between two softmaxes.

CKA (Kornblith et al. 2019) is estimated as minibatch CKA (Nguyen, Raghu & Kornblith 2021): the
unbiased HSIC_1 of the linear Gram matrices, averaged over minibatches of ``n`` images, then

    CKA = mean HSIC_1(K, L) / sqrt(mean HSIC_1(K, K) * mean HSIC_1(L, L)),

with ``K = X X^T`` over the full flattened post-ReLU maps (``X [n, C*H*W]``). The Gram matrix does
not depend on the order of the features, so a channels-last map is used without a copy.
:func:`linear_cka` is the exact (biased, full-sample) formula, against which the estimator is tested.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

# Images per CKA minibatch in the scan. The Gram matrices cost n * C*H*W per image, so a small n keeps the scan
# near the speed of bare inference; HSIC_1 is unbiased at any n >= 4, so n only sets the noise. Measured over the
# full test split (dense against the 55, 90 and 95% rungs, every block, the same activations): 25 and 50 differ by
# at most 0.0007, within the jackknife standard error of either (up to 0.0012); benchmarks/README.md, scan.
CKA_BATCH = 25


def _rows(features: torch.Tensor) -> torch.Tensor:
    """``[n, ...]`` -> ``[n, p]`` float32 and contiguous (what the Gram products take), a view where the layout
    allows: the Gram matrix does not depend on the order of the features, so a channels-last map is read as
    ``[n, H, W, C]`` without a copy."""
    x = features
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        x = x.permute(0, 2, 3, 1)  # a view: [n, H, W, C] is contiguous for a channels-last map
    return x.reshape(x.shape[0], -1).float().contiguous()


def _onednn_product(x: torch.Tensor) -> torch.Tensor:
    """``x x^T`` of a contiguous float32 ``[n, p]`` through oneDNN's linear (the op torch.compile emits for a CPU
    ``nn.Linear``), with ``x`` as its own weight."""
    return torch.ops.mkldnn._linear_pointwise(x, x, None, "none", [None], "")


def _blas_product(x: torch.Tensor) -> torch.Tensor:
    return x @ x.t()


@functools.cache
def _product() -> Callable[[torch.Tensor], torch.Tensor]:
    """The Gram product this torch runs fastest: oneDNN's where this build has it and it agrees with BLAS on a test
    matrix, else BLAS's. For 25 rows of 10^4-10^5 features oneDNN took half the time of torch's BLAS ``bmm`` on
    this machine's CPU, and came out closer to a float64 product (benchmarks/README.md, scan)."""
    x = torch.rand(5, 300, generator=torch.Generator().manual_seed(0))
    try:
        if torch.backends.mkldnn.is_available() and torch.allclose(_onednn_product(x), _blas_product(x), 1e-5, 1e-4):
            return _onednn_product
    except (RuntimeError, AttributeError, NotImplementedError):  # an op missing from this build or platform
        pass
    return _blas_product


def gram(features: torch.Tensor) -> torch.Tensor:
    """``[n, ...]`` activations -> the linear Gram matrix ``[n, n]`` (float64) of their flattened rows."""
    return _product()(_rows(features)).double()


def minibatch_grams(features: torch.Tensor, n: int = CKA_BATCH) -> list[torch.Tensor]:
    """The Gram matrix (:func:`gram`) of each consecutive minibatch of ``n`` rows of ``features [B, ...]``; a last,
    shorter one only if it has at least 4 rows (HSIC_1's minimum)."""
    x = _rows(features)  # [B, p]; a view for the scan's maps (contiguous or channels-last)
    product = _product()
    parts = (x[s:s + n] for s in range(0, x.shape[0], n))
    return [product(part).double() for part in parts if len(part) == n or len(part) >= 4]


def hsic1(k: torch.Tensor, l: torch.Tensor) -> float:
    """Unbiased HSIC_1 of two Gram matrices ``[n, n]`` (n >= 4), Song et al. 2012 / Nguyen et al. 2021 eq. 3."""
    return float(hsic1_many(k, l))


def hsic1_many(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """:func:`hsic1` of each pair of Gram matrices in ``[..., n, n]`` stacks (float64 ``[...]``): one scan batch's
    blocks in a dozen operations rather than a dozen per block."""
    n = k.shape[-1]
    if n < 4:
        raise ValueError(f"unbiased HSIC needs at least 4 samples, got {n}")
    off = 1.0 - torch.eye(n, dtype=torch.float64)  # the diagonals set to zero: K~, L~
    k = k.double() * off
    l = l.double() * off
    kl = (k * l).sum((-2, -1))  # tr(K~ L~) for symmetric matrices
    ones = k.sum((-2, -1)) * l.sum((-2, -1)) / ((n - 1) * (n - 2))
    mixed = 2.0 / (n - 2) * (k.sum(-1) * l.sum(-1)).sum(-1)
    return (kl + ones - mixed) / (n * (n - 3))


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Exact linear CKA of ``x [n, p]`` and ``y [n, q]``: ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)."""
    xc = x.reshape(x.shape[0], -1).double()
    yc = y.reshape(y.shape[0], -1).double()
    xc = xc - xc.mean(0)
    yc = yc - yc.mean(0)
    # the Gram form (n x n) is cheaper than the p x q one for wide maps, and equal
    kx, ky = xc @ xc.t(), yc @ yc.t()
    num = float((kx * ky).sum())
    den = math.sqrt(float((kx * kx).sum()) * float((ky * ky).sum()))
    return num / den if den > 0 else float("nan")


@dataclass
class MinibatchCKA:
    """Running minibatch CKA between two representations, fed one pair of Gram matrices at a time."""

    xy: float = 0.0
    xx: float = 0.0
    yy: float = 0.0
    batches: int = 0

    def update(self, kx: torch.Tensor, ky: torch.Tensor) -> None:
        self.add(hsic1(kx, ky), hsic1(kx, kx), hsic1(ky, ky))

    def add(self, xy: float, xx: float, yy: float) -> None:
        """Fold in one minibatch's HSIC_1 values (from :func:`hsic1_many`, several blocks at once)."""
        self.xy += xy
        self.xx += xx
        self.yy += yy
        self.batches += 1

    def value(self) -> float:
        """CKA in [0, 1] (nan if a representation is constant over every minibatch)."""
        den = math.sqrt(max(self.xx, 0.0) * max(self.yy, 0.0))
        return self.xy / den if den > 0 else float("nan")


def minibatch_cka(x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    """Minibatch CKA of ``x [N, ...]`` and ``y [N, ...]`` over consecutive minibatches of ``batch`` (the last,
    if shorter than 4, is dropped)."""
    acc = MinibatchCKA()
    for s in range(0, x.shape[0], batch):
        if min(batch, x.shape[0] - s) < 4:
            break
        acc.update(gram(x[s:s + batch]), gram(y[s:s + batch]))
    return acc.value()


# ---- paired predictions ------------------------------------------------------------------------

def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for discordant counts ``b`` and ``c``:
    ``min(1, 2 * P(X <= min(b, c)))`` with ``X ~ Binomial(b + c, 1/2)``, in exact integer arithmetic."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2 ** n)


def holm_adjusted(p_values: "np.ndarray | list[float]") -> np.ndarray:
    """Holm-Bonferroni adjusted p-values of a family of ``m`` tests, in the input order.

    Sorted ascending, the ``i``-th smallest (``i`` from 0) is multiplied by ``m - i``; each adjusted value is the
    running maximum of those products, capped at 1 (Holm 1979; the step-down procedure "reject while
    ``p_(i) <= alpha / (m - i)``" rejects exactly the hypotheses whose adjusted value is ``<= alpha``). Controls
    the family-wise error rate at ``alpha`` under any dependence between the tests.
    """
    p = np.asarray(p_values, np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m, np.float64)
    out[order] = np.minimum(stepped, 1.0)
    return out


def paired_diff_interval(b: int, c: int, n: int, z: float = 1.959963984540054) -> tuple[float, float, float]:
    """Difference of two paired accuracies, second minus first, with its 95% Wald interval.

    ``b``: first right and second wrong; ``c``: the reverse; ``n``: pairs. The difference is
    ``(c - b) / n`` and its standard error ``sqrt(b + c - (c - b)^2 / n) / n`` (the matched-pairs
    variance of a difference of proportions, Agresti's Categorical Data Analysis, 10.1).
    """
    if n == 0:
        return 0.0, 0.0, 0.0
    d = (c - b) / n
    se = math.sqrt(max(b + c - (c - b) ** 2 / n, 0.0)) / n
    return d, d - z * se, d + z * se


def symmetric_kl(p: np.ndarray, q: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """``KL(p || q) + KL(q || p)`` per row of two ``[N, K]`` probability arrays (nats)."""
    p = np.clip(np.asarray(p, np.float64), eps, 1.0)
    q = np.clip(np.asarray(q, np.float64), eps, 1.0)
    return ((p - q) * (np.log(p) - np.log(q))).sum(-1)
