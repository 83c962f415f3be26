"""Segment Editor dock and slice-view tool routing in the real MainWindow (run under ``xvfb-run -a``)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QCheckBox, QDoubleSpinBox

from render.orientation import ViewKind
from tests.ui._events import display_to_qt as _qt_xy
from tests.ui._events import send_mouse as _mouse

pytestmark = pytest.mark.gl

NO_MOD = Qt.KeyboardModifier.NoModifier
LEFT = Qt.MouseButton.LeftButton


def _xy_of(view, geometry, zyx):
    return _qt_xy(view, view.scene.lps_to_display(geometry.index_zyx_to_lps(np.asarray(zyx, float))))


@pytest.fixture
def window(main_window, volume, qtbot):
    main_window.session.add_image(volume)
    qtbot.wait(50)
    return main_window


@pytest.fixture
def editor(window):
    return window.segment_editor


@pytest.fixture
def axial(window, volume):
    view = window.grid.slice_views[ViewKind.AXIAL]
    view.set_slice_index(20)
    view.GetRenderWindow().Render()
    return view


def _voxel_steps(labels):
    """Undo step titles without the label-table steps (adding the segment painted is one too)."""
    return [t for t in labels.history.titles() if not t.startswith("Add segment")]


def _press_key(qtbot, window, key, modifiers=NO_MOD):
    if not window.isActiveWindow():
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window.grid.slice_views[ViewKind.AXIAL], key, modifiers)


def test_mouse_paints_the_picked_voxels_and_undo_restores(window, editor, axial, volume, qtbot):
    c = editor.controller
    c.set_tool("paint")
    c.tools["paint"].params.radius_mm = 2.0
    geometry = volume.geometry
    start, end = (20, 30, 30), (20, 30, 50)
    _mouse(axial, QEvent.Type.MouseButtonPress, _xy_of(axial, geometry, start), LEFT, LEFT)
    labels = c.labels
    assert labels is not None and window.session.segmentations == [labels]  # created on first use
    label_id = c.label_id
    assert label_id in labels.table
    for x in range(31, 51, 2):
        _mouse(axial, QEvent.Type.MouseMove, _xy_of(axial, geometry, (20, 30, x)), buttons=LEFT)
    _mouse(axial, QEvent.Type.MouseButtonRelease, _xy_of(axial, geometry, end), LEFT)
    arr = labels.array
    # the stroke: every voxel along the line on slice 20, nothing on other slices
    assert all(arr[20, 30, x] == label_id for x in range(30, 51))
    assert arr[20, 30, 29 - 3] == 0 and arr[19].max() == 0 and arr[21].max() == 0
    # brush radius 2 mm on 0.8 mm pixels: ±2 voxels in y, not ±3
    assert arr[20, 32, 40] == label_id and arr[20, 33, 40] == 0
    assert _voxel_steps(labels) == ["Paint"]  # the drag stroke is one undo step
    assert editor.undo_action.isEnabled()
    painted = arr.copy()
    _press_key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert labels.array.max() == 0
    _press_key(qtbot, window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(labels.array, painted)


def test_left_drag_is_window_level_without_a_tool(window, editor, axial, volume):
    editor.controller.set_tool(None)
    before = window.state.window_level
    xy = _xy_of(axial, volume.geometry, (20, 30, 30))
    _mouse(axial, QEvent.Type.MouseButtonPress, xy, LEFT, LEFT)
    _mouse(axial, QEvent.Type.MouseMove, (xy[0] + 40, xy[1] + 20), buttons=LEFT)
    _mouse(axial, QEvent.Type.MouseButtonRelease, (xy[0] + 40, xy[1] + 20), LEFT)
    assert window.state.window_level != before
    assert editor.controller.labels is None


def test_keyboard_shortcuts_switch_tools(window, editor, axial, qtbot):
    c = editor.controller
    _press_key(qtbot, window, Qt.Key.Key_1)
    assert c.active_tool is not None and c.active_tool.id == "paint"
    assert editor.tool_actions["paint"].isChecked()
    _press_key(qtbot, window, Qt.Key.Key_3)
    assert c.active_tool.id == "erase"
    _press_key(qtbot, window, Qt.Key.Key_1, Qt.KeyboardModifier.ShiftModifier)  # Shift+1
    assert c.active_tool.id == "scissors"
    assert [a for a in editor.tool_group.actions() if a.isChecked()] == [editor.tool_actions["scissors"]]
    _press_key(qtbot, window, Qt.Key.Key_Escape)
    assert c.active_tool is None and editor.none_action.isChecked()
    assert [a for a in editor.tool_group.actions() if a.isChecked()] == [editor.none_action]
    assert window.state.window_level  # W/L presets still exist in their menu


def test_options_panel_edits_tool_params_both_ways(window, editor, qtbot):
    c = editor.controller
    c.set_tool("paint")
    params = c.tools["paint"].params
    radius = editor.options_form.findChild(QDoubleSpinBox, "param_radius_mm")
    sphere = editor.options_form.findChild(QCheckBox, "param_sphere")
    assert radius.value() == pytest.approx(params.radius_mm)
    radius.setValue(7.5)  # widget → model
    assert params.radius_mm == pytest.approx(7.5)
    sphere.setChecked(True)
    assert params.sphere is True
    params.radius_mm = 3.25  # model → widget
    assert radius.value() == pytest.approx(3.25)
    c.scale_brush(1.2)  # the "+" key path
    assert radius.value() == pytest.approx(3.9)
    c.set_tool("erase")  # switching tools rebuilds the form for the new params
    assert editor.options_form.findChild(QCheckBox, "param_all_segments") is not None
    assert editor.options_host.count() == 1 and radius.parent() is not editor.options_form  # old form gone


def test_tool_buttons_follow_the_shortcut_order(editor):
    from PySide6.QtWidgets import QToolButton

    grid = editor.tools_grid
    first_row = [grid.itemAtPosition(0, col).widget() for col in range(1, 4)]
    assert all(isinstance(b, QToolButton) for b in first_row)
    assert [b.defaultAction().shortcut().toString() for b in first_row] == ["1", "2", "3"]


def test_masking_options_panel_is_bound(editor):
    opts = editor.controller.options
    box = editor.masking_form.findChild(QCheckBox, "param_intensity_enabled")
    box.setChecked(True)
    assert opts.intensity_enabled
    editor.controller.toggle_intensity_masking()
    assert not box.isChecked()


def test_segment_visibility_toggles_the_overlay(window, editor, axial, qtbot):
    c = editor.controller
    editor.add_segment()
    editor.add_segment()
    labels = c.labels
    ids = [s.id for s in labels.table]
    assert len(ids) == 2 and editor.segment_table.rowCount() == 2
    visual = next(v for v in axial.label_visuals if v.labels is labels)
    assert visual.lut.GetTableValue(ids[0])[3] == 1.0
    row = editor.segment_row(ids[0])
    from ui.segment_editor import COL_NAME, COL_VISIBLE

    editor.segment_table.item(row, COL_VISIBLE).setCheckState(Qt.CheckState.Unchecked)
    assert labels.table[ids[0]].visible is False
    assert visual.lut.GetTableValue(ids[0])[3] == 0.0
    assert visual.lut.GetTableValue(ids[1])[3] == 1.0
    labels.table.update(ids[0], visible=True)  # model → widget
    row = editor.segment_row(ids[0])
    assert editor.segment_table.item(row, COL_VISIBLE).checkState() == Qt.CheckState.Checked
    # rename through the list, and q/w step through the segments
    editor.segment_table.item(row, COL_NAME).setText("tumour")
    assert labels.table[ids[0]].name == "tumour"
    c.set_label_id(ids[0])
    _press_key(qtbot, window, Qt.Key.Key_W)
    assert c.label_id == ids[1]
    _press_key(qtbot, window, Qt.Key.Key_Q)
    assert c.label_id == ids[0]
    # g hides the whole segmentation in every slice view
    _press_key(qtbot, window, Qt.Key.Key_G)
    assert not visual.visible and not visual.fill_actor.GetVisibility()
    _press_key(qtbot, window, Qt.Key.Key_G)
    assert visual.visible


def test_brush_cursor_follows_the_mouse_and_shift_wheel_resizes(window, editor, axial, volume):
    c = editor.controller
    c.set_tool("paint")
    router = next(r for r in c.routers if r.view is axial)
    xy = _xy_of(axial, volume.geometry, (20, 30, 40))
    _mouse(axial, QEvent.Type.MouseMove, xy)
    assert router.cursor.visible
    expected = volume.geometry.index_zyx_to_lps(np.array([20.0, 30, 40]))
    assert np.allclose(router.cursor.center_lps, expected, atol=0.5)
    before = c.tools["paint"].params.radius_mm
    center = QPointF(*xy)
    wheel = QWheelEvent(center, QPointF(axial.mapToGlobal(center.toPoint())), QPoint(0, 0), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.ShiftModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    slice_before = axial.scene.slice_index
    QApplication.sendEvent(axial, wheel)
    assert c.tools["paint"].params.radius_mm == pytest.approx(before * 1.2)
    assert router.cursor.radius_mm == pytest.approx(before * 1.2)
    assert axial.scene.slice_index == slice_before
    c.set_tool(None)
    assert not router.cursor.visible


def test_one_shot_tool_applies_in_a_job_as_one_step(window, editor, axial, qtbot, volume, bone_zyx):
    c = editor.controller
    editor.add_segment()
    c.set_tool("threshold")
    params = c.tools["threshold"].params
    params.lower, params.upper = 1000.0, 2000.0
    assert editor.apply_button.isVisible()
    job = c.apply()
    assert job is not None  # computed on a worker, committed on the GUI thread
    labels = c.labels
    qtbot.waitUntil(lambda: _voxel_steps(labels) == ["Threshold"], timeout=10000)
    assert np.array_equal(labels.array > 0, volume.array >= 1000)
    assert _voxel_steps(labels) == ["Threshold"]
    assert c.undo() and labels.array.max() == 0


def test_draw_shows_its_polygon_and_enter_fills_it(window, editor, axial, volume, qtbot):
    c = editor.controller
    _press_key(qtbot, window, Qt.Key.Key_2)
    assert c.active_tool.id == "draw"
    router = next(r for r in c.routers if r.view is axial)
    corners = [(20, 20, 20), (20, 20, 40), (20, 40, 40), (20, 40, 20)]
    for zyx in corners:
        xy = _xy_of(axial, volume.geometry, zyx)
        _mouse(axial, QEvent.Type.MouseButtonPress, xy, LEFT, LEFT)
        _mouse(axial, QEvent.Type.MouseButtonRelease, xy, LEFT)
    assert router.polyline.visible and router.polyline.n_points == 4
    assert c.labels.array.max() == 0  # nothing written before Enter
    qtbot.keyClick(axial, Qt.Key.Key_Return)
    arr = c.labels.array
    assert arr[20, 30, 30] == c.label_id and arr[20, 10, 30] == 0 and arr[19].max() == 0
    assert _voxel_steps(c.labels) == ["Draw"]
    assert not router.polyline.visible


def test_scissors_rectangle_cuts_through_the_slice(window, editor, axial, volume, qtbot):
    c = editor.controller
    c.set_tool("paint")
    c.tools["paint"].params.radius_mm = 6.0
    xy = _xy_of(axial, volume.geometry, (20, 30, 30))
    _mouse(axial, QEvent.Type.MouseButtonPress, xy, LEFT, LEFT)
    _mouse(axial, QEvent.Type.MouseButtonRelease, xy, LEFT)
    assert c.labels.array[20, 30, 30] == c.label_id
    c.set_tool("scissors")
    c.tools["scissors"].params.shape = "rectangle"
    _mouse(axial, QEvent.Type.MouseButtonPress, _xy_of(axial, volume.geometry, (20, 20, 20)), LEFT, LEFT)
    _mouse(axial, QEvent.Type.MouseMove, _xy_of(axial, volume.geometry, (20, 40, 40)), buttons=LEFT)
    router = next(r for r in c.routers if r.view is axial)
    assert router.polyline.visible and router.polyline.n_points == 4
    _mouse(axial, QEvent.Type.MouseButtonRelease, _xy_of(axial, volume.geometry, (20, 40, 40)), LEFT)
    assert c.labels.array[20, 30, 30] == 0  # erased inside (the default operation)
    assert _voxel_steps(c.labels) == ["Paint", "Scissors"]
    assert not router.polyline.visible


def test_digits_typed_into_an_option_field_do_not_switch_tools(window, editor, qtbot):
    c = editor.controller
    c.set_tool("paint")
    radius = editor.options_form.findChild(QDoubleSpinBox, "param_radius_mm")
    radius.setFocus()
    qtbot.keyClick(radius, Qt.Key.Key_3)
    assert c.active_tool.id == "paint"


def test_threshold_previews_the_displayed_slices_live(window, editor, axial, volume):
    c = editor.controller
    c.set_tool("threshold")
    params = c.tools["threshold"].params
    params.lower, params.upper = 1000.0, 2000.0
    router = next(r for r in c.routers if r.view is axial)
    assert router.preview_visual is not None and router.preview_visual.fill_actor.GetVisibility()
    preview = c._preview
    assert preview is not None and preview not in window.session.segmentations
    assert np.array_equal(preview.array[20] > 0, volume.array[20] >= 1000)
    params.lower = -900.0  # the preview follows the options
    assert np.array_equal(preview.array[20] > 0, (volume.array[20] >= -900) & (volume.array[20] <= 2000))
    axial.set_slice_index(30)  # ... and the displayed slice
    assert np.array_equal(preview.array[30] > 0, (volume.array[30] >= -900) & (volume.array[30] <= 2000))
    shown = np.zeros(volume.array.shape, bool)  # only the three displayed planes hold a preview
    for view in window.grid.slice_views.values():
        plane = [slice(None)] * 3
        plane[view.scene.axes.slice_axis_zyx] = view.scene.slice_index
        shown[tuple(plane)] = True
    assert not preview.array[~shown].any()
    assert c.labels is None  # a preview writes nothing
    c.auto_threshold()
    assert params.lower != -900.0
    c.set_tool("paint")
    assert router.preview_visual is None and c._preview is None


def test_overlay_opacity_outline_and_3d_toggles(window, editor, axial):
    c = editor.controller
    editor.add_segment()
    visual = next(v for v in axial.label_visuals if v.labels is c.labels)
    editor.opacity_slider.setValue(80)
    assert visual.fill_opacity == pytest.approx(0.8)
    editor.outline_check.setChecked(False)
    assert not visual.outline_visible
    surfaces = next(s for s in window.grid.volume_view.surfaces if s.labels is c.labels)
    editor.show_3d_check.setChecked(False)
    assert not surfaces.visible


def test_edit_menu_sits_before_view_and_undo_works_with_the_dock_hidden(window, editor, axial, volume, qtbot):
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles.index("Edit") == titles.index("View") - 1
    c = editor.controller
    c.set_tool("paint")
    xy = _xy_of(axial, volume.geometry, (20, 30, 30))
    _mouse(axial, QEvent.Type.MouseButtonPress, xy, LEFT, LEFT)
    _mouse(axial, QEvent.Type.MouseButtonRelease, xy, LEFT)
    assert c.labels.array.max() > 0
    editor.dock.hide()
    _press_key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert c.labels.array.max() == 0
    _press_key(qtbot, window, Qt.Key.Key_3)  # tool keys are the dock's: hidden dock, W/L preset 3 instead
    assert c.active_tool.id == "paint"
    assert window.state.window_level == pytest.approx((2500.0, 480.0))


def test_painting_a_segmentation_of_another_grid_is_refused(window, editor, axial, volume, make_volume, qtbot):
    other = make_volume(shape_zyx=(20, 32, 40))
    labels = window.session.new_segmentation("other grid", reference=other)
    editor.controller.set_labels(labels)
    editor.controller.set_tool("paint")
    editor.controller.label_id = 0
    xy = _xy_of(axial, volume.geometry, (20, 30, 30))
    _mouse(axial, QEvent.Type.MouseButtonPress, xy, LEFT, LEFT)
    _mouse(axial, QEvent.Type.MouseButtonRelease, xy, LEFT)
    assert labels.array.max() == 0 and "not on the grid" in editor.message.text()


def test_level_trace_previews_under_the_resting_mouse_then_click_adds_it(window, editor, axial, volume, qtbot,
                                                                         bone_zyx):
    c = editor.controller
    _press_key(qtbot, window, Qt.Key.Key_4)
    assert c.active_tool.id == "level_trace"
    axial.set_slice_index(30)
    axial.GetRenderWindow().Render()
    xy = _xy_of(axial, volume.geometry, (30, 16, 64))  # inside the bright block
    _mouse(axial, QEvent.Type.MouseMove, xy)
    qtbot.waitUntil(lambda: c._preview is not None and c._preview.array[30].any(), timeout=2000)
    block = np.zeros(volume.array.shape[1:], bool)
    block[bone_zyx[1], bone_zyx[2]] = True
    assert np.array_equal(c._preview.array[30] > 0, block)
    assert c.labels is None  # the preview wrote nothing
    _mouse(axial, QEvent.Type.MouseButtonPress, xy, LEFT, LEFT)
    _mouse(axial, QEvent.Type.MouseButtonRelease, xy, LEFT)
    assert np.array_equal(c.labels.array[30] == c.label_id, block)
    assert _voxel_steps(c.labels) == ["Level tracing"]
    QApplication.sendEvent(axial, QEvent(QEvent.Type.Leave))
    assert not c._preview.array.any()


def test_locked_segment_is_not_painted_over(window, editor, axial, volume):
    from ui.segment_editor import COL_LOCKED

    c = editor.controller
    c.set_tool("paint")
    c.tools["paint"].params.radius_mm = 3.0
    xy = _xy_of(axial, volume.geometry, (20, 30, 30))
    _mouse(axial, QEvent.Type.MouseButtonPress, xy, LEFT, LEFT)
    _mouse(axial, QEvent.Type.MouseButtonRelease, xy, LEFT)
    first = c.label_id
    editor.segment_table.item(editor.segment_row(first), COL_LOCKED).setCheckState(Qt.CheckState.Checked)
    assert c.labels.table[first].locked
    editor.add_segment()
    assert c.label_id != first
    _mouse(axial, QEvent.Type.MouseButtonPress, xy, LEFT, LEFT)
    _mouse(axial, QEvent.Type.MouseButtonRelease, xy, LEFT)
    assert c.labels.array[20, 30, 30] == first


def test_area_segment_is_picked_from_the_segments_and_space_swaps_tools(window, editor, qtbot):
    c = editor.controller
    editor.add_segment()
    editor.add_segment()
    ids = [s.id for s in c.labels.table]
    combo = editor.area_segment_combo
    assert [combo.itemData(i) for i in range(combo.count())] == [0, *ids]
    combo.setCurrentIndex(2)
    combo.activated.emit(2)
    assert c.options.area_segment == ids[1]
    c.options.area_segment = ids[0]  # model → widget
    assert combo.currentData() == ids[0]
    _press_key(qtbot, window, Qt.Key.Key_1)
    _press_key(qtbot, window, Qt.Key.Key_7)
    _press_key(qtbot, window, Qt.Key.Key_Space)
    assert c.active_tool.id == "paint"
    _press_key(qtbot, window, Qt.Key.Key_Space)
    assert c.active_tool.id == "threshold"


def test_proposed_segments_show_their_review_status_and_source(window, editor, qtbot):
    from app.model.annotations import Provenance
    from app.model.labels import Segment
    from ui.segment_editor import COL_NAME

    labels = window.session.new_segmentation("AI: demo")
    labels.table.add(Segment(1, "brain", (200, 100, 100), provenance=Provenance(source="deepbet@1.0.2",
                                                                               status="proposed")))
    labels.table.add(Segment(2, "manual", (100, 200, 100)))
    editor.controller.set_labels(labels)
    qtbot.wait(20)
    proposed = editor.segment_table.item(editor.segment_row(1), COL_NAME)
    manual = editor.segment_table.item(editor.segment_row(2), COL_NAME)
    assert proposed.toolTip() == "proposed — source: deepbet@1.0.2" and proposed.font().italic()
    assert manual.toolTip() == "" and not manual.font().italic()


def test_masking_form_shows_the_area_segment_combo_in_place_of_the_spin_box(editor):
    form = editor.masking_form.layout()
    row, _ = form.getWidgetPosition(editor.area_segment_combo)
    assert row >= 0, "the combo must sit in the masking form"
    assert form.getWidgetPosition(editor.area_segment_spin)[0] == -1
    assert editor.area_segment_combo.isVisibleTo(editor) and not editor.area_segment_spin.isVisibleTo(editor)
