from __future__ import annotations

from dataclasses import replace

from app.model.annotation_history import AnnotationHistory
from app.model.annotations import Box, BoxSet, Finding, FindingSet, Provenance


def _setup():
    boxes, findings = BoxSet(), FindingSet()
    return boxes, findings, AnnotationHistory(boxes, findings)


def test_every_mutation_is_one_undoable_step():
    boxes, findings, history = _setup()
    b = boxes.add(Box((0, 0, 0), (10, 10, 10)))
    boxes.update(b.id, lps_max=(20, 10, 10))
    f = findings.add(Finding("nodule", level="box", target=b.id, value="suspicious"))
    findings.update(f.id, value="benign")
    boxes.remove(b.id)
    assert history.titles() == ["Add box", "Edit box", "Add finding", "Edit finding", "Delete box"]
    assert history.undo() and b.id in boxes and boxes[b.id].lps_max == (20, 10, 10)
    assert history.undo() and findings[f.id].value == "suspicious"
    assert history.undo() and f.id not in findings
    assert history.undo() and boxes[b.id].lps_max == (10, 10, 10)
    assert history.undo() and b.id not in boxes and not history.can_undo
    for _ in range(5):
        assert history.redo()
    assert b.id not in boxes and findings[f.id].value == "benign" and not history.can_redo


def test_transaction_coalesces_a_drag_into_one_step_with_net_change():
    boxes, _, history = _setup()
    b = boxes.add(Box((0, 0, 0), (10, 10, 10)))
    with history.transaction("Move box"):
        for dx in range(1, 6):
            boxes.update(b.id, lps_min=(dx, 0, 0), lps_max=(10 + dx, 10, 10))
    assert history.titles() == ["Add box", "Move box"]
    assert history._undo[-1].edits[0].before.lps_min == (0, 0, 0)
    history.undo()
    assert boxes[b.id].lps_min == (0, 0, 0)
    history.redo()
    assert boxes[b.id].lps_min == (5, 0, 0)


def test_a_drag_that_ends_where_it_started_records_nothing():
    boxes, _, history = _setup()
    b = boxes.add(Box((0, 0, 0), (10, 10, 10)))
    with history.transaction("Move box"):
        boxes.update(b.id, lps_min=(1, 0, 0))
        boxes.update(b.id, lps_min=(0, 0, 0))
    assert history.titles() == ["Add box"]


def test_edits_made_by_a_slot_during_an_emission_join_its_step():
    """A review tracker stamping ``edited`` inside ``changed`` (nested emission) is part of the same step."""
    boxes, _, history = _setup()
    original = {}
    boxes.added.connect(lambda b: original.setdefault(b.id, b))

    def stamp(old, new):  # like app.model.review.ReviewTracker: a proposal moved off its original
        if new.provenance.status == "proposed" and new.lps_min != original[new.id].lps_min:
            boxes.update(new.id, provenance=replace(new.provenance, status="edited", edited_by="reader"))

    boxes.changed.connect(stamp)
    b = boxes.add(Box((0, 0, 0), (10, 10, 10), provenance=Provenance(source="det@1", status="proposed")))
    boxes.update(b.id, lps_min=(2, 0, 0))
    assert boxes[b.id].provenance.status == "edited"
    assert history.titles() == ["Add box", "Edit box"]
    history.undo()
    assert boxes[b.id].lps_min == (0, 0, 0) and boxes[b.id].provenance.status == "proposed"
    history.redo()
    assert boxes[b.id].lps_min == (2, 0, 0) and boxes[b.id].provenance.status == "edited"


def test_new_edit_clears_redo_and_suspended_records_nothing():
    boxes, _, history = _setup()
    with history.suspended():
        boxes.add(Box((0, 0, 0), (1, 1, 1)))
    assert not history.can_undo
    b = boxes.add(Box((0, 0, 0), (2, 2, 2)))
    history.undo()
    assert history.can_redo
    boxes.add(Box((5, 5, 5), (6, 6, 6)))
    assert not history.can_redo and b.id not in boxes


def test_steps_are_numbered_on_the_shared_sequence_and_restamped():
    boxes, _, history = _setup()
    boxes.add(Box((0, 0, 0), (1, 1, 1)))
    first = history.last_undo_seq
    boxes.add(Box((0, 0, 0), (2, 2, 2)))
    assert history.last_undo_seq > first > 0 and history.last_redo_seq == 0
    history.undo()
    assert history.last_redo_seq > history.last_undo_seq == first


def test_close_stops_recording():
    boxes, _, history = _setup()
    history.close()
    boxes.add(Box((0, 0, 0), (1, 1, 1)))
    assert not history.can_undo
