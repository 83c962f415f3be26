"""Measurements in the real MainWindow: ruler/angle/ROI by mouse, panel list, delete, jump to (xvfb-run -a)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication

from render.orientation import ViewKind
from tests.ui._events import lps_to_qt as _qt_xy
from tests.ui._events import send_mouse as _mouse

pytestmark = pytest.mark.gl

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.MouseButton.NoButton


def _drag(view, a_lps, b_lps):
    a, b = _qt_xy(view, a_lps), _qt_xy(view, b_lps)
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    _mouse(view, QEvent.Type.MouseButtonPress, a, LEFT, LEFT)
    _mouse(view, QEvent.Type.MouseMove, mid, NONE, LEFT)
    _mouse(view, QEvent.Type.MouseMove, b, NONE, LEFT)
    _mouse(view, QEvent.Type.MouseButtonRelease, b, LEFT, NONE)


def _click(view, lps):
    xy = _qt_xy(view, lps)
    _mouse(view, QEvent.Type.MouseButtonPress, xy, LEFT, LEFT)
    _mouse(view, QEvent.Type.MouseButtonRelease, xy, LEFT, NONE)


@pytest.fixture
def window(main_window, volume, qtbot):
    main_window.session.add_image(volume)
    qtbot.wait(50)
    return main_window


@pytest.fixture
def controller(window):
    return window.measure_panel.controller


def _show_slice(window, kind, zyx):
    view = window.grid.slice_views[kind]
    view.set_slice_index(int(zyx[view.scene.axes.slice_axis_zyx]))
    return view


@pytest.mark.parametrize(("kind", "start_zyx", "end_zyx", "expected_mm", "voxel_mm"), [
    # bone block x 60..69 (0.8 mm) on axial slice 30: outer edges at x 59.5 and 69.5
    (ViewKind.AXIAL, (30, 17, 59.5), (30, 17, 69.5), 10 * 0.8, 0.8),
    # bone block z 24..35 (2.5 mm) on a coronal slice: edges at z 23.5 and 35.5
    (ViewKind.CORONAL, (23.5, 17, 65), (35.5, 17, 65), 12 * 2.5, 2.5),
])
def test_ruler_measures_a_known_phantom_distance_within_half_a_voxel(window, controller, volume, kind, start_zyx,
                                                                     end_zyx, expected_mm, voxel_mm):
    g = volume.geometry
    view = _show_slice(window, kind, np.rint(start_zyx))
    controller.set_tool("ruler")
    _drag(view, g.index_zyx_to_lps(start_zyx), g.index_zyx_to_lps(end_zyx))
    (ruler,) = list(controller.measurements)
    assert ruler.kind == "ruler"
    assert abs(ruler.length_mm - expected_mm) <= voxel_mm / 2
    assert ruler.plane.axis_zyx == view.scene.axes.slice_axis_zyx
    assert ruler.plane.slice_index == view.scene.slice_index
    assert not controller.tool.drawing
    panel = window.measure_panel
    assert panel.tree.topLevelItemCount() == 1
    assert panel.tree.topLevelItem(0).text(3) == f"{ruler.length_mm:.1f} mm"
    visual = controller.visuals[kind]
    assert visual.shown_ids == [ruler.id]
    assert visual.lines.GetNumberOfCells() == 1
    assert visual.labels[ruler.id].GetInput() == f"{ruler.length_mm:.1f} mm"


def test_angle_of_a_right_angle_is_90_degrees(window, controller, volume):
    g = volume.geometry
    view = _show_slice(window, ViewKind.AXIAL, (20, 0, 0))
    controller.set_tool("angle")
    for zyx in ((20, 10, 60), (20, 40, 60), (20, 40, 20)):  # arm along y, vertex, arm along x
        _click(view, g.index_zyx_to_lps(zyx))
    (angle,) = list(controller.measurements)
    assert angle.angle_deg == pytest.approx(90.0, abs=0.5)
    assert window.measure_panel.tree.topLevelItem(0).text(3).endswith("°")


def test_rectangle_roi_stats_inside_the_bone_block(window, controller, volume, bone_zyx):
    g = volume.geometry
    view = _show_slice(window, ViewKind.AXIAL, (30, 0, 0))
    controller.set_tool("rectangle")
    _drag(view, g.index_zyx_to_lps((30, 13.2, 61.2)), g.index_zyx_to_lps((30, 19.8, 67.8)))
    (roi,) = list(controller.measurements)
    text = window.measure_panel.tree.topLevelItem(0).text(3)
    assert text.startswith("mean 1200.0 HU, SD 0.0, min 1200.0, max 1200.0")
    assert "mm²" in text
    assert controller.visuals[ViewKind.AXIAL].lines.GetNumberOfPoints() == 5  # closed rectangle


def test_deleting_from_the_panel_removes_the_visual(window, controller, volume):
    g = volume.geometry
    view = _show_slice(window, ViewKind.AXIAL, (30, 0, 0))
    controller.set_tool("ellipse")
    _drag(view, g.index_zyx_to_lps((30, 20, 20)), g.index_zyx_to_lps((30, 40, 50)))
    controller.set_tool("ruler")
    _drag(view, g.index_zyx_to_lps((30, 10, 10)), g.index_zyx_to_lps((30, 10, 40)))
    panel = window.measure_panel
    visual = controller.visuals[ViewKind.AXIAL]
    assert len(visual.shown_ids) == 2 and len(visual.labels) == 2
    assert panel.selected_ids() == [visual.shown_ids[1]]  # a finished measurement is selected
    panel.tree.clearSelection()
    panel.tree.topLevelItem(0).setSelected(True)  # the ellipse
    ellipse_id = panel.selected_ids()[0]
    assert panel.delete_selected() == 1
    assert ellipse_id not in controller.measurements
    assert ellipse_id not in visual.shown_ids and ellipse_id not in visual.labels
    assert visual.lines.GetNumberOfCells() == 1
    assert panel.tree.topLevelItemCount() == 1
    assert [r["id"] for r in window.session.measurements] == panel.row_ids()


def test_measurement_shows_on_its_slice_only_and_jump_to_returns(window, controller, volume):
    g = volume.geometry
    view = _show_slice(window, ViewKind.AXIAL, (30, 0, 0))
    controller.set_tool("ruler")
    _drag(view, g.index_zyx_to_lps((30, 10, 10)), g.index_zyx_to_lps((30, 30, 40)))
    (ruler,) = list(controller.measurements)
    visual = controller.visuals[ViewKind.AXIAL]
    view.step_slice(3)
    assert visual.shown_ids == []
    window.measure_panel.controller.jump_to(ruler.id)
    assert view.scene.slice_index == 30
    assert visual.shown_ids == [ruler.id]


def test_modified_clicks_keep_their_viewer_meaning_while_measuring(window, controller, volume):
    g = volume.geometry
    view = _show_slice(window, ViewKind.AXIAL, (30, 0, 0))
    controller.set_tool("ruler")
    target = g.index_zyx_to_lps((30, 15, 63))
    xy = _qt_xy(view, target)
    _mouse(view, QEvent.Type.MouseButtonPress, xy, LEFT, LEFT, Qt.KeyboardModifier.ShiftModifier)
    _mouse(view, QEvent.Type.MouseButtonRelease, xy, LEFT, NONE, Qt.KeyboardModifier.ShiftModifier)
    assert len(controller.measurements) == 0
    assert np.allclose(np.rint(g.lps_to_index_zyx(window.state.cursor_lps)), (30, 15, 63))


def test_measure_and_segment_editor_tools_exclude_each_other(window, controller):
    editor = getattr(getattr(window, "segment_editor", None), "controller", None)
    if editor is None:
        pytest.skip("no Segment Editor in this build")
    controller.set_tool("ruler")
    editor.set_tool("paint")
    assert controller.tool is None
    controller.set_tool("angle")
    assert editor.active_tool is None


def test_dragging_a_handle_moves_that_point(window, controller, volume):
    g = volume.geometry
    view = _show_slice(window, ViewKind.AXIAL, (30, 0, 0))
    controller.set_tool("ruler")
    _drag(view, g.index_zyx_to_lps((30, 10, 10)), g.index_zyx_to_lps((30, 10, 40)))
    (ruler,) = list(controller.measurements)
    before = ruler.length_mm
    _drag(view, g.index_zyx_to_lps((30, 10, 40)), g.index_zyx_to_lps((30, 10, 50)))
    assert len(controller.measurements) == 1  # edited, not a second ruler
    moved = controller.measurements[ruler.id]
    assert moved.length_mm == pytest.approx(before + 10 * 0.8, abs=0.4)
    assert np.allclose(moved.points[0], ruler.points[0])


def test_delete_key_in_a_slice_view_removes_the_selected_measurement(window, controller, volume):
    from PySide6.QtGui import QKeyEvent

    g = volume.geometry
    view = _show_slice(window, ViewKind.AXIAL, (30, 0, 0))
    controller.set_tool("ruler")
    _drag(view, g.index_zyx_to_lps((30, 10, 10)), g.index_zyx_to_lps((30, 10, 40)))
    assert len(controller.selected) == 1
    QApplication.sendEvent(view, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Delete, Qt.KeyboardModifier.NoModifier))
    assert len(controller.measurements) == 0
    assert controller.visuals[ViewKind.AXIAL].shown_ids == []
    assert window.measure_panel.tree.topLevelItemCount() == 0


def test_measurements_stay_with_the_image_they_were_drawn_on(window, controller, volume, make_volume, qtbot):
    from app.model.image import ImageVolume

    g = volume.geometry
    view = _show_slice(window, ViewKind.AXIAL, (30, 0, 0))
    controller.set_tool("ellipse")
    _drag(view, g.index_zyx_to_lps((30, 20, 20)), g.index_zyx_to_lps((30, 40, 50)))
    (roi,) = list(controller.measurements)
    assert roi.image_key == "phantom"
    other = ImageVolume(volume.array, g, modality="CT", name="other")
    window.session.add_image(other)
    qtbot.wait(20)
    view.set_slice_index(30)
    assert controller.visuals[ViewKind.AXIAL].shown_ids == []
    assert window.measure_panel.tree.topLevelItem(0).text(3) == "(other image)"
    window.session.set_active_image(volume)
    qtbot.wait(20)
    view.set_slice_index(30)
    assert controller.visuals[ViewKind.AXIAL].shown_ids == [roi.id]
