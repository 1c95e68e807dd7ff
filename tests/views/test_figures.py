"""Figure builders, checked for their data (tile positions, levels, counts), never their pixels."""

import numpy as np
import pytest
import torch

from vggexplorer.views.figures import channel_strip, importance_bars, layer_mosaic, mark_channel, probability_bars
from vggexplorer.views.mosaic import mosaic_layout, tile
from vggexplorer.views.style import LEVELS, MARK_COLOUR, quantise
from vggexplorer.views.weight_figures import sparsity_bars, weight_histogram


def _maps() -> torch.Tensor:
    """Three 2x2 channels: 0..3, all 2.0, all zero."""
    return torch.stack([torch.arange(4.0).reshape(2, 2), torch.full((2, 2), 2.0), torch.zeros(2, 2)])  # [3, 2, 2]


def test_layout_is_wide_with_gaps():
    lay = mosaic_layout(3, 2, 2)  # ceil(sqrt(6)) = 3 columns, one row, 1-pixel gaps
    assert (lay.cols, lay.rows, lay.gap, lay.shape) == (3, 1, 1, (2, 8))
    assert lay.origin(2) == (0, 6)
    big = mosaic_layout(512, 4, 4)
    assert big.cols == 32 and big.rows == 16
    assert mosaic_layout(64, 32, 32).gap == 2


def test_tile_places_each_channel_and_leaves_nan_gaps():
    t = tile(_maps().numpy(), mosaic_layout(3, 2, 2))
    np.testing.assert_array_equal(t[:, 0:2], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(t[:, 3:5], [[2, 2], [2, 2]])
    assert np.isnan(t[:, 2]).all() and np.isnan(t[:, 5]).all()


def test_quantise_keeps_level_zero_for_gaps():
    q = quantise(np.array([np.nan, 0.0, 0.5, 1.0, 7.0], np.float32))
    assert q.tolist() == [0, 1, 128, LEVELS, LEVELS]


def test_mosaic_is_one_heatmap_on_a_shared_scale():
    fig = layer_mosaic(_maps(), "conv9", "dense", zmax=3.0, status={"weight-dead": [False, False, True]},
                       selected=1, extra={"similarity": [1.0, 0.5, 0.0]})
    heat, points = fig.data
    assert heat.type == "heatmap" and points.type == "scatter"
    z = np.asarray(heat.z)
    assert z.shape == (2, 6) and z.dtype == np.uint8  # tiles touch: no gap pixels to send
    # value v on the 0..3 scale -> level rint(v / 3 * 254) + 1
    assert z[:, 0:2].tolist() == [[1, 86], [170, LEVELS]]
    assert (z[:, 2:4] == 170).all() and (z[:, 4:6] == 1).all()
    # white lines over the tile borders, at x = 1.5 and 3.5 (one row of tiles: no horizontal border)
    (borders,) = fig.layout.shapes
    assert borders.type == "path" and borders.path == "M1.5,-0.5V1.5 M3.5,-0.5V1.5"
    # one hover/click point per channel at its tile's centre, with its max and mean
    np.testing.assert_allclose(points.x, [0.5, 2.5, 4.5])
    np.testing.assert_allclose(points.y, [0.5, 0.5, 0.5])
    np.testing.assert_allclose(np.asarray(points.customdata), [[0, 3, 1.5, 1.0], [1, 2, 2, 0.5], [2, 0, 0, 0]])
    assert list(points.text) == ["alive", "alive", "weight-dead; "]
    # the selected channel's tile is marked (its point is selected); mark_channel moves or removes the mark
    assert list(points.selectedpoints) == [1] and points.selected.marker.color == MARK_COLOUR
    assert list(mark_channel(fig, 2).data[1].selectedpoints) == [2]
    assert mark_channel(fig, None).data[1].selectedpoints is None
    assert fig.layout.meta["zmax"] == 3.0 and "shared scale 0..3" in fig.layout.title.text


def test_mosaic_fills_a_short_last_row_with_transparent_level_zero():
    z = np.asarray(layer_mosaic(torch.ones(5, 2, 2), "conv9", "dense", zmax=1.0).data[0].z)  # 4 columns, 2 rows
    assert z.shape == (4, 8) and (z[2:, 2:] == 0).all() and (z[:2] == LEVELS).all()


def test_per_channel_scale_uses_each_tiles_full_range():
    z = np.asarray(layer_mosaic(_maps(), "conv9", "pruned").data[0].z)
    assert z[:, 0:2].min() == 1 and z[:, 0:2].max() == LEVELS
    assert (z[:, 6:8] == 1).all()  # an all-zero channel stays at the bottom of the scale, not NaN


def test_probability_bars_carry_both_models():
    p = {"dense": [0.7, 0.3], "pruned": [0.2, 0.8]}
    fig = probability_bars(p, ["frog", "deer"])
    assert [t.name for t in fig.data] == ["dense", "pruned"]
    np.testing.assert_allclose(fig.data[1].y, [0.2, 0.8])
    assert list(fig.data[0].x) == ["frog", "deer"] and list(fig.data[0].text) == ["70%", "30%"]


def test_weight_histogram_counts_every_weight_and_only_pruned_non_zeros():
    rng = np.random.default_rng(0)
    dense = rng.normal(size=1000).astype(np.float32)
    pruned = np.where(np.abs(dense) > 0.5, dense, 0)
    fig = weight_histogram(dense, pruned, "conv5", threshold=0.5, bins=20)
    d, p = fig.data
    assert int(np.sum(d.y)) == 1000 and int(np.sum(p.y)) == int((pruned != 0).sum())
    assert len(d.x) == 20
    # no pruned non-zero sits below the threshold's bin
    edges = np.asarray(d.x) - np.asarray(d.width) / 2
    assert np.asarray(p.y)[edges + np.asarray(d.width) <= 0.5].sum() == 0


def test_weight_histogram_leaves_out_nan_and_inf():
    w = np.array([0.1, np.nan, 0.3, np.inf, -0.2], np.float32)
    fig = weight_histogram(w, w, "conv5", None, bins=4)
    assert int(np.sum(fig.data[0].y)) == 3 and "4 non-finite left out" in fig.layout.title.text
    assert np.isfinite(np.asarray(fig.data[0].width)).all()
    empty = weight_histogram(np.full(3, np.nan), np.zeros(3), "conv5", None)  # nothing finite: still a figure
    assert int(np.sum(empty.data[0].y)) == 0


def test_sparsity_bars_are_percent():
    fig = sparsity_bars(["conv0", "conv1"], {"pruned": [0.25, 0.5]})
    np.testing.assert_allclose(fig.data[0].y, [25, 50])


def test_channel_strip_lays_channels_out_row_major():
    fig = channel_strip(np.arange(10) / 10, "conv0", "similarity")
    z, ch = np.asarray(fig.data[0].z, dtype=float), np.asarray(fig.data[0].customdata)
    cols = mosaic_layout(10, 1, 1).cols
    assert ch[0, 0] == 0 and ch[1, 0] == cols and z[1, 1] == pytest.approx((cols + 1) / 10)
    assert np.isnan(z.flat[10:]).all() and (ch.flat[10:] == -1).all()


def test_importance_bars_show_the_top_channels_largest_last():
    scores = {"dense": [0.1, 0.9, 0.5, 0.0]}
    fig = importance_bars(scores, {"dense": ["alive", "alive", "weight-dead", "alive"]}, "conv7", "logit", top=2)
    bar = fig.data[0]
    assert list(bar.y) == ["ch 2", "ch 1"]  # horizontal bars: the largest is drawn at the top
    assert list(bar.customdata) == ["weight-dead", "alive"]


def test_png_grid_places_and_shades_channels_like_the_mosaic():
    from vggexplorer.views.mosaic import mosaic_layout as layout_of
    from vggexplorer.views.render import GAP_GREY, block_grid, colormap_lut

    maps = torch.zeros(5, 4, 4)
    maps[3] = 2.0  # channel 3 at full strength on a 0..2 scale, the others zero
    grid = block_grid(maps, tile_px=8, zmax=2.0, gap=2)  # 4x4 maps enlarged twice to 8x8
    lay = layout_of(5, 8, 8, gap=2)
    assert lay.cols == layout_of(5, 4, 4).cols == 4  # the app's columns
    assert grid.shape == lay.shape + (3,) and grid.dtype == np.uint8
    lut = colormap_lut()
    y, x = lay.origin(3)
    assert (grid[y:y + 8, x:x + 8] == lut[-1]).all()  # darkest green
    y, x = lay.origin(0)
    assert (grid[y:y + 8, x:x + 8] == lut[0]).all()  # lightest
    assert (grid[:, 8:10] == GAP_GREY).all()  # the gap between columns 0 and 1
    y, x = lay.origin(4)
    assert (grid[y:y + 8, x + 10:] == GAP_GREY).all()  # no tile after the last channel


def test_activation_sheet_stacks_every_block_of_every_model():
    from vggexplorer.views.render import activation_sheet, block_grid

    caps = {r: {"conv0": torch.rand(6, 8, 8), "conv1": torch.rand(12, 4, 4)} for r in ("dense", "pruned")}
    sheet = activation_sheet(caps, "a title", tile_px=8)
    grids = [block_grid(caps[r][b], tile_px=8) for b in ("conv0", "conv1") for r in caps]
    assert sheet.width == max(g.shape[1] for g in grids) + 20
    assert sheet.height == 40 + sum(g.shape[0] + 30 for g in grids)
