"""One channel in several models from one batched call: each model's renders are those it gets on its own."""

from __future__ import annotations

import numpy as np
import torch

from vggexplorer.probe import featurevis as fv

from .test_featurevis import FAST, edge_model


def _flipped_edge_model():
    """The edge model with filter 0 mirrored (a right-to-left edge) and filter 2 made a red blob detector."""
    m = edge_model()
    with torch.no_grad():
        w = m.backbone.conv0.weight
        w[0] = -w[0]
        w[2].zero_()
        w[2, 0] = 1.0
    return m


def _same(a: fv.Render, b: fv.Render) -> None:
    assert (a.block, a.channel, a.dead, a.steps, a.seed, a.settings) == (b.block, b.channel, b.dead, b.steps, b.seed,
                                                                        b.settings)
    if a.image is None:
        assert b.image is None
    else:
        assert np.array_equal(a.image, b.image)
    assert a.activation == b.activation


def test_each_models_renders_are_the_ones_it_gets_alone():
    m1, m2 = edge_model(), _flipped_edge_model()
    steps = []
    got = fv.render_across([(m1, [0, 2]), (m2, [0, 2]), (m1, [1])], "conv0", FAST, seed=3,
                           on_step=lambda done, total: steps.append((done, total)))
    alone = [fv.render_channels(m1, "conv0", [0, 2], FAST, seed=3), fv.render_channels(m2, "conv0", [0, 2], FAST, seed=3),
             fv.render_channels(m1, "conv0", [1], FAST, seed=3)]
    for g, a in zip(got, alone):
        assert [r.channel for r in g] == [r.channel for r in a]
        for rg, ra in zip(g, a):
            _same(rg, ra)
    assert steps == [(i, FAST.steps) for i in range(1, FAST.steps + 1)]
    # what the models are: m1's filter 2 never fires (activation-dead), m2's does; filter 1 is weight-dead
    assert got[0][1].dead == fv.ACTIVATION_DEAD and got[1][1].dead is None and got[1][1].activation > 0
    assert got[2][0].dead == fv.WEIGHT_DEAD
    # the two edge detectors look for opposite edges: the mirrored render excites the mirrored filter, not m1's
    assert got[0][0].image is not None and got[1][0].image is not None
    assert not np.array_equal(got[0][0].image, got[1][0].image)


def test_only_dead_channels_still_finish_the_progress():
    steps = []
    got = fv.render_across([(edge_model(), [1])], "conv0", FAST, on_step=lambda d, t: steps.append((d, t)))
    assert got[0][0].dead == fv.WEIGHT_DEAD and steps == [(FAST.steps, FAST.steps)]
