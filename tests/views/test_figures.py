"""Figure builders, checked for their data (tile positions, levels, counts), never their pixels."""

import numpy as np
import pytest
import torch

from vggexplorer.views.figures import channel_strip, importance_bars, layer_mosaic, mark_channel, probability_bars
from vggexplorer.views.mosaic import fixed, mosaic_layout, robust, split_max, tile
from vggexplorer.views.style import LEVELS, MARK_COLOUR, quantise
from vggexplorer.views.weight_figures import sparsity_bars, weight_histogram


def _maps() -> torch.Tensor:
    """Three 2x2 channels: 0..3, all 2.0, all zero."""
    return torch.stack([torch.arange(4.0).reshape(2, 2), torch.full((2, 2), 2.0), torch.zeros(2, 2)])  # [3, 2, 2]


# plotly's Greens (ColorBrewer's 9 classes) at 0, 1/2 and 1: the colour of a value at 0, half and all of a scale
GREENS_LIGHTEST, GREENS_MID, GREENS_DARKEST = (247, 252, 245), (116, 196, 118), (0, 68, 27)


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
    fig = layer_mosaic(_maps(), "conv9", "dense", fixed(3.0), status=["alive", "weakened", "weight-dead"],
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
    # the hover names each status, and says "zero on this image" beside it where the map is (channel 2)
    assert list(points.text) == ["status: alive", "status: weakened", "status: weight-dead · zero on this image"]
    # the selected channel's tile is marked (its point is selected); mark_channel moves or removes the mark
    assert list(points.selectedpoints) == [1] and points.selected.marker.color == MARK_COLOUR
    assert list(mark_channel(fig, 2).data[1].selectedpoints) == [2]
    assert mark_channel(fig, None).data[1].selectedpoints is None
    assert fig.layout.meta["zmax"] == 3.0 and "shared scale 0..3" in fig.layout.title.text
    # the colourbar: 0 at level 1, 1.5 half way, 3 at the darkest level (a given top: nothing saturates)
    assert list(heat.colorbar.tickvals) == [1, 128, LEVELS] and list(heat.colorbar.ticktext) == ["0", "1.5", "3"]


def test_mosaic_fills_a_short_last_row_with_transparent_level_zero():
    z = np.asarray(layer_mosaic(torch.ones(5, 2, 2), "conv9", "dense", fixed(1.0)).data[0].z)  # 4 columns, 2 rows
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


def test_mosaic_hover_without_a_scan_never_calls_a_channel_alive():
    fig = layer_mosaic(_maps(), "conv9", "mine.pt", fixed(3.0), status=["not scanned", "not scanned", "weight-dead"])
    assert list(fig.data[1].text) == [
        "status: not scanned (whether activation-dead, dormant or weakened needs a dataset scan)"] * 2 + [
        "status: weight-dead · zero on this image"]
    assert list(layer_mosaic(_maps(), "conv9", "dense", fixed(3.0)).data[1].text) == ["", "", "zero on this image"]


def test_importance_bars_rank_only_the_channels_that_contribute():
    scores = {"dense": [0.1, 0.9, 0.5, 0.0], "pruned": [0.0, 0.0, 0.3, 0.0]}
    status = {"dense": ["alive", "alive", "weight-dead", "alive"], "pruned": ["dormant", "alive", "weakened", "alive"]}
    fig = importance_bars(scores, status, "conv7", "logit", top=2)
    dense, pruned = fig.data
    assert list(dense.y) == ["ch 2", "ch 1"]  # horizontal bars: the largest is drawn at the top
    assert list(dense.customdata) == ["weight-dead", "alive"]
    # the pruned model has one contributing channel: no filler at zero after it
    assert list(pruned.y) == ["ch 2"] and list(pruned.customdata) == ["weakened"]
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["dense: top 2 of conv7 · 3 of 4 channels contribute",
                      "pruned: top 1 of conv7 · 1 of 4 channels contribute"]


def test_png_grid_places_and_shades_channels_like_the_mosaic():
    from vggexplorer.views.mosaic import mosaic_layout as layout_of
    from vggexplorer.views.render import GAP_GREY, block_grid

    maps = torch.zeros(5, 4, 4)
    maps[3] = 2.0  # channel 3 at full strength on a 0..2 scale, the others zero
    grid = block_grid(maps, tile_px=8, scale=fixed(2.0), gap=2)  # 4x4 maps enlarged twice to 8x8
    lay = layout_of(5, 8, 8, gap=2)
    assert lay.cols == layout_of(5, 4, 4).cols == 4  # the app's columns
    assert grid.shape == lay.shape + (3,) and grid.dtype == np.uint8
    y, x = lay.origin(3)
    assert (grid[y:y + 8, x:x + 8] == GREENS_DARKEST).all()
    y, x = lay.origin(0)
    assert (grid[y:y + 8, x:x + 8] == GREENS_LIGHTEST).all()
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


def _colour_at(colorscale, z: float, zmin: float, zmax: float) -> tuple[float, ...]:
    """A Plotly colorscale's colour at ``z``: linear in RGB between the two stops around it, as Plotly draws it."""
    pos = (z - zmin) / (zmax - zmin)
    stops = [(float(p), tuple(float(v) for v in c[c.index("(") + 1:-1].split(",")[:3])) for p, c in colorscale]
    for (p0, c0), (p1, c1) in zip(stops, stops[1:]):
        if p0 <= pos <= p1:
            t = 0.0 if p1 == p0 else (pos - p0) / (p1 - p0)
            return tuple(a + t * (b - a) for a, b in zip(c0, c1))
    raise AssertionError(f"{pos} is outside the colorscale")


def test_png_and_mosaic_give_a_value_the_same_colour():
    from plotly.colors import sequential

    from vggexplorer.views.render import block_grid

    assert sequential.Greens[4] == "rgb(116,196,118)" and sequential.Greens[0] == "rgb(247,252,245)"
    maps = torch.tensor([0.0, 1.0, 2.0, 4.0]).reshape(4, 1, 1)  # on a 0..2 scale: nothing, half, all, above
    fig = layer_mosaic(maps, "conv9", "dense", fixed(2.0))
    heat = fig.data[0]
    z = np.asarray(heat.z)
    png = block_grid(maps, tile_px=1, scale=fixed(2.0), gap=0)
    lay = mosaic_layout(4, 1, 1, gap=0)  # 1x1 tiles, 3 to a row: both drawings put channel c at lay.origin(c)
    for c, want in enumerate([GREENS_LIGHTEST, GREENS_MID, GREENS_DARKEST, GREENS_DARKEST]):
        assert tuple(png[lay.origin(c)]) == want, c
        drawn = _colour_at(heat.colorscale, float(z[lay.origin(c)]), heat.zmin, heat.zmax)
        np.testing.assert_allclose(drawn, want, atol=0.5, err_msg=str(c))
    # a value between stops: 0.1 of the scale is level rint(25.4) + 1 = 26, Greens at 25/254 = 0.0984, 79% of the
    # way from its first stop (247,252,245) to its second (229,245,224): (232.8, 246.5, 228.5)
    maps = torch.tensor([0.1]).reshape(1, 1, 1)
    heat = layer_mosaic(maps, "conv9", "dense", fixed(1.0)).data[0]
    want = (247 - 18 * 0.7874, 252 - 7 * 0.7874, 245 - 21 * 0.7874)
    np.testing.assert_allclose(_colour_at(heat.colorscale, float(np.asarray(heat.z)[0, 0]), heat.zmin, heat.zmax),
                               want, atol=0.01)
    np.testing.assert_allclose(block_grid(maps, tile_px=1, scale=fixed(1.0), gap=0)[0, 0], want, atol=0.51)


def test_mosaic_on_the_robust_shared_scale_saturates_the_peak_and_says_so():
    # 3 channels of 10x10 at 1.0 but one pixel at 100, and a second model all at 0.5: of the 600 values, 300 are
    # 0.5, 299 are 1 and one is 100; the 99.5th percentile sits at rank 0.995 * 599 = 596.005, between two 1s: 1.0
    dense = torch.ones(3, 10, 10)
    dense[1, 4, 4] = 100.0
    pruned = torch.full((3, 10, 10), 0.5)
    scale = robust(dense, pruned)
    assert scale.top == 1.0 and scale.percentile == 99.5
    z = np.asarray(layer_mosaic(dense, "conv9", "dense", scale).data[0].z)  # 3 tiles in a row, 10 px each
    assert z[4, 14] == LEVELS and (z == LEVELS).all()  # the peak saturates; the rest is at the top, not near white
    zp = np.asarray(layer_mosaic(pruned, "conv9", "pruned", scale).data[0].z)
    assert (zp == 128).all()  # 0.5 of 1.0: level rint(0.5 * 254) + 1
    # on the maximum (100) the same 1.0 would be level rint(2.54) + 1 = 4, all but white
    assert (np.asarray(layer_mosaic(dense, "conv9", "dense", fixed(100.0)).data[0].z)[:, :10] == 4).all()
    fig = layer_mosaic(pruned, "conv9", "pruned", scale)
    assert "shared scale, top = 99.5th percentile of both models (1); above it saturates" in fig.layout.title.text
    assert list(fig.data[0].colorbar.ticktext) == ["0", "0.5", "≥1"] and fig.layout.meta["scale"] == "shared"


def test_mosaic_of_each_channels_test_split_max():
    maps = torch.stack([torch.arange(4.0).reshape(2, 2), torch.full((2, 2), 2.0), torch.zeros(2, 2)])
    fig = layer_mosaic(maps, "conv9", "dense", split_max(np.array([4.0, 1.0, 0.0])))
    z = np.asarray(fig.data[0].z)
    # channel 0 of its max 4: 0, 0.25, 0.5, 0.75 -> levels 1, rint(63.5) + 1 = 65, 128, rint(190.5) + 1 = 191;
    # channel 1 at twice its max saturates; channel 2, never firing on the split, is 0 here
    assert z[:, 0:2].tolist() == [[1, 65], [128, 191]]
    assert (z[:, 2:4] == LEVELS).all() and (z[:, 4:6] == 1).all()
    assert "each channel / its max over the test split" in fig.layout.title.text
    assert list(fig.data[0].colorbar.ticktext) == ["0", "0.5", "≥1"] and fig.layout.meta["zmax"] is None
