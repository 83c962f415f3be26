"""Review panel + Review menu on a real window: sorting, filter, Enter/Delete/N/P/U, centring, findings."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.model.annotations import Box, Finding, Provenance
from app.model.review import AnnotationRef


def _proposal(conf: float) -> dict:
    return {"confidence": conf, "provenance": Provenance(source="lung-nodule-demo@0.1", status="proposed")}


@pytest.fixture
def review(main_window, volume, qtbot, monkeypatch):
    monkeypatch.setenv("MEDWS_READER", "dr-test")
    window = main_window
    session = window.session
    session.add_image(volume)
    g = volume.geometry
    centre = g.index_zyx_to_lps(np.array(g.shape_zyx) / 2)
    boxes = {}
    for name, conf, offset in (("high", 0.9, 0.0), ("low", 0.5, 8.0), ("mid", 0.7, -8.0)):
        lo = centre + np.array([offset, offset, offset / 2]) - 3
        boxes[name] = session.boxes.add(Box(tuple(lo), tuple(lo + 6), label=name, **_proposal(conf)))
    boxes["manual"] = session.boxes.add(Box(tuple(centre), tuple(centre + 4), label="manual"))
    finding = session.findings.add(Finding("scan type", value="chest CT", **_proposal(0.8)))
    qtbot.wait(20)
    panel = window.analysis.annotations
    panel.refresh()
    return window, panel, boxes, finding


def _status(window, box_id):
    return window.session.boxes[box_id].provenance


def test_rows_are_sorted_by_confidence_and_filtered_by_status(review):
    _window, panel, _boxes, _finding = review
    rows = panel.rows()
    assert [r[0] for r in rows] == ["high", "scan type: chest CT", "mid", "low", "manual"]
    assert [r[1] for r in rows] == ["0.90", "0.80", "0.70", "0.50", ""]
    assert {r[3] for r in rows} == {"Box", "Finding"}
    panel.filter_combo.setCurrentText("To review (proposed)")
    panel.refresh()
    assert [r[0] for r in panel.rows()] == ["high", "scan type: chest CT", "mid", "low"]
    assert panel.summary.text().startswith("0 of 4 proposals reviewed")


def test_n_p_step_through_proposals_and_centre_every_view(review, qtbot):
    window, panel, boxes, _finding = review
    panel.tree.setFocus()
    qtbot.keyClick(panel.tree, Qt.Key.Key_N)
    assert panel.selected_ref() == AnnotationRef("box", boxes["high"].id)
    centre = np.add(boxes["high"].lps_min, boxes["high"].lps_max) / 2
    np.testing.assert_allclose(window.state.cursor_lps, centre)
    for view in window.grid.slice_views.values():  # the box centre is in the middle of every view
        x, y = view.scene.lps_to_display(centre)
        w, h = view.scene._viewport_size_px()
        assert abs(x - w / 2) < 2 and abs(y - h / 2) < 2, (view.kind, x, y, w, h)
        assert not view.scene.fitted  # a later resize keeps this framing instead of refitting
    qtbot.keyClick(panel.tree, Qt.Key.Key_N)
    assert panel.selected_ref().kind == "finding"
    qtbot.keyClick(panel.tree, Qt.Key.Key_P)
    assert panel.selected_ref() == AnnotationRef("box", boxes["high"].id)
    qtbot.keyClick(panel.tree, Qt.Key.Key_P)  # wraps to the last proposal
    assert panel.selected_ref() == AnnotationRef("box", boxes["low"].id)


def test_enter_accepts_delete_rejects_u_reopens_and_the_reader_is_stamped(review, qtbot):
    window, panel, boxes, finding = review
    panel.tree.setFocus()
    assert panel.select(AnnotationRef("box", boxes["high"].id))
    qtbot.keyClick(panel.tree, Qt.Key.Key_Return)
    prov = _status(window, boxes["high"].id)
    assert prov.status == "accepted" and prov.edited_by == "dr-test" and prov.edited_at is not None
    assert next(r for r in panel.rows() if r[0] == "high")[5] == "dr-test"
    assert panel.selected_ref() == AnnotationRef("finding", finding.id)  # moved on to the next proposal
    qtbot.keyClick(panel.tree, Qt.Key.Key_Delete)
    assert window.session.findings[finding.id].provenance.status == "rejected"
    assert panel.selected_ref() == AnnotationRef("box", boxes["mid"].id)
    assert panel.summary.text().startswith("2 of 4 proposals reviewed")
    assert panel.select(AnnotationRef("box", boxes["high"].id), centre=False)
    qtbot.keyClick(panel.tree, Qt.Key.Key_U)
    prov = _status(window, boxes["high"].id)
    assert prov.status == "proposed" and prov.edited_by is None
    assert panel.selected_ref() == AnnotationRef("box", boxes["high"].id)


def test_window_wide_accept_and_reject_actions(review):
    window, panel, boxes, _finding = review
    actions = window.analysis.review
    assert actions.next_action.shortcut().toString() == "N"
    actions.next_action.trigger()
    actions.reject_action.trigger()
    assert _status(window, boxes["high"].id).status == "rejected"
    assert panel.selected_ref().kind == "finding"  # moved on
    actions.accept_action.trigger()
    (finding,) = list(window.session.findings)
    assert finding.provenance.status == "accepted"


def test_delete_on_a_manual_box_removes_it_but_enter_does_not_review_it(review, qtbot):
    window, panel, boxes, _finding = review
    messages = []
    panel.message.connect(messages.append)
    panel.tree.setFocus()
    assert panel.select(AnnotationRef("box", boxes["manual"].id), centre=False)
    qtbot.keyClick(panel.tree, Qt.Key.Key_Return)
    assert _status(window, boxes["manual"].id).status == "manual" and "no review status" in messages[-1]
    qtbot.keyClick(panel.tree, Qt.Key.Key_Delete)
    assert boxes["manual"].id not in window.session.boxes


def test_rejecting_a_segment_proposal_hides_it_and_accepting_shows_it(main_window, volume, qtbot):
    session = main_window.session
    session.add_image(volume)
    labels = session.new_segmentation("AI")
    seg = labels.table.new_segment("nodule")
    labels.table.update(seg.id, provenance=Provenance(source="m@1", status="proposed"))
    with labels.transaction("AI result"):
        labels.paint((slice(10, 14), slice(20, 30), slice(20, 30)), None, seg.id)
    panel = main_window.analysis.annotations
    panel.refresh()
    ref = AnnotationRef("segment", str(seg.id), 0)
    assert panel.select(ref)
    assert panel.set_selected_status("rejected", advance=False)
    assert labels.table[seg.id].provenance.status == "rejected" and not labels.table[seg.id].visible
    assert panel.set_selected_status("accepted", advance=False)
    assert labels.table[seg.id].visible


def test_finding_shortcuts_attach_replace_and_toggle(review):
    window, panel, boxes, _finding = review
    actions = window.analysis.review
    by_title = {a.text(): a for a in actions.findings_menu.actions()}
    normal = by_title["study: normal  (study)"]
    abnormal = by_title["study: abnormal  (study)"]
    assert normal.shortcut().toString() == "Alt+1"
    study = lambda: [(f.label, f.value) for f in window.session.findings if f.level == "study" and f.label == "study"]  # noqa: E731
    normal.trigger()
    assert study() == [("study", "normal")]
    abnormal.trigger()  # same label on the same target: replaced
    assert study() == [("study", "abnormal")]
    abnormal.trigger()  # pressed again: removed
    assert study() == []
    suspicious = by_title["nodule: suspicious  (box)"]
    panel.tree.clearSelection()
    assert not actions.toggle_finding(next(e for e in actions.vocabulary.entries if e.title == "nodule: suspicious"))
    assert "Select a box first" in window.status.currentMessage()
    panel.select(AnnotationRef("box", boxes["mid"].id), centre=False)
    suspicious.trigger()
    (attached,) = [f for f in window.session.findings if f.level == "box"]
    assert attached.target == boxes["mid"].id and attached.provenance.status == "manual"
    panel.refresh()
    assert any(r[0] == "nodule: suspicious (on mid)" and r[3] == "Finding" for r in panel.rows())


def test_list_selection_and_box_selection_in_the_views_follow_each_other(review):
    window, panel, boxes, _finding = review
    assert panel.select(AnnotationRef("box", boxes["mid"].id), centre=False)
    assert window.box_tool.selected_id == boxes["mid"].id
    window.box_tool.select(boxes["low"].id)
    assert panel.selected_ref() == AnnotationRef("box", boxes["low"].id)
    panel.tree.clearSelection()  # the finding shortcut falls back to the box selected in the views
    entry = next(e for e in window.analysis.review.vocabulary.entries if e.title == "nodule: benign")
    assert window.analysis.review.toggle_finding(entry)
    assert any(f.target == boxes["low"].id and f.value == "benign" for f in window.session.findings)


def test_a_segment_finding_names_its_segment(main_window, volume):
    session = main_window.session
    session.add_image(volume)
    labels = session.new_segmentation("Edits")
    seg = labels.table.new_segment("left lower lobe nodule")
    actions = main_window.analysis.review
    main_window.segment_editor.controller.set_labels(labels)
    main_window.segment_editor.controller.label_id = seg.id
    entry = next(e for e in actions.vocabulary.entries if e.level == "segment" and e.value == "suspicious")
    assert actions.toggle_finding(entry)
    panel = main_window.analysis.annotations
    panel.refresh()
    assert "lesion: suspicious (on segment left lower lobe nodule)" in [r[0] for r in panel.rows("finding")]


def test_notes_and_finding_values_are_editable_and_undoable(review):
    window, panel, boxes, _finding = review
    abnormal = next(e for e in window.analysis.review.vocabulary.entries if e.value == "abnormal")
    proposed = window.session.findings.add(Finding("study", value="normal", confidence=0.6,
                                                   provenance=Provenance(source="cls@1", status="proposed")))
    ref = AnnotationRef("finding", proposed.id)
    panel.set_finding_value(ref, abnormal)
    changed = window.session.findings[proposed.id]
    assert (changed.value, changed.code) == ("abnormal", "SCT^263654008^Abnormal")
    assert changed.provenance.status == "edited"  # the reader changed the model's answer
    assert panel.edit_note(AnnotationRef("box", boxes["mid"].id), "calcified")
    assert window.session.boxes[boxes["mid"].id].note == "calcified"
    window.undo_router.undo()
    assert window.session.boxes[boxes["mid"].id].note == ""
