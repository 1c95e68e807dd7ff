import math

import numpy as np
import pytest
import torch

from vggexplorer.stats.measures import CKA_BATCH, gram, hsic1, holm_adjusted, linear_cka, mcnemar_exact, minibatch_cka, paired_diff_interval, symmetric_kl


def _x(n=600, p=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, p, generator=g, dtype=torch.float64)


def test_identical_features_give_one():
    x = _x()
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert minibatch_cka(x, x, 100) == pytest.approx(1.0, abs=1e-12)


def test_orthogonal_transform_and_isotropic_scaling_give_one():
    x = _x()
    q, _ = torch.linalg.qr(_x(24, 24, seed=1))  # a random orthogonal 24x24 matrix
    for y in (x @ q, 7.5 * x, -0.01 * (x @ q)):
        assert linear_cka(x, y) == pytest.approx(1.0, abs=1e-9)
        assert minibatch_cka(x, y, 100) == pytest.approx(1.0, abs=1e-9)


def test_an_arbitrary_linear_map_is_not_invariant():
    x = _x()
    a = torch.diag(torch.linspace(0.1, 10, 24, dtype=torch.float64))  # anisotropic scaling
    assert minibatch_cka(x, x @ a, 100) < 0.9


def test_independent_features_come_out_near_zero():
    # n = 2000 images in minibatches of CKA_BATCH (50), as in the scan. Over 20 seeds the unbiased estimator's
    # values have mean ~0 and |value| < 0.01; the tolerance 0.02 is twice that. The biased exact formula is
    # inflated for wide features (about p / n): it is not the estimator to use on 8192-wide maps.
    for seed in range(5):
        x, y = _x(2000, 256, seed), _x(2000, 256, seed + 100)
        assert abs(minibatch_cka(x, y, CKA_BATCH)) < 0.02
    assert linear_cka(x, y) > 0.08


def test_minibatch_estimator_agrees_with_exact_cka_on_a_small_sample():
    x = _x(2000, 32)
    a = _x(32, 32, seed=5)
    for noise in (0.5, 2.0, 5.0):
        y = x @ a + noise * _x(2000, 32, seed=7)
        exact = linear_cka(x, y)
        assert 0.3 < exact < 0.95
        assert minibatch_cka(x, y, CKA_BATCH) == pytest.approx(exact, abs=0.02)


def _hsic_by_formula(k, l):
    """Nguyen et al. 2021 eq. 3, written out with matrices: (tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1)
    / (n(n-3)), K~ and L~ with zero diagonals."""
    n = k.shape[0]
    kt, lt = k.clone(), l.clone()
    kt.fill_diagonal_(0)
    lt.fill_diagonal_(0)
    one = torch.ones(n, 1, dtype=torch.float64)
    return float((torch.trace(kt @ lt) + (one.T @ kt @ one) * (one.T @ lt @ one) / ((n - 1) * (n - 2))
                  - 2 / (n - 2) * (one.T @ kt @ lt @ one)) / (n * (n - 3)))


def test_hsic1_matches_the_papers_formula_term_by_term():
    x, y = _x(7, 3, 1), _x(7, 5, 2)
    k, l = x @ x.T, y @ y.T
    assert hsic1(k, l) == pytest.approx(_hsic_by_formula(k, l), rel=1e-12)
    with pytest.raises(ValueError):
        hsic1(k[:3, :3], l[:3, :3])


def test_gram_of_a_channels_last_map_equals_the_nchw_one():
    a = torch.rand(5, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    cl = a.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(gram(cl), gram(a), rtol=1e-5, atol=1e-5)  # float32 sums in another order
    torch.testing.assert_close(gram(a), (a.flatten(1).double() @ a.flatten(1).double().T), rtol=1e-5, atol=1e-4)


def test_mcnemar_exact_on_hand_counts():
    # b=10, c=2: 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * (1 + 12 + 66) / 4096
    assert mcnemar_exact(10, 2) == pytest.approx(2 * 79 / 4096, rel=1e-15)
    assert mcnemar_exact(2, 10) == mcnemar_exact(10, 2)
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)


def test_paired_interval_on_a_textbook_example():
    # Agresti, Categorical Data Analysis (2nd ed., Wiley 2002), section 10.1, Table 10.1: 1600 people asked twice
    # whether they approve of the President: 794 yes/yes, 150 yes/no, 86 no/yes, 570 no/no. Approval falls from
    # 0.59 to 0.55: a difference of -0.04, estimated standard error 0.0095, 95% interval (-0.06, -0.02).
    # Here "first right" is "approved in the first survey": b = 150 (yes then no), c = 86 (no then yes).
    d, lo, hi = paired_diff_interval(b=150, c=86, n=1600)
    assert d == pytest.approx(-0.04, abs=1e-12)
    assert (hi - lo) / 2 / 1.96 == pytest.approx(0.0095, abs=5e-5)  # the book's standard error, to 4 places
    assert (round(lo, 2), round(hi, 2)) == (-0.06, -0.02)


def test_paired_interval_on_hand_counts():
    # b = 10, c = 2, n = 100: d = -8/100; se = sqrt(12 - 8^2/100) / 100 = sqrt(11.36) / 100 = 0.0337046;
    # 1.959964 * 0.0337046 = 0.0660598, so the interval is -0.08 -/+ 0.0660598
    d, lo, hi = paired_diff_interval(b=10, c=2, n=100)
    assert d == pytest.approx(-0.08)
    assert (lo, hi) == pytest.approx((-0.1460598, -0.0139402), abs=1e-7)
    assert paired_diff_interval(2, 10, 100)[0] == pytest.approx(0.08)  # second minus first
    assert paired_diff_interval(0, 0, 50) == (0.0, 0.0, 0.0)


def test_symmetric_kl():
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    q = np.array([[0.5, 0.5], [0.1, 0.9]])
    out = symmetric_kl(p, q)
    assert out[0] == 0.0
    assert out[1] == pytest.approx(2 * (0.9 * math.log(9) + 0.1 * math.log(1 / 9)))


def test_holm_adjusted_on_worked_values():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert holm_adjusted([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjusted([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # 0.5 x 2 = 1, capped; then max(1, 0.6)
    assert holm_adjusted([0.2]) == pytest.approx([0.2])  # one test: no correction
    # ties keep their order and share a value: 0.01 x 3, 0.01 x 2 -> max 0.03; 0.5 x 1 -> 0.5
    assert holm_adjusted([0.01, 0.5, 0.01]) == pytest.approx([0.03, 0.5, 0.03])


def test_minibatch_grams_are_the_grams_of_consecutive_minibatches():
    from vggexplorer.stats.measures import minibatch_grams

    a = torch.rand(13, 3, 2, 2, generator=torch.Generator().manual_seed(3))
    flat = a.flatten(1).double()
    for x in (a, a.contiguous(memory_format=torch.channels_last)):
        got = minibatch_grams(x, 4)  # rows 0-3, 4-7, 8-11; the last row alone is under HSIC's 4 and dropped
        assert len(got) == 3
        for g, s in zip(got, (0, 4, 8)):
            torch.testing.assert_close(g, flat[s:s + 4] @ flat[s:s + 4].T, rtol=1e-6, atol=1e-6)
    rest = minibatch_grams(a, 5)  # 0-4, 5-9, then 10-12: three rows, dropped; with 9 per minibatch 9-12 is kept
    assert len(rest) == 2 and len(minibatch_grams(a, 9)) == 2 and minibatch_grams(a, 9)[1].shape == (4, 4)


def test_hsic1_many_is_hsic1_of_each_pair():
    from vggexplorer.stats.measures import hsic1_many

    xs = [_x(6, 3, s) for s in range(4)]
    ks = torch.stack([x @ x.T for x in xs])
    ls = torch.stack([ks[(i + 1) % 4] for i in range(4)])
    many = hsic1_many(ks, ls)
    assert many.shape == (4,)
    for i in range(4):
        assert float(many[i]) == pytest.approx(_hsic_by_formula(ks[i], ls[i]), rel=1e-12)


def test_both_gram_products_are_x_times_x_transposed():
    from vggexplorer.stats.measures import _blas_product, _onednn_product

    x = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]])  # by hand: [[1+4, 2], [2, 1+9]]
    want = torch.tensor([[5.0, 2.0], [2.0, 10.0]])
    assert torch.equal(_blas_product(x), want)
    assert torch.backends.mkldnn.is_available()  # the CPU builds of torch this project installs have oneDNN
    assert torch.equal(_onednn_product(x), want)
    big = torch.rand(25, 4096, generator=torch.Generator().manual_seed(1))
    exact = big.double() @ big.double().T
    torch.testing.assert_close(_onednn_product(big).double(), exact, rtol=2e-6, atol=0)
    # and the scan takes it: a torch that renames the private op fails here rather than scanning 3% slower unseen
    from vggexplorer.stats import measures

    measures._product.cache_clear()
    assert measures._product() is _onednn_product


def test_the_gram_product_falls_back_to_blas_where_onednn_fails(monkeypatch):
    from vggexplorer.stats import measures

    def missing(x):
        raise RuntimeError("Could not run 'mkldnn::_linear_pointwise' with arguments from the 'CPU' backend")

    monkeypatch.setattr(measures, "_onednn_product", missing)
    measures._product.cache_clear()
    try:
        assert measures._product() is measures._blas_product
        a = torch.rand(8, 2, 3, 3, generator=torch.Generator().manual_seed(2))
        got = measures.minibatch_grams(a, 4)
        torch.testing.assert_close(got[1], a[4:].flatten(1).double() @ a[4:].flatten(1).double().T)
    finally:
        measures._product.cache_clear()
