"""Boxes in the real MainWindow under Xvfb: draw, move, resize, delete, nudge, copy, undo/redo (xvfb-run -a)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt

from app.model import box_geometry as bg
from app.model.annotations import Box, Finding, Provenance
from render.orientation import ViewKind
from tests.ui._events import lps_to_qt as _qt_xy
from tests.ui._events import send_mouse as _mouse

pytestmark = pytest.mark.gl

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.MouseButton.NoButton


def _drag(view, a_lps, b_lps, steps=4):
    a, b = np.array(_qt_xy(view, a_lps)), np.array(_qt_xy(view, b_lps))
    _mouse(view, QEvent.Type.MouseButtonPress, a, LEFT, LEFT)
    for t in np.linspace(0, 1, steps)[1:]:
        _mouse(view, QEvent.Type.MouseMove, a + t * (b - a), NONE, LEFT)
    _mouse(view, QEvent.Type.MouseButtonRelease, b, LEFT, NONE)


@pytest.fixture
def window(main_window, volume, qtbot):
    main_window.session.add_image(volume)
    qtbot.wait(50)
    return main_window


def _view(window, kind, slice_index):
    view = window.grid.slice_views[kind]
    view.set_slice_index(slice_index)
    return view


def _lps(window, z, y, x):
    return window.state.volume.geometry.index_zyx_to_lps((z, y, x))


def test_draw_move_resize_delete_with_the_mouse_and_undo_each(window, qtbot):
    boxes, controller = window.session.boxes, window.box_tool
    window.box_tool.actions["mode"].trigger()  # B
    assert controller.active
    axial = _view(window, ViewKind.AXIAL, 20)
    _drag(axial, _lps(window, 20, 20, 20), _lps(window, 20, 40, 50))
    assert len(boxes) == 1
    box = next(iter(boxes))
    g = window.state.volume.geometry
    zyx = g.lps_to_index_zyx(bg.corners_lps(box.lps_min, box.lps_max))
    assert np.allclose(zyx.min(axis=0)[1:], (20, 20)) and np.allclose(zyx.max(axis=0)[1:], (40, 50))
    assert controller.selected_id == box.id and box.provenance.status == "manual"
    # drawn in the axial view, seen in the coronal and sagittal views through it
    coronal = _view(window, ViewKind.CORONAL, 30)
    assert box.id in controller.visuals[ViewKind.AXIAL].shown and box.id in controller.visuals[ViewKind.CORONAL].shown
    assert controller.wireframe.n_drawn == 1
    # move: drag inside by (+5 x, +4 y) voxels
    _drag(axial, _lps(window, 20, 30, 30), _lps(window, 20, 34, 35))
    moved = boxes[box.id]
    assert np.allclose(np.subtract(moved.lps_min, box.lps_min), [5 * 0.8, 4 * 0.8, 0], atol=1e-6)
    # resize the depth in the coronal view: drag the top (superior) edge up 3 slices
    top_z = int(round(g.lps_to_index_zyx(moved.lps_max)[0]))
    mid_x = int(round(g.lps_to_index_zyx((np.add(moved.lps_min, moved.lps_max)) / 2)[2]))
    coronal = _view(window, ViewKind.CORONAL, 34)
    _drag(coronal, _lps(window, top_z, 34, mid_x), _lps(window, top_z + 3, 34, mid_x))
    resized = boxes[box.id]
    assert resized.lps_max[2] == pytest.approx(moved.lps_max[2] + 3 * 2.5)
    assert resized.lps_min == moved.lps_min
    # delete with the Delete key in the view
    axial.setFocus()
    qtbot.keyClick(axial, Qt.Key.Key_Delete)
    assert box.id not in boxes and not controller.visuals[ViewKind.AXIAL].shown
    # Ctrl+Z through the window's Edit ▸ Undo: delete, resize, move, draw, one step each
    undo = window.segment_editor.undo_action
    assert undo.isEnabled()
    for expected in (resized, moved, box):
        undo.trigger()
        assert boxes[box.id] == expected
    undo.trigger()
    assert len(boxes) == 0
    window.segment_editor.redo_action.trigger()
    assert boxes[box.id] == box


def test_arrow_keys_nudge_and_ctrl_arrows_copy_a_2d_box(window, qtbot):
    boxes, controller = window.session.boxes, window.box_tool
    controller.set_active(True)
    controller.set_kind("2d")
    axial = _view(window, ViewKind.AXIAL, 20)
    _drag(axial, _lps(window, 20, 20, 20), _lps(window, 20, 30, 30))
    box = next(iter(boxes))
    assert box.kind == "2d" and box.orientation == "axial"
    axial.setFocus()
    qtbot.keyClick(axial, Qt.Key.Key_Right)
    qtbot.keyClick(axial, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
    now = boxes[box.id]
    # screen right = +L (x), screen up = anterior = −P (y index down): 1 and 10 voxels of 0.8 mm
    assert np.allclose(np.subtract(now.lps_min, box.lps_min), [0.8, -8.0, 0.0], atol=1e-6)
    assert axial.scene.slice_index == 20  # arrows nudged instead of stepping slices
    qtbot.keyClick(axial, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert len(boxes) == 2 and axial.scene.slice_index == 21
    copy = boxes[controller.selected_id]
    assert list(bg.slices_of(copy, window.state.volume.geometry, 0, "axial")) == [21]
    assert controller.selected_id in controller.visuals[ViewKind.AXIAL].shown
    qtbot.keyClick(axial, Qt.Key.Key_Escape)  # clears the selection
    assert controller.selected_id is None
    qtbot.keyClick(axial, Qt.Key.Key_Escape)  # leaves Box mode
    assert not controller.active
    qtbot.keyClick(axial, Qt.Key.Key_Down)  # review mode again: arrows step slices
    assert axial.scene.slice_index == 20


def test_editing_a_proposal_by_mouse_stamps_edited_and_undo_restores_the_proposal(window):
    boxes, controller = window.session.boxes, window.box_tool
    g = window.state.volume.geometry
    prop = boxes.add(Box(*bg.box_from_index(g, (16, 20, 20), (24, 40, 50)), confidence=0.9,
                         provenance=Provenance(source="det@1", status="proposed")))
    axial = _view(window, ViewKind.AXIAL, 20)
    controller.set_active(True)
    _drag(axial, _lps(window, 20, 30, 30), _lps(window, 20, 32, 30))
    prov = boxes[prop.id].provenance
    assert prov.status == "edited" and prov.edited_by and prov.source == "det@1"
    window.segment_editor.undo_action.trigger()
    assert boxes[prop.id] == prop


def test_undo_routes_to_the_history_with_the_most_recent_step(window):
    """Paint, then add a finding, then draw a box: Ctrl+Z undoes box, finding, paint in that order."""
    session, router = window.session, window.undo_router
    labels = session.new_segmentation()
    labels.table.new_segment()
    editor = window.segment_editor.controller
    editor.set_labels(labels)
    with labels.transaction("Paint"):
        labels.paint((slice(10, 12), slice(10, 12), slice(10, 12)), None, 1)
    finding = session.findings.add(Finding("study", value="abnormal"))
    box = session.boxes.add(Box((0, 0, 0), (5, 5, 5)))
    undo = window.segment_editor.undo_action
    undo.trigger()
    assert box.id not in session.boxes and finding.id in session.findings and labels.array[10, 10, 10] == 1
    undo.trigger()
    assert finding.id not in session.findings and labels.array[10, 10, 10] == 1
    undo.trigger()
    assert labels.array[10, 10, 10] == 0
    # redo in the order undone: paint first
    assert router.redo() and labels.array[10, 10, 10] == 1 and finding.id not in session.findings
    assert router.redo() and finding.id in session.findings
    assert router.redo() and box.id in session.boxes and not router.can_redo


def test_select_centres_every_view_and_hover_describes_the_box(window):
    boxes, controller = window.session.boxes, window.box_tool
    g = window.state.volume.geometry
    box = boxes.add(Box(*bg.box_from_index(g, (30, 10, 60), (34, 16, 70)), note="nodule", confidence=0.75,
                        provenance=Provenance(source="det@1", status="proposed")))
    controller.select(box.id, centre=True)
    centre = g.lps_to_index_zyx(np.add(box.lps_min, box.lps_max) / 2)
    for kind, view in window.grid.slice_views.items():
        assert abs(view.scene.slice_index - centre[view.scene.axes.slice_axis_zyx]) <= 0.5, kind
        assert box.id in controller.visuals[kind].shown
    axial = window.grid.slice_views[ViewKind.AXIAL]
    text = controller.hover_text(axial, _lps(window, 32, 13, 65))
    assert "nodule" in text and "0.75" in text and "proposed" in text and "mm" in text
    assert f"{box.size_mm[0]:.1f}" in text
    assert controller.hover_text(axial, _lps(window, 32, 50, 20)) == ""
    with pytest.raises(KeyError):
        controller.select("nope")


def test_box_mode_and_other_tools_exclude_each_other(window):
    controller = window.box_tool
    controller.set_active(True)
    window.measure_panel.controller.set_tool("ruler")
    assert not controller.active
    controller.set_active(True)
    assert window.measure_panel.controller.tool is None
