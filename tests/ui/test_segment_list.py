"""Segment list of the Segment Editor: editing status, context menu, and table edits undone like voxels.

Real MainWindow under Xvfb (``xvfb-run -a``).
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from render.orientation import ViewKind
from ui.segment_editor import COL_NAME, COL_STATUS

pytestmark = pytest.mark.gl
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def window(main_window, volume, qtbot):
    main_window.session.add_image(volume)
    qtbot.wait(50)
    return main_window


@pytest.fixture
def editor(window):
    return window.segment_editor


def _click_paint(view, geometry, zyx):
    ratio = view.devicePixelRatioF()
    dx, dy = view.scene.lps_to_display(geometry.index_zyx_to_lps(np.asarray(zyx, float)))
    local = QPointF(dx / ratio, view.height() - 1 - dy / ratio)
    for kind, button, buttons in ((QEvent.Type.MouseButtonPress, LEFT, LEFT),
                                  (QEvent.Type.MouseButtonRelease, LEFT, Qt.MouseButton.NoButton)):
        event = QMouseEvent(kind, local, QPointF(view.mapToGlobal(local.toPoint())), button, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(view, event)


def test_status_column_edits_the_status_and_undo_reverts_it(editor):
    c = editor.controller
    editor.add_segment()
    labels = c.labels
    label_id = c.label_id
    row = editor.segment_row(label_id)
    combo = editor.segment_table.cellWidget(row, COL_STATUS)
    assert combo.currentData() == "in_progress"
    combo.setCurrentIndex(combo.findData("flagged"))
    assert labels.table[label_id].status == "flagged"
    assert editor.undo_action.isEnabled()
    assert c.undo()
    assert labels.table[label_id].status == "in_progress"
    combo = editor.segment_table.cellWidget(editor.segment_row(label_id), COL_STATUS)
    assert combo.currentData() == "in_progress"  # the list follows the model
    assert c.redo() and labels.table[label_id].status == "flagged"


def test_context_menu_sets_status_and_removes_a_segment_that_undo_brings_back(window, editor, volume):
    c = editor.controller
    editor.add_segment()
    editor.add_segment()
    labels = c.labels
    first, second = [s.id for s in labels.table]
    c.set_label_id(first)
    c.set_tool("paint")
    axial = window.grid.slice_views[ViewKind.AXIAL]
    axial.set_slice_index(20)
    axial.GetRenderWindow().Render()
    _click_paint(axial, volume.geometry, (20, 30, 30))
    painted = labels.array == first
    assert painted.any()

    menu = editor.segment_context_menu(first)
    status = {a.objectName(): a for a in menu.findChildren(type(menu.actions()[0]))}
    status["status_completed"].trigger()
    assert labels.table[first].status == "completed"
    menu = editor.segment_context_menu(first)
    actions = {a.objectName(): a for a in menu.findChildren(type(menu.actions()[0]))}
    assert actions["status_completed"].isChecked()
    next(a for a in menu.actions() if a.objectName() == "remove").trigger()
    assert first not in labels.table and not (labels.array == first).any()
    assert editor.segment_table.rowCount() == 1 and c.label_id == second

    assert c.undo()  # Ctrl+Z after "remove segment": its voxels AND its row come back
    assert first in labels.table and labels.table[first].status == "completed"
    assert np.array_equal(labels.array == first, painted)
    assert editor.segment_table.rowCount() == 2
    assert c.undo() and labels.table[first].status == "in_progress"
    assert c.undo() and not labels.array.any()  # then the paint stroke


def test_rename_in_the_list_is_undoable(editor):
    c = editor.controller
    editor.add_segment()
    labels = c.labels
    label_id = c.label_id
    old = labels.table[label_id].name
    editor.segment_table.item(editor.segment_row(label_id), COL_NAME).setText("tumour")
    assert labels.table[label_id].name == "tumour"
    assert labels.history.titles()[-1] == f"Rename segment {old}"
    c.undo()
    assert labels.table[label_id].name == old
    assert editor.segment_table.item(editor.segment_row(label_id), COL_NAME).text() == old
