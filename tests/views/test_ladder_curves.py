"""The ladder's figures, checked on tiny hand-made inputs whose right answer is known: their data, never pixels."""

import numpy as np
import plotly.graph_objects as go
import pytest

from vggexplorer.stats.status import CATEGORIES
from vggexplorer.views.comparison_figures import disagreement_caption, per_class_accuracy
from vggexplorer.views.figures import channel_across_ladder
from vggexplorer.views.ladder_curves import (accuracy_vs_sparsity, cka_by_block, death_curves, filter_sparsity_distribution,
                                            layer_sparsity_per_rung, size_per_rung)
from vggexplorer.model.ladder import rung_label
from vggexplorer.views.style import STATUS_COLORS, STATUS_SYMBOLS, rung_color
from vggexplorer.views.weight_figures import filter_weights, rgb_patch

GREENS = go.Heatmap(colorscale="Greens").colorscale
RDBU = go.Heatmap(colorscale="RdBu").colorscale


def test_rung_names_and_colours():
    assert [rung_label(p) for p in (0, 55, 95, 60)] == ["dense", "pruned 55%", "pruned 95%", "pruned 60%"]
    assert rung_color(0) == "#2b8cbe"  # the app's dense blue
    assert len({rung_color(p) for p in (55, 75, 90, 95)}) == 4  # every rung its own shade


# --- death curves -------------------------------------------------------------------------------------------

COUNTS = {  # blocks given out of order, one category missing here and there
    0: {"conv1": {}, "conv0": {}},
    55: {"conv1": {"dormant": 2}, "conv0": {"weakened": 1}},
    95: {"conv1": {"weight-dead": 3, "activation-dead": 4, "dormant": 5, "weakened": 6}, "conv0": {"dormant": 1}},
}


def test_death_curves_one_line_per_block_and_category():
    fig = death_curves(COUNTS, {"conv0": 64, "conv1": 128})
    assert len(fig.data) == 2 * len(CATEGORIES) == 8
    conv0, conv1 = fig.data[:4], fig.data[4:]
    assert [t.name for t in conv0] == list(CATEGORIES) == ["weight-dead", "activation-dead", "dormant", "weakened"]
    for t in fig.data:
        assert list(t.x) == [100, 45, 5] and t.mode == "lines+markers"  # weights left: 100 - p
    ax = fig.layout.xaxis  # placed by the weights left (log), labelled by the weights zero
    assert ax.type == "log" and list(ax.tickvals) == [100, 45, 5] and list(ax.ticktext) == ["0%", "55%", "95%"]
    assert {t.name: list(t.y) for t in conv1} == {"weight-dead": [0, 0, 3], "activation-dead": [0, 0, 4],
                                                  "dormant": [0, 2, 5], "weakened": [0, 0, 6]}
    assert {t.name: list(t.y) for t in conv0}["dormant"] == [0, 0, 1]
    assert {t.name: list(t.y) for t in conv0}["weakened"] == [0, 1, 0]
    # conv0 in the first subplot, conv1 in the second, titled with their widths
    assert {t.xaxis for t in conv0} == {"x"} and {t.xaxis for t in conv1} == {"x2"}
    *titles, x_title = fig.layout.annotations
    assert [a.text for a in titles] == ["conv0 · 64 channels", "conv1 · 128 channels"]
    # the x axes' title once, under the grid (one per subplot ran into each other), none on the axes themselves
    assert x_title.text.startswith("weights zero (nominal)") and (x_title.x, x_title.y, x_title.yanchor) == (0.5, 0, "top")
    assert fig.layout.xaxis.title.text is None and fig.layout.xaxis2.title.text is None
    # one colour and symbol per category in every block; the legend lists each category once
    for a, b in zip(conv0, conv1):
        assert a.line.color == b.line.color == STATUS_COLORS[a.name]
        assert a.marker.symbol == b.marker.symbol == STATUS_SYMBOLS[a.name]
        assert a.showlegend and not b.showlegend and a.legendgroup == b.legendgroup == a.name
    assert len({t.line.color for t in conv0}) == 4
    # hover: block, category, rung, count
    assert list(conv1[0].customdata) == ["dense", "pruned 55%", "pruned 95%"]
    assert conv1[0].hovertemplate.startswith("conv1 · weight-dead<br>%{customdata}: %{y} channels")
    assert fig.layout.yaxis.title.text == "channels" and fig.layout.xaxis.ticktext == ("0%", "55%", "95%")


def test_death_curves_grid_of_eight_blocks_any_rungs():
    blocks = [f"conv{i}" for i in range(8)]
    counts = {p: {b: {"dormant": i} for i, b in enumerate(blocks)} for p in (0, 60)}
    fig = death_curves(counts, {b: 64 for b in blocks})
    assert len(fig.data) == 32 and [a.text for a in fig.layout.annotations][-2] == "conv7 · 64 channels"
    assert [a.text for a in fig.layout.annotations].count(
        "weights zero (nominal); spaced by the weights left, log scale") == 1
    assert all(getattr(fig.layout, f"xaxis{i}").title.text is None for i in ("", *range(2, 9)))
    assert {t.xaxis for t in fig.data} == {"x"} | {f"x{i}" for i in range(2, 9)}
    assert (fig.layout.xaxis.matches, fig.layout.xaxis4.matches) == ("x5", "x8")  # top row shares the bottom's x
    assert fig.layout.yaxis5.title.text == "channels" and fig.layout.yaxis2.title.text is None  # first column
    dormant7 = [t for t in fig.data if t.xaxis == "x8" and t.name == "dormant"][0]
    assert list(dormant7.y) == [7, 7] and list(dormant7.customdata) == ["dense", "pruned 60%"]


def test_death_curves_block_missing_at_a_rung_leaves_a_gap():
    fig = death_curves({0: {"conv0": {}}, 90: {}}, {"conv0": 8})
    assert list(fig.data[0].y) == [0, None]


# --- filter sparsity distribution --------------------------------------------------------------------------

SPARSITY = {
    90: {"conv0": np.array([0.9, 0.95, 0.5], np.float32), "conv1": np.array([1.0])},  # float32 0.9 < 0.9
    0: {"conv0": np.array([0.0, 0.1, 0.0]), "conv1": np.array([0.0])},
}


def test_filter_sparsity_one_block():
    fig = filter_sparsity_distribution(SPARSITY, "conv0")
    assert [t.type for t in fig.data] == ["box", "box"]
    assert [t.name for t in fig.data] == [t.x0 for t in fig.data] == ["dense", "pruned 90%"]
    np.testing.assert_allclose(fig.data[0].y, [0, 10, 0], atol=1e-5)
    np.testing.assert_allclose(fig.data[1].y, [90, 95, 50], atol=1e-4)
    assert fig.data[1].y.dtype == np.float32
    assert [a.text for a in fig.layout.annotations] == ["0 ≥ 90% zero", "2 ≥ 90% zero"]
    assert [a.x for a in fig.layout.annotations] == ["dense", "pruned 90%"]
    assert fig.data[1].marker.color == rung_color(90) and fig.data[0].marker.color == rung_color(0)
    assert fig.layout.title.text == "Per-filter sparsity · conv0 · 3 filters"


def test_filter_sparsity_pooled():
    fig = filter_sparsity_distribution(SPARSITY)
    np.testing.assert_allclose(fig.data[1].y, [90, 95, 50, 100], atol=1e-4)
    assert [a.text for a in fig.layout.annotations] == ["0 ≥ 90% zero", "3 ≥ 90% zero"]
    assert fig.data[1].meta == {"percent": 90, "mostly_zero": 3}
    assert "all blocks pooled · 4 filters" in fig.layout.title.text


# --- one channel across the ladder --------------------------------------------------------------------------

def _ladder_maps():
    return [np.array([[0, 1], [2, 3]], float), np.full((2, 2), 0.5), np.zeros((2, 2))]


def test_channel_across_ladder_is_one_heatmap_in_one_row():
    fig = channel_across_ladder(_ladder_maps(), ["dense", "pruned 55%", "pruned 95%"],
                                ["alive", "weakened", "weight-dead"], [0.0, 0.93, 1.0], "conv6", 12, zmax=3.0)
    (heat,) = fig.data
    assert heat.type == "heatmap" and heat.text is None
    z = np.asarray(heat.z)
    assert z.shape == (2, 8) and z.dtype == np.float32  # 3 tiles of 2 px, 1-px NaN gaps
    np.testing.assert_array_equal(z[:, 0:2], [[0, 1], [2, 3]])
    assert (z[:, 3:5] == 0.5).all() and (z[:, 6:8] == 0).all() and np.isnan(z[:, [2, 5]]).all()
    assert list(heat.x) == ["dense · x 0", "dense · x 1", "gap 2", "pruned 55% · x 0", "pruned 55% · x 1", "gap 5",
                            "pruned 95% · x 0", "pruned 95% · x 1"]
    assert (heat.zmin, heat.zmax, heat.hoverongaps) == (0, 3.0, False) and heat.colorscale == GREENS
    for part in ("%{x}", "%{y}", "%{z"):
        assert part in heat.hovertemplate
    assert fig.layout.yaxis.range[0] > fig.layout.yaxis.range[1]  # rows run down, as in an image
    texts = [a.text for a in fig.layout.annotations]
    assert texts[1] == f"<b>pruned 55%</b><br><span style='color:{STATUS_COLORS['weakened']}'>weakened</span> · 93% zero"
    assert "<b>dense</b>" in texts[0] and "alive</span> · 0% zero" in texts[0]
    assert "weight-dead · zero on this image</span> · 100% zero" in texts[2]  # its map is all zero here
    assert [a.x for a in fig.layout.annotations] == [0.5, 3.5, 6.5]  # tile centres
    assert "conv6" in fig.layout.title.text and "channel 12" in fig.layout.title.text
    assert "0..3" in fig.layout.title.text and not fig.layout.shapes


def test_channel_across_ladder_never_rounds_a_partial_filter_to_0_or_100():
    fig = channel_across_ladder(_ladder_maps(), ["a", "b", "c"], ["dormant", "alive", "alive"],
                                [0.9996, 0.0004, 0.5], "conv0", 0, zmax=1.0, selected=1)
    texts = [a.text for a in fig.layout.annotations]
    assert texts[0].endswith("99.9% zero") and texts[1].endswith("0.1% zero") and texts[2].endswith("50% zero")
    # the third map is zero on this image: said beside its status, in the status's colour
    assert f"color:{STATUS_COLORS['alive']}'>alive · zero on this image</span>" in texts[2]
    assert "zero on this image" not in texts[0] + texts[1]
    (rect,) = fig.layout.shapes  # the chosen rung outlined around its tile (columns 3..4)
    assert rect.x0 < 2.5 < 4.5 < rect.x1 and rect.x0 > 2


def test_channel_across_ladder_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="one label, status and sparsity per map"):
        channel_across_ladder(_ladder_maps(), ["a", "b"], ["alive"] * 3, [0] * 3, "conv0", 0, 1.0)
    with pytest.raises(ValueError, match="distinct"):
        channel_across_ladder(_ladder_maps(), ["a", "a", "b"], ["alive"] * 3, [0] * 3, "conv0", 0, 1.0)


# --- filter weights -----------------------------------------------------------------------------------------

def test_rgb_patch_maps_minus_lim_zero_plus_lim():
    w = np.zeros((3, 1, 3))
    w[0, 0] = [-2, 0, 2]
    w[2, 0, 0] = 1
    img = rgb_patch(w, 2.0)
    assert img.shape == (1, 3, 3) and img.dtype == np.uint8
    assert img[0, :, 0].tolist() == [0, 128, 255]  # R channel across the taps
    assert img[0, 0].tolist() == [0, 128, 191]  # one tap's R, G, B


def test_conv0_filter_rgb_patch_heatmaps_and_pruned_marks():
    dense = np.arange(1, 28, dtype=np.float32).reshape(3, 3, 3) * np.where(np.arange(27) % 2, 1, -1).reshape(3, 3, 3)
    dense[2, 2, 2] = 0.0  # zero in dense too: not "pruned"
    pruned = dense.copy()
    pruned[0, 0, 0] = pruned[1, 2, 1] = pruned[2, 2, 2] = 0.0
    fig = filter_weights(dense, pruned, "conv0", 5, "pruned 90%")
    assert [t.type for t in fig.data] == ["image", "image", "heatmap", "scatter", "heatmap", "scatter"]
    img_d, img_p, heat_d, mark_d, heat_p, mark_p = fig.data
    lim = 26.0  # the largest |w| left once dense[2, 2, 2] (27) is zeroed
    np.testing.assert_array_equal(np.asarray(img_d.z), rgb_patch(dense, lim))
    expected = rgb_patch(dense, lim)[0, 0].copy()
    expected[0] = 128  # tap (0, 0) lost its R weight: mid grey in R
    np.testing.assert_array_equal(np.asarray(img_p.z)[0, 0], expected)
    np.testing.assert_allclose(np.asarray(img_d.customdata)[1, 2], dense[:, 1, 2])  # hover: R, G, B weights
    # R, G, B kernels in one row with 1-px NaN gaps, on one diverging scale centred at 0
    zd, zp = np.asarray(heat_d.z), np.asarray(heat_p.z)
    assert zd.shape == (3, 11)
    np.testing.assert_array_equal(zd[:, 4:7], dense[1])
    np.testing.assert_array_equal(zp[:, 0:3], pruned[0])
    assert np.isnan(zd[:, [3, 7]]).all()
    assert np.asarray(heat_p.customdata)[0].tolist() == [0, 0, 0, -1, 1, 1, 1, -1, 2, 2, 2]  # input channel ids
    for h in (heat_d, heat_p):
        assert (h.zmin, h.zmax, h.zmid) == (-lim, lim, 0) and h.colorscale == RDBU and h.hoverongaps is False
        assert "input ch %{customdata}" in h.hovertemplate and "%{z:.4f}" in h.hovertemplate
    # pruned taps (zero in the rung, not in dense) marked with an "x" on both sides
    assert list(zip(mark_p.x, mark_p.y)) == [(0, 0), (5, 2)]
    np.testing.assert_allclose(mark_p.customdata, [[0, dense[0, 0, 0]], [1, dense[1, 2, 1]]])
    assert list(mark_d.x) == list(mark_p.x) and mark_p.marker.symbol == "x" and mark_d.marker.symbol == "x-thin-open"
    assert "pruned" in mark_p.hovertemplate and "pruned in pruned 90%" in mark_d.hovertemplate
    assert mark_p.xaxis == heat_p.xaxis == "x4" and mark_d.xaxis == heat_d.xaxis == "x3"
    title = fig.layout.title.text
    assert "conv0 · filter 5 · dense vs pruned 90%" in title and "2 of 27 weights pruned" in title
    assert fig.layout.meta["pruned"] == 2


def test_deep_filter_shows_top_input_channels_strongest_first():
    scale = np.array([1.0, 5.0, 3.0, 0.5, 4.0], np.float32)
    dense = np.ones((5, 3, 3), np.float32) * scale[:, None, None]
    dense[:, 1, 1] *= -1
    pruned = dense.copy()
    pruned[4, 0, 2] = 0.0  # shown (channel 4 is second strongest)
    pruned[3] = 0.0  # channel 3 is not among the top 3: never drawn
    fig = filter_weights(dense, pruned, "conv5", 7, "pruned 75%", top=3)
    assert [t.type for t in fig.data] == ["heatmap", "scatter", "heatmap", "scatter"]
    assert fig.layout.meta["order"] == [1, 4, 2]
    heat_d, mark_d, heat_p, mark_p = fig.data
    zd = np.asarray(heat_d.z)
    assert zd.shape == (3, 11)  # three 3x3 kernels in one row
    np.testing.assert_array_equal(zd[:, 0:3], dense[1])
    np.testing.assert_array_equal(zd[:, 4:7], dense[4])
    np.testing.assert_array_equal(np.asarray(heat_p.z)[:, 4:7], pruned[4])
    assert np.asarray(heat_d.customdata)[2].tolist() == [1, 1, 1, -1, 4, 4, 4, -1, 2, 2, 2]
    assert list(zip(mark_p.x, mark_p.y)) == [(6, 0)]  # channel 4's tap (0, 2) in the second tile
    np.testing.assert_allclose(mark_p.customdata, [[4, 4.0]])
    assert heat_d.zmax == heat_p.zmax == 5.0 and heat_d.zmin == -5.0
    title = fig.layout.title.text
    assert "top 3 of 5 input channels by |w|" in title and "conv5 · filter 7 · dense vs pruned 75%" in title
    assert "10 of 45 weights pruned" in title
    assert [a.text for a in fig.layout.annotations] == ["dense", "pruned 75%"]
    assert fig.layout.yaxis.range[0] > fig.layout.yaxis.range[1] and fig.layout.yaxis2.scaleanchor == "x2"


def test_deep_filter_all_channels_and_bad_shapes():
    w = np.ones((4, 3, 3), np.float32)
    fig = filter_weights(w, w, "conv1", 0, "pruned 55%")
    assert "all 4 input channels" in fig.layout.title.text and len(fig.data[3].x) == 0
    dead = filter_weights(np.zeros((4, 3, 3)), np.zeros((4, 3, 3)), "conv1", 0, "pruned 55%")
    assert dead.data[0].zmax == 1.0  # an all-zero filter still gets a usable scale
    with pytest.raises(ValueError, match="one shape"):
        filter_weights(np.zeros((4, 3, 3)), np.zeros((3, 3, 3)), "conv1", 0, "x")


# --- disagreements page ------------------------------------------------------------------------------------

def _class_rows(frac: bool):
    k = 1.0 if frac else 100.0
    rows = []
    for p, diffs in ((95, (-0.04, 0.01)), (55, (-0.01, 0.0))):
        for cls, d in zip(("cat", "dog"), diffs):
            rows.append({"percent": p, "class": cls, "dense_top1": 0.9 * k, "pruned_top1": (0.9 + d) * k,
                         "diff": d * k, "ci_low": (d - 0.02) * k, "ci_high": (d + 0.01) * k,
                         "p_value": 0.001 if cls == "cat" and p == 95 else 0.01 if cls == "cat" else 0.6,
                         "p_adjusted": 0.002 if cls == "cat" and p == 95 else 0.02 if cls == "cat" else 0.6,
                         "significant": cls == "cat" and p == 95})  # 55% cat: raw 0.01, but not significant
    return rows


def test_per_class_accuracy_points_intervals_and_marks():
    fig = per_class_accuracy(_class_rows(frac=True))
    r55, r95, legend = fig.data
    assert [r55.name, r95.name] == ["pruned 55%", "pruned 95%"]  # sorted by sparsity
    assert list(r95.x) == ["cat", "dog"]
    np.testing.assert_allclose(r95.y, [-4.0, 1.0])  # percentage points
    np.testing.assert_allclose(r95.error_y.array, [1.0, 1.0])
    np.testing.assert_allclose(r95.error_y.arrayminus, [2.0, 2.0])
    assert r95.error_y.symmetric is False
    assert list(r95.marker.symbol) == ["star", "circle"] and list(r55.marker.symbol) == ["circle", "circle"]
    assert list(r95.marker.size) == [14, 8] and list(r95.marker.line.width) == [1.5, 0]
    np.testing.assert_allclose(r95.customdata[0], [90, 86, -6, -3, 0.001, 0.002])
    assert list(r95.text) == ["significant", "not significant"]
    assert list(r55.text) == ["not significant", "not significant"]  # a raw p of 0.01 is not a star by itself
    assert "pruned 95% · %{x}" in r95.hovertemplate and "McNemar p" in r95.hovertemplate
    assert "Holm-adjusted" in r95.hovertemplate
    assert r95.marker.color == rung_color(95) != r55.marker.color
    assert legend.marker.symbol == "star" and "Holm-corrected over 10 classes" in legend.name
    (zero,) = fig.layout.shapes
    assert zero.y0 == zero.y1 == 0
    assert fig.layout.scattermode == "group"


def test_per_class_accuracy_reads_percents_as_well_as_fractions():
    a, b = per_class_accuracy(_class_rows(True)), per_class_accuracy(_class_rows(False))
    for ta, tb in zip(a.data[:2], b.data[:2]):
        np.testing.assert_allclose(ta.y, tb.y)
        np.testing.assert_allclose(ta.customdata, tb.customdata)


def test_cka_by_block_starts_at_one_for_dense():
    fig = cka_by_block({90: {"conv10": 0.2, "conv2": 0.7}, 55: {"conv2": 0.9, "conv10": 0.6}})
    assert [t.name for t in fig.data] == ["conv2", "conv10"]  # natural block order
    c2, c10 = fig.data
    assert list(c2.x) == [100, 45, 10] and list(c2.y) == [1.0, 0.9, 0.7] and list(c10.y) == [1.0, 0.6, 0.2]
    assert list(c2.customdata) == ["dense", "pruned 55%", "pruned 90%"]
    assert "conv2 · %{customdata}" in c2.hovertemplate and c2.line.color != c10.line.color
    # from a little below the lowest CKA, 0.2: 0.2 - 0.08 * (1 - 0.2) = 0.136, floored to 0.13; to 1 + 0.064 / 2
    assert fig.layout.yaxis.range == pytest.approx((0.13, 1.032)) and fig.layout.xaxis.ticktext == ("0%", "55%", "90%")
    assert fig.layout.yaxis.title.text == "CKA with dense (axis from 0.13, not 0)"
    gap = cka_by_block({0: {"conv0": 1.0}, 75: {"conv1": 0.5}})
    assert list(gap.data[1].y) == [1.0, 0.5] and list(gap.data[0].y) == [1.0, None]


def test_cka_axis_shows_where_the_differences_are():
    # the shipped ladder's CKA runs from 0.92 to 1: 0.95 - 0.08 * 0.05 = 0.946 -> 0.94, not 0
    fig = cka_by_block({55: {"conv0": 0.999, "conv7": 0.99}, 95: {"conv0": 0.98, "conv7": 0.95}})
    assert fig.layout.yaxis.range == pytest.approx((0.94, 1.002))
    # all but identical: at least 0.002 of room, 0.999 - 0.002 = 0.997 -> 0.99
    assert cka_by_block({90: {"conv0": 0.999}}).layout.yaxis.range == pytest.approx((0.99, 1.001))
    # low values: the axis takes in 0 (and a negative CKA, an estimator's noise: -0.05 - 0.08 * 1.05 = -0.134),
    # and the title says nothing else
    assert cka_by_block({90: {"conv0": 0.01}}).layout.yaxis.range[0] == 0.0
    neg = cka_by_block({90: {"conv0": -0.05}})
    assert neg.layout.yaxis.range[0] == pytest.approx(-0.134) and neg.layout.yaxis.title.text == "CKA with dense"


def test_disagreement_caption():
    assert disagreement_caption("cat", "dog", "dog", "fixed", rung=95) == "dense: cat ✗ · 95%: dog ✓ · truth dog"
    assert disagreement_caption("dog", "cat", "dog", "broke") == "dense: dog ✓ · pruned: cat ✗ · truth dog"
    assert disagreement_caption("cat", "deer", "dog", "both wrong", rung="p75") == \
        "dense: cat ✗ · p75: deer ✗ · truth dog"
    with pytest.raises(ValueError, match="does not match"):
        disagreement_caption("cat", "dog", "dog", "broke")
    with pytest.raises(ValueError, match="kind must be"):
        disagreement_caption("cat", "dog", "dog", "flipped")


# --- models page -----------------------------------------------------------------------------------------

POINTS = [{"percent": 90, "zero_fraction": 0.9012, "top1": 0.925}, {"percent": 0, "zero_fraction": 0.0, "top1": 0.934},
          {"percent": 55, "zero_fraction": 0.551, "top1": 0.931, "label": "twin"}]


def test_accuracy_vs_sparsity_is_the_labs_curve():
    fig = accuracy_vs_sparsity(POINTS)
    (curve,) = fig.data
    np.testing.assert_allclose(curve.x, [0.0, 55.1, 90.12])
    np.testing.assert_allclose(curve.y, [93.4, 93.1, 92.5])
    assert list(curve.text) == ["dense", "twin", "pruned 90%"] and "text" in curve.mode
    assert list(curve.textposition) == ["top center", "bottom center", "top center"]  # alternating from the last
    assert list(curve.marker.color) == [rung_color(0), rung_color(55), rung_color(90)]
    (ref,) = fig.layout.shapes
    assert ref.y0 == ref.y1 == pytest.approx(93.4)
    pct = accuracy_vs_sparsity([{**q, "zero_fraction": q["zero_fraction"] * 100, "top1": q["top1"] * 100}
                                for q in POINTS])
    np.testing.assert_allclose(pct.data[0].x, curve.x)
    np.testing.assert_allclose(pct.data[0].y, curve.y)


def test_size_per_rung_two_bars_two_axes():
    rows = [{"label": "dense", "size_bytes": 2 * 2 ** 20, "nonzero_params": 4_000_000},
            {"label": "pruned 75%", "size_bytes": 2 ** 19, "nonzero_params": 1_000_000}]
    fig = size_per_rung(rows)
    size, nnz = fig.data
    assert list(size.x) == list(nnz.x) == ["dense", "pruned 75%"]
    np.testing.assert_allclose(size.y, [2.0, 0.5])
    np.testing.assert_allclose(nnz.y, [4.0, 1.0])
    assert size.yaxis == "y" and nnz.yaxis == "y2" and size.offsetgroup != nnz.offsetgroup
    np.testing.assert_allclose(size.customdata, [[2 * 2 ** 20, 1.0], [2 ** 19, 0.25]])
    np.testing.assert_allclose(nnz.customdata[:, 1], [1.0, 0.25])
    assert list(size.text) == ["2 MiB", "0.5 MiB"]


def test_layer_sparsity_per_rung_grouped_bars():
    fig = layer_sparsity_per_rung({95: {"backbone.conv0.weight": 0.9, "classifier.weight": 0.96},
                                   55: {"backbone.conv0.weight": 0.3, "backbone.conv1.weight": 0.6}})
    r55, r95 = fig.data
    assert [r55.name, r95.name] == ["pruned 55%", "pruned 95%"] and fig.layout.barmode == "group"
    assert list(r55.x) == ["conv0", "conv1", "classifier"]
    assert list(r55.y[:2]) == pytest.approx([30.0, 60.0]) and r55.y[2] is None and r95.y[1] is None
    assert r95.y[0] == pytest.approx(90.0) and r95.y[2] == pytest.approx(96.0)
    assert r95.marker.color == rung_color(95) and "pruned 95% · %{x}" in r95.hovertemplate
