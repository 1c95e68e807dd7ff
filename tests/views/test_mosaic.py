"""The mosaics' colour scales, on tiny hand-made maps with hand-worked values."""

import numpy as np
import pytest
import torch

from vggexplorer.views.mosaic import (MINMAX, PER_CHANNEL_MINMAX, SCALES, SHARED, SPLIT_MAX, block_scales, fixed,
                                      robust, split_max)


def _peaked() -> tuple[torch.Tensor, torch.Tensor]:
    """Model A: 3 channels of 10x10 holding 1..299 in order, but its first value (0) is 10000; model B: 0.5..299.5.

    Together, sorted: 0.5, 1, 1.5, ..., 299.5 (599 values, the k-th is 0.5 * (k + 1)), then 10000."""
    a = torch.arange(300.0).reshape(3, 10, 10)
    a[0, 0, 0] = 10000.0
    return a, torch.arange(300.0).reshape(3, 10, 10) + 0.5


def test_robust_top_is_the_995th_percentile_of_both_models():
    a, b = _peaked()
    scale = robust(a, b)
    # rank 0.995 * (600 - 1) = 596.005: 0.005 of the way from the 597th value (298.5) to the 598th (299)
    assert scale.kind == SHARED and scale.percentile == 99.5
    assert scale.top == pytest.approx(298.5 + 0.005 * 0.5)
    u = scale.unit(a)
    assert u[0, 0, 0] == 1.0  # the peak saturates
    assert u[1, 4, 9] == pytest.approx(149 / 298.5025)  # 149 is about half way
    assert u.dtype == np.float32 and u.min() == pytest.approx(1 / 298.5025) and u.max() == 1.0
    assert scale.note() == "shared scale, top = 99.5th percentile of both models (299); above it saturates"
    assert robust(b).of == "the model" and robust(a, b, q=50).top == pytest.approx(150.25)  # rank 299.5: 150, 150.5


def test_a_peak_no_longer_sets_the_top():
    # one pixel at 100, the rest at 1: the maximum would draw every other pixel at 1% of the scale
    maps = torch.ones(3, 10, 10)
    maps[2, 0, 0] = 100.0
    scale = robust(maps)  # rank 0.995 * 299 = 297.505, between two 1s
    assert scale.top == 1.0
    assert (scale.unit(maps) == 1.0).all()
    assert fixed(100.0).unit(maps)[0, 0, 0] == pytest.approx(0.01)


def test_a_layer_all_but_silent_falls_back_to_its_max():
    maps = torch.zeros(10, 10, 10)
    maps[0, 3, 3] = 2.0  # 1 value of 1000 above zero: rank 0.995 * 999 = 994.005 lies between two zeros
    scale = robust(maps)
    assert scale.top == 2.0 and scale.percentile is None and not scale.saturates
    assert scale.note() == "shared scale 0..2, top = max of the model"
    assert robust(torch.zeros(2, 2, 2)).top == 1.0  # nothing at all: a usable scale


def test_each_channel_divided_by_its_test_split_max():
    maps = torch.stack([torch.arange(4.0).reshape(2, 2), torch.full((2, 2), 2.0), torch.zeros(2, 2),
                        torch.tensor([[0.0, 0.3], [0.0, 0.0]])])
    u = split_max(np.array([4.0, 1.0, 0.0, 0.0])).unit(maps)
    np.testing.assert_allclose(u[0], [[0, 0.25], [0.5, 0.75]])  # 0..3 of 4
    assert (u[1] == 1.0).all()  # twice its max: clipped at 1
    assert (u[2] == 0.0).all()  # never fired on the split, silent here
    np.testing.assert_array_equal(u[3], [[0, 1], [0, 0]])  # never fired on the split, fires here: above its max
    assert u.dtype == np.float32
    with pytest.raises(ValueError, match="one maximum per channel: 4 channels, 3 maxima"):
        split_max(np.ones(3)).unit(maps)


def test_per_channel_minmax_stretches_each_map():
    maps = torch.stack([torch.arange(4.0).reshape(2, 2) + 1, torch.full((2, 2), 2.0)])
    u = PER_CHANNEL_MINMAX.unit(maps)
    np.testing.assert_allclose(u[0], [[0, 1 / 3], [2 / 3, 1]])
    assert (u[1] == 0).all() and PER_CHANNEL_MINMAX.note() == "per-channel min-max"


def test_block_scales_fall_back_to_the_shared_scale_without_a_scan():
    a, b = _peaked()
    maps = {"dense": a, "pruned": b}
    shared, none = block_scales(maps, SHARED, {})
    assert not none and shared["dense"] is shared["pruned"] and shared["dense"].top == pytest.approx(298.5025)
    both, none = block_scales(maps, SPLIT_MAX, {"dense": np.full(3, 100.0), "pruned": np.full(3, 300.0)})
    assert not none and both["dense"].unit(a)[0, 0, 1] == pytest.approx(0.01)
    assert both["pruned"].unit(b)[2, 9, 9] == pytest.approx(299.5 / 300)
    # the pruned model has no scan: it is drawn on the shared scale of both, and named
    mixed, fell_back = block_scales(maps, SPLIT_MAX, {"dense": np.full(3, 100.0), "pruned": None})
    assert fell_back == ["pruned"] and mixed["dense"].kind == SPLIT_MAX
    assert mixed["pruned"].kind == SHARED and mixed["pruned"].top == pytest.approx(298.5025)
    minmax, none = block_scales(maps, MINMAX, {})
    assert not none and {s.kind for s in minmax.values()} == {MINMAX}
    with pytest.raises(ValueError, match="unknown colour scale 'log'"):
        block_scales(maps, "log", {})


def test_the_scales_by_their_link_names():
    assert list(SCALES) == ["shared", "minmax", "split-max"]  # the first is the default
    assert len(set(SCALES.values())) == 3
