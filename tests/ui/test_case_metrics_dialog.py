"""Review ▸ Case metrics… on a real window: a proposal the reader shrank shows the Dice it should."""

from __future__ import annotations

import numpy as np

from app.model.annotations import Box, Provenance
from app.model.review import record_segment_proposals


def _ball(shape, centre, radius):
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2 <= radius**2


def test_case_metrics_dialog_reports_the_readers_changes(main_window, volume, qtbot):
    session = main_window.session
    session.add_image(volume)
    labels = session.new_segmentation("AI")
    seg = labels.table.new_segment("nodule")
    labels.table.update(seg.id, provenance=Provenance(source="m@1", status="proposed"))
    shape = labels.array.shape
    centre = tuple(n // 2 for n in shape)
    big, small = _ball(shape, centre, 10), _ball(shape, centre, 8)
    with labels.transaction("AI result"):
        labels.paint(tuple(slice(0, n) for n in shape), big, seg.id)
    record_segment_proposals(session, labels)
    box = session.boxes.add(Box((0, 0, 0), (10, 10, 10), label="nodule", confidence=0.8,
                                provenance=Provenance(source="m@1", status="proposed")))
    with labels.transaction("reader shrinks it"):  # the reader erases the outer shell
        labels.paint(tuple(slice(0, n) for n in shape), big & ~small, 0)
    session.boxes.update(box.id, lps_min=(0.0, 0.0, 5.0))  # and halves the box
    actions = main_window.analysis.review
    assert actions.metrics_action.shortcut().toString() == "Ctrl+Shift+M"
    actions.metrics_action.trigger()
    dialog = actions.metrics_dialog
    assert dialog is not None and dialog.isVisible()
    rows = {r[0]: r for r in dialog.cell_texts() if r[1] == "Segment"}
    expected_dice = 2 * small.sum() / (big.sum() + small.sum())
    assert rows["nodule"][2] == "edited"
    assert abs(float(rows["nodule"][3]) - expected_dice) < 1e-3
    assert int(rows["nodule"][5]) == int((big & ~small).sum())
    box_row = next(r for r in dialog.cell_texts() if r[1] == "Box")
    assert box_row[2] == "edited" and abs(float(box_row[4]) - 0.5) < 1e-6 and box_row[6] == "no"
    assert "2 proposals (2 edited)" in dialog.summary.text()
    assert "over 1 segment;" in dialog.summary.text() and "over 1 box;" in dialog.summary.text()
    labels.undo()  # back to the proposal: Refresh shows Dice 1
    dialog.refresh()
    rows = {r[0]: r for r in dialog.cell_texts() if r[1] == "Segment"}
    assert float(rows["nodule"][3]) == 1.0 and rows["nodule"][5] == "0"
