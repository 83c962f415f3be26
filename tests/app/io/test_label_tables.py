from __future__ import annotations

import json

import pytest

from app.io.errors import MedwsIOError
from app.io.label_tables import (
    default_color,
    default_label_table,
    label_table_from_dict,
    label_table_to_dict,
    read_label_table,
    write_label_table,
)
from app.model.labels import Code, LabelTable, Segment

LIVER = Code("SCT", "10200004", "Liver")
ORGAN = Code("SCT", "123037004", "Anatomical Structure")


def _table() -> LabelTable:
    return LabelTable(
        [
            Segment(1, "liver", (221, 130, 101), category=ORGAN, type=LIVER, status="completed"),
            Segment(2, "tumour core", (144, 238, 144)),
            Segment(300, "atlas region 300", (1, 2, 3)),
        ]
    )


def _same(a: LabelTable, b: LabelTable, *, codes: bool = True, names: bool = True) -> None:
    assert [s.id for s in a] == [s.id for s in b]
    for x, y in zip(a, b, strict=True):
        assert x.color_rgb == y.color_rgb
        if names:
            assert x.name == y.name
        if codes:
            assert (x.category, x.type) == (y.category, y.type)


def test_json_round_trip_is_lossless(tmp_path):
    path = write_label_table(_table(), tmp_path / "labels.json")
    data = json.loads(path.read_text())
    assert data["format"] == "medws-label-table" and data["background"] == 0
    back = read_label_table(path)
    _same(_table(), back)
    assert back[1].status == "completed"


def test_slicer_csv_keeps_codes_and_colours(tmp_path):
    path = write_label_table(_table(), tmp_path / "labels.csv")
    assert path.read_text().splitlines()[0].startswith("LabelValue,Name,Color_R,Color_G,Color_B,Color_A")
    _same(_table(), read_label_table(path))


def test_slicer_text_table_round_trip(tmp_path):
    path = write_label_table(_table(), tmp_path / "labels.txt")
    assert path.read_text().startswith("# Color table file")
    back = read_label_table(path)
    _same(_table(), back, codes=False, names=False)
    assert back[2].name == "tumour_core"  # spaces are not allowed in this format


def test_itksnap_label_file_round_trip(tmp_path):
    path = write_label_table(_table(), tmp_path / "labels.label")
    text = path.read_text()
    assert "ITK-SnAP Label Description File" in text and '"tumour core"' in text
    _same(_table(), read_label_table(path), codes=False)
    # same file with a .txt suffix is told apart by content
    other = tmp_path / "snap.txt"
    other.write_text(text)
    _same(_table(), read_label_table(other), codes=False)


def test_hundreds_of_labels_and_default_colours_are_distinct(tmp_path):
    table = default_label_table(range(0, 181))
    assert len(table) == 180 and table.max_id() == 180
    assert default_color(1) == (128, 174, 128)  # GenericAnatomyColors "tissue"
    colours = {default_color(i) for i in range(1, 181)}
    assert len(colours) > 170
    for suffix in (".json", ".csv", ".txt", ".label"):
        _same(table, read_label_table(write_label_table(table, tmp_path / f"atlas{suffix}")), codes=False)


def test_nnunet_and_simple_mappings_are_accepted():
    t = label_table_from_dict({"labels": {"background": 0, "liver": 1, "spleen": 2}})
    assert [(s.id, s.name) for s in t] == [(1, "liver"), (2, "spleen")]
    t = label_table_from_dict({"1": "a", "7": "b"})
    assert [(s.id, s.name) for s in t] == [(1, "a"), (7, "b")]
    assert label_table_to_dict(t)["labels"][1]["id"] == 7


def test_bad_tables_give_one_line_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1 liver x y z 255\n")
    with pytest.raises(MedwsIOError, match="line 1") as info:
        read_label_table(bad)
    assert "\n" not in str(info.value)
    dup = tmp_path / "dup.txt"
    dup.write_text("1 a 1 2 3 255\n1 b 1 2 3 255\n")
    with pytest.raises(MedwsIOError, match="already used"):
        read_label_table(dup)
    with pytest.raises(MedwsIOError):
        read_label_table(tmp_path / "missing.json")
