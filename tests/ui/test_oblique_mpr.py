"""Oblique MPR in the real MainWindow: Ctrl+Alt+drag turns the crosshair, the other views reslice,
3D plane outlines follow, overlays behave, ``r`` resets; framing across layout changes.
Run under ``xvfb-run -a``."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt

from app.model.labels import Segment
from render.orientation import SLICE_KINDS, ViewKind, rotation_lps, slice_axes
from render.slice_scene import OBLIQUE_NOTE
from tests.ui._events import display_to_qt as _qt_xy
from tests.ui._events import send_mouse as _mouse

pytestmark = pytest.mark.gl

LEFT = Qt.MouseButton.LeftButton
CTRL_ALT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier


def _turn_crosshair(view, degrees: float, radius_px: float = 60.0, steps: int = 4) -> None:
    """Ctrl+Alt+left-drag around the crosshair centre by ``degrees`` counter-clockwise on screen."""
    view.GetRenderWindow().Render()
    cx, cy = view.scene.lps_to_display(view.scene.crosshair_center_lps)
    points = [(cx + radius_px * np.cos(a), cy + radius_px * np.sin(a))
              for a in np.radians(np.linspace(0.0, degrees, steps + 1))]
    _mouse(view, QEvent.Type.MouseButtonPress, _qt_xy(view, points[0]), LEFT, LEFT, CTRL_ALT)
    for p in points[1:]:
        _mouse(view, QEvent.Type.MouseMove, _qt_xy(view, p), Qt.MouseButton.NoButton, LEFT, CTRL_ALT)
    _mouse(view, QEvent.Type.MouseButtonRelease, _qt_xy(view, points[-1]), LEFT, Qt.MouseButton.NoButton, CTRL_ALT)


@pytest.fixture
def window(main_window, volume, qtbot):
    main_window.session.add_image(volume)
    qtbot.wait(50)
    return main_window


def _normal(window, kind):
    return window.grid.slice_views[kind].scene.axes.view_direction_lps


def test_ctrl_alt_drag_turns_the_other_views_about_the_crosshair_point(window, volume, qtbot):
    axial = window.grid.slice_views[ViewKind.AXIAL]
    geometry = volume.geometry
    cursor = geometry.index_zyx_to_lps(np.array([30, 17, 65]))
    window.state.set_cursor(cursor)
    before = {k: _normal(window, k).copy() for k in SLICE_KINDS}
    _turn_crosshair(axial, 30.0)
    # axial normal points to S (camera at the feet): ccw on its screen = about I
    turn = rotation_lps(np.array([0.0, 0.0, -1.0]), np.radians(30.0))
    assert np.allclose(window.state.rotations[ViewKind.AXIAL], np.eye(3))
    for kind in (ViewKind.CORONAL, ViewKind.SAGITTAL):
        assert np.allclose(window.state.rotations[kind], turn, atol=1e-6)
        scene = window.grid.slice_views[kind].scene
        assert scene.oblique
        assert np.allclose(scene.axes.view_direction_lps, turn @ before[kind], atol=1e-6)
        assert abs(float((scene.focal_lps - cursor) @ scene.axes.view_direction_lps)) < 1e-6  # through the cursor
        assert scene.annotation.note.GetInput() == OBLIQUE_NOTE
    assert np.allclose(_normal(window, ViewKind.AXIAL), before[ViewKind.AXIAL])
    # the three planes stay orthogonal and every view shares the one volume (no per-view copy)
    n = np.array([_normal(window, k) for k in SLICE_KINDS])
    assert np.allclose(np.abs(n @ n.T), np.eye(3), atol=1e-9)
    shared = {id(v.scene.image_visual.mapper.GetInput()) for v in window.grid.slice_views.values()}
    assert len(shared) == 1
    # coronal letters: screen-right (L) turned 30° about I points left and anterior
    coronal = window.grid.slice_views[ViewKind.CORONAL].scene
    assert {e: a.GetInput() for e, a in coronal.annotation.letters.items()} == \
        {"right": "LA", "left": "RP", "top": "S", "bottom": "I"}
    # the 3D view's coronal outline lies on the rotated plane
    qtbot.wait(10)
    points = window.grid.volume_view.scene.planes._points[ViewKind.CORONAL]
    outline = np.array([points.GetPoint(i) for i in range(points.GetNumberOfPoints())])
    assert len(outline) >= 3
    assert np.allclose((outline - cursor) @ coronal.axes.view_direction_lps, 0.0, atol=1e-6)


def test_picking_on_the_rotated_plane_round_trips_to_the_voxel(window, volume):
    geometry = volume.geometry
    window.state.set_cursor(geometry.index_zyx_to_lps(np.array([20, 30, 40])))
    window.grid.slice_views[ViewKind.CORONAL].rotate_crosshair(np.radians(35.0))  # axial and sagittal turn
    axial = window.grid.slice_views[ViewKind.AXIAL]
    scene = axial.scene
    assert scene.oblique
    target_lps = window.state.cursor_lps + 9.0 * scene.axes.right_lps + 5.0 * scene.axes.up_lps
    axial.GetRenderWindow().Render()
    _mouse(axial, QEvent.Type.MouseMove, _qt_xy(axial, scene.lps_to_display(target_lps)),
           modifiers=Qt.KeyboardModifier.ShiftModifier)
    picked = window.state.cursor_lps
    assert np.linalg.norm(picked - target_lps) < 0.5 * min(geometry.spacing_zyx_mm)  # within a pixel
    zyx = np.rint(geometry.lps_to_index_zyx(picked)).astype(int)
    assert np.array_equal(zyx, np.rint(geometry.lps_to_index_zyx(target_lps)).astype(int))
    assert window.status.voxel_label.text() == "zyx ({}, {}, {})".format(*zyx)
    assert window.status.value_label.text() == f"{volume.array[tuple(zyx)]} HU"
    # every rotated view now passes exactly through the picked point
    for kind in (ViewKind.AXIAL, ViewKind.SAGITTAL):
        other = window.grid.slice_views[kind].scene
        assert abs(float((other.focal_lps - picked) @ other.axes.view_direction_lps)) < 1e-6


def test_r_resets_the_rotation_to_axis_aligned_views(window, volume, qtbot):
    sagittal = window.grid.slice_views[ViewKind.SAGITTAL]
    _turn_crosshair(sagittal, 20.0)
    assert window.state.rotated
    qtbot.keyClick(sagittal, Qt.Key.Key_R)
    assert not window.state.rotated
    geometry = volume.geometry
    cursor_zyx = np.rint(geometry.lps_to_index_zyx(window.state.cursor_lps))
    for kind, view in window.grid.slice_views.items():
        base = slice_axes(geometry, kind)
        assert not view.scene.oblique
        assert np.allclose(view.scene.axes.view_direction_lps, base.view_direction_lps)
        assert view.scene.n_slices == base.n_slices
        assert view.scene.slice_index == cursor_zyx[base.slice_axis_zyx]
        assert view.scene.annotation.note.GetInput() == ""
        assert "oblique" not in view.scene.annotation.title.text
    # View ▸ Reset views (Ctrl+R) resets it as well
    window.grid.slice_views[ViewKind.AXIAL].rotate_crosshair(0.3)
    window.reset_views()
    assert not window.state.rotated


def test_overlays_on_a_rotated_view(window, volume, qtbot):
    labels = window.session.new_segmentation("Lesion")
    labels.table.add(Segment(1, "lesion", (255, 0, 255)))
    with labels.transaction("test"):
        labels.paint((slice(15, 25), slice(27, 37), slice(35, 45)), None, 1)
    coronal = window.grid.slice_views[ViewKind.CORONAL]
    window.state.set_cursor(volume.geometry.index_zyx_to_lps(np.array([20, 32, 40])))
    ruler = window.measure_panel.controller
    ruler.set_tool("ruler")
    _drag_left(coronal, (100, 100), (140, 120))
    assert len(ruler.measurements) == 1
    visual = ruler.visuals[ViewKind.CORONAL]
    assert visual.shown_ids
    window.grid.slice_views[ViewKind.AXIAL].rotate_crosshair(np.radians(25))
    label_visual = coronal.label_visuals[0]
    coronal.GetRenderWindow().Render()
    assert label_visual.fill_actor.GetVisibility()  # the fill is resliced on the oblique plane
    assert not label_visual.on_index_plane and not label_visual.plane.actor.GetVisibility()  # no outlines here
    assert visual.shown_ids == []  # measurements of index planes are hidden here
    _drag_left(coronal, (100, 100), (140, 120))
    assert len(ruler.measurements) == 1  # no measurement on an oblique plane
    ruler.set_tool(None)
    qtbot.keyClick(coronal, Qt.Key.Key_R)
    coronal.GetRenderWindow().Render()
    assert label_visual.on_index_plane and label_visual.plane.actor.GetVisibility()  # fill + outline layer
    assert not label_visual.fill_actor.GetVisibility()
    assert visual.shown_ids  # back on the index plane the ruler shows again


def _drag_left(view, start, end):
    _mouse(view, QEvent.Type.MouseButtonPress, start, LEFT, LEFT)
    _mouse(view, QEvent.Type.MouseMove, end, Qt.MouseButton.NoButton, LEFT)
    _mouse(view, QEvent.Type.MouseButtonRelease, end, LEFT, Qt.MouseButton.NoButton)


def test_maximising_keeps_a_zoomed_region_and_r_fits_after_layout_changes(window, qtbot):
    view = window.grid.slice_views[ViewKind.SAGITTAL]
    scene = view.scene
    fitted_2x2 = scene.camera.GetParallelScale()
    scene.zoom(2.0)
    scene.pan(15, -10)
    focal, scale = scene.focal_lps, scene.camera.GetParallelScale()
    w0, h0 = scene._viewport_size_px()
    qtbot.mouseDClick(view, LEFT)
    qtbot.waitUntil(lambda: scene._viewport_size_px()[0] > w0 * 1.5)
    w1, h1 = scene._viewport_size_px()
    assert np.allclose(scene.focal_lps, focal)  # same centre
    new_scale = scene.camera.GetParallelScale()
    # the whole region shown before is still shown
    assert 2 * new_scale >= 2 * scale - 1e-6
    assert 2 * new_scale * w1 / h1 >= 2 * scale * w0 / h0 - 1e-6
    assert new_scale <= scale * max(1.0, (w0 / h0) / (w1 / h1)) + 1e-6  # and magnified, not refitted
    qtbot.keyClick(view, Qt.Key.Key_R)
    fitted_max = scene.camera.GetParallelScale()
    assert scene.fitted and fitted_max != pytest.approx(scale)
    qtbot.mouseDClick(view, LEFT)
    qtbot.waitUntil(lambda: scene._viewport_size_px()[0] < w1 * 0.8)
    assert scene.camera.GetParallelScale() == pytest.approx(fitted_2x2, rel=1e-6)  # fitted views stay fitted
    other = window.grid.slice_views[ViewKind.AXIAL]
    window.grid.set_layout("1x3")
    qtbot.wait(20)
    refitted = other.scene.camera.GetParallelScale()  # the fitted axial view was refitted to its new size
    other.scene.reset_view()
    assert other.scene.camera.GetParallelScale() == pytest.approx(refitted, rel=1e-6)
