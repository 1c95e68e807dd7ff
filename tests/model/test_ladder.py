"""The shipped ladder's names: one rung label for any percent."""

from vggexplorer.model.ladder import DENSE, LADDER, RUNGS, rung_label


def test_rung_label_for_any_percent():
    assert rung_label(0) == "dense"
    assert rung_label(55) == "pruned 55%"
    assert rung_label(60) == "pruned 60%"  # not a shipped rung: the same form
    assert rung_label(97.5) == "pruned 97.5%"
    assert rung_label(90.0) == "pruned 90%"  # a float percent reads as the int one


def test_each_rung_is_labelled_by_its_percent():
    assert DENSE.label == "dense"
    assert [r.label for r in RUNGS] == ["pruned 55%", "pruned 75%", "pruned 90%", "pruned 95%"]
    assert all(r.label == rung_label(r.percent) for r in LADDER)
