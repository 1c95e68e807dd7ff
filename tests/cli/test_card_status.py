"""The model card's dead-filter section: its definitions rendered from the status table, its counts from the scan."""

from vggexplorer.cli.card import _dead_section
from vggexplorer.model.ladder import LADDER, scan_path
from vggexplorer.stats.scan import load_scan
from vggexplorer.stats.status import ALIVE, CATEGORIES, SPARSE_FILTERS, definitions_markdown


def test_the_card_renders_the_definitions_from_the_table_and_counts_from_the_scan():
    lines = _dead_section(scan_path(), load_scan(scan_path()), [r.role for r in LADDER], {r.role: r.filename for r in LADDER})
    text = "\n".join(lines)
    assert definitions_markdown((*CATEGORIES, ALIVE, SPARSE_FILTERS)) in text
    assert "25%" not in text.replace(definitions_markdown((*CATEGORIES, ALIVE, SPARSE_FILTERS)), "")  # said once
    # conv5 on the 95% rung, as the shipped card (checkpoints/README.md) has recorded it since the scan was made
    row = next(line for line in lines if line.startswith("| conv5 |"))
    assert row.endswith("| 5 / 5 / 7 / 15 / 457 |"), row


def test_the_card_names_only_the_classes_that_survive_holm():
    from vggexplorer.cli.card import _per_class_section

    section = _per_class_section(load_scan(scan_path()))
    rows = {line.split(" | ")[0].strip("| "): line for line in section if line.startswith("| p")}
    assert rows["p90"].endswith("| deer, ship | bird, truck |")
    assert rows["p55"].endswith("| none | cat |") and rows["p95"].endswith("| none | dog, truck |")
    assert "Holm-corrected over 10 classes" in "\n".join(section)


def test_the_shipped_card_is_what_model_card_writes():
    from pathlib import Path

    from vggexplorer.cli.card import model_card

    shipped = (Path(scan_path()).parent / "README.md").read_text()
    assert model_card({r.role: r.path for r in LADDER}, scan_path()) == shipped
