from __future__ import annotations

import pytest

from app.model import Box, BoxSet, Finding, FindingSet, Provenance


def test_box_normalises_corners_and_iou():
    a = Box((10, 10, 10), (0, 0, 0))
    assert a.lps_min == (0, 0, 0) and a.size_mm == (10, 10, 10)
    b = Box((5, 0, 0), (15, 10, 10))
    assert a.iou(b) == pytest.approx(500 / 1500)
    assert a.iou(Box((20, 20, 20), (30, 30, 30))) == 0


def test_boxset_signals_carry_old_and_new():
    boxes = BoxSet()
    log = []
    boxes.added.connect(lambda b: log.append(("added", b.id)))
    boxes.changed.connect(lambda old, new: log.append(("changed", old.label_id, new.label_id)))
    b = boxes.add(Box((0, 0, 0), (1, 1, 1), provenance=Provenance(source="detector@1", status="proposed")))
    boxes.update(b.id, label_id=4)
    assert log == [("added", b.id), ("changed", 1, 4)]
    assert boxes[b.id].provenance.status == "proposed"


def test_findings_and_invalid_values():
    fs = FindingSet()
    f = fs.add(Finding("nodule", level="box", target="abc", value="suspicious", confidence=0.8))
    assert len(fs) == 1 and fs.update(f.id, value="benign").value == "benign"
    with pytest.raises(ValueError):
        Finding("x", level="pixel")
    with pytest.raises(ValueError):
        Provenance(status="maybe")


def test_box_name_prefers_its_own_class_then_the_table_and_appends_the_note():
    from app.model.annotations import box_name

    assert box_name(Box((0, 0, 0), (1, 1, 1), label_id=2)) == "label 2"
    assert box_name(Box((0, 0, 0), (1, 1, 1), label_id=2), "liver") == "liver"
    assert box_name(Box((0, 0, 0), (1, 1, 1), label_id=1, label="nodule"), "lungs") == "nodule"
    assert box_name(Box((0, 0, 0), (1, 1, 1), label="nodule", note="RUL, 6 mm")) == "nodule — RUL, 6 mm"
