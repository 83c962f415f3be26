"""Slice and 3D viewports inside the real MainWindow (run under ``xvfb-run -a``)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from render.orientation import SLICE_KINDS, ViewKind
from tests.ui._events import display_to_qt as _qt_xy
from tests.ui._events import send_mouse as _mouse

pytestmark = pytest.mark.gl

NO_MOD = Qt.KeyboardModifier.NoModifier
LEFT, RIGHT, MIDDLE = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton


def _drag(view, button, start, end, modifiers=NO_MOD) -> None:
    _mouse(view, QEvent.Type.MouseButtonPress, start, button, button, modifiers)
    _mouse(view, QEvent.Type.MouseMove, end, Qt.MouseButton.NoButton, button, modifiers)
    _mouse(view, QEvent.Type.MouseButtonRelease, end, button, Qt.MouseButton.NoButton, modifiers)


def _wheel(view, notches: int, modifiers=NO_MOD) -> None:
    center = QPointF(view.width() / 2, view.height() / 2)
    event = QWheelEvent(center, QPointF(view.mapToGlobal(center.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 * notches), Qt.MouseButton.NoButton, modifiers,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view, event)


@pytest.fixture
def window(main_window, volume, qtbot):
    main_window.session.add_image(volume)
    qtbot.wait(50)
    return main_window


def test_image_appears_in_every_view_centred(window, volume):
    shape = volume.geometry.shape_zyx
    for view in window.grid.slice_views.values():
        scene = view.scene
        assert scene.image is not None and scene.image.image is volume
        assert scene.slice_index == int(np.rint((shape[scene.axes.slice_axis_zyx] - 1) / 2))
        assert scene.n_slices == shape[scene.axes.slice_axis_zyx]
    assert window.grid.volume_view.scene.image.image is volume
    width, level = volume.default_window()
    assert window.state.window_level == pytest.approx((width, level))
    assert window.grid.slice_views[ViewKind.AXIAL].scene.image_visual.window_level == pytest.approx((width, level))
    assert window.status.window_label.text() == f"W {width:.0f} / L {level:.0f}"
    assert window.windowTitle() == "MedWS — phantom"


@pytest.mark.parametrize("kind", SLICE_KINDS)
def test_shift_move_picks_the_voxel_and_links_every_view(window, volume, kind):
    view = window.grid.slice_views[kind]
    geometry = volume.geometry
    target_zyx = np.array([27, 15, 63])
    target_lps = geometry.index_zyx_to_lps(target_zyx)
    view.scene.set_slice_through(target_lps)
    view.GetRenderWindow().Render()
    qt_xy = _qt_xy(view, view.scene.lps_to_display(target_lps))
    _mouse(view, QEvent.Type.MouseMove, qt_xy, modifiers=Qt.KeyboardModifier.ShiftModifier)
    picked = window.state.cursor_lps
    assert np.array_equal(np.rint(geometry.lps_to_index_zyx(picked)).astype(int), target_zyx)
    for other in window.grid.slice_views.values():  # every view now shows the slice through it
        assert other.scene.slice_index == target_zyx[other.scene.axes.slice_axis_zyx]
    assert window.status.voxel_label.text() == "zyx (27, 15, 63)"
    assert window.status.value_label.text() == f"{volume.array[27, 15, 63]} HU"


def test_wheel_and_keys_scroll_slices_within_bounds(window, qtbot):
    view = window.grid.slice_views[ViewKind.AXIAL]
    start = view.scene.slice_index
    _wheel(view, +1)
    assert view.scene.slice_index == start + 1
    for _ in range(60):
        _wheel(view, +1)
    assert view.scene.slice_index == view.scene.n_slices - 1
    qtbot.keyClick(view, Qt.Key.Key_PageDown)
    assert view.scene.slice_index == view.scene.n_slices - 11
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert view.scene.slice_index == 0
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.scene.slice_index == 0
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert view.scene.slice_index == 1
    qtbot.waitUntil(lambda: window.status.slice_label.text() == f"axial 2/{view.scene.n_slices}", timeout=2000)


@pytest.mark.parametrize(("key", "expected"), [("1", (400, 40)), ("2", (1500, -600)), ("3", (2500, 480)),
                                                ("4", (80, 40)), ("5", (350, 50))])
def test_number_keys_apply_window_level_presets_to_all_views(window, qtbot, key, expected):
    qtbot.keyClicks(window.grid.slice_views[ViewKind.CORONAL], key)
    assert window.state.window_level == expected
    for view in window.grid.slice_views.values():
        prop = view.scene.image_visual.property
        assert (prop.GetColorWindow(), prop.GetColorLevel()) == expected


def test_left_drag_changes_window_and_level(window):
    view = window.grid.slice_views[ViewKind.AXIAL]
    window.state.set_window_level(400, 40)
    _drag(view, LEFT, (100, 100), (150, 100))
    width, level = window.state.window_level
    assert width > 400 and level == 40
    _drag(view, LEFT, (100, 100), (100, 140))  # down = higher level (darker)
    assert window.state.window_level[1] > 40


def test_right_drag_zooms_middle_drag_pans_and_r_resets(window, qtbot):
    view = window.grid.slice_views[ViewKind.SAGITTAL]
    camera = view.scene.camera
    scale, focal = camera.GetParallelScale(), view.scene.focal_lps
    _drag(view, RIGHT, (100, 150), (100, 100))  # up = zoom in
    assert camera.GetParallelScale() < scale
    _wheel(view, -2, Qt.KeyboardModifier.ControlModifier)  # Ctrl+wheel back = zoom out
    assert camera.GetParallelScale() > scale * 0.5
    _drag(view, MIDDLE, (100, 100), (140, 100))
    assert not np.allclose(view.scene.focal_lps, focal)
    index = view.scene.slice_index
    qtbot.keyClick(view, Qt.Key.Key_R)
    assert camera.GetParallelScale() == pytest.approx(scale, rel=1e-6)
    assert np.allclose(view.scene.focal_lps, focal)
    assert view.scene.slice_index == index


def test_double_click_maximises_and_restores(window, qtbot):
    view = window.grid.slice_views[ViewKind.CORONAL]
    qtbot.mouseDClick(view, LEFT, pos=QPoint(50, 50))
    assert window.grid.layout_name == "coronal"
    assert window.grid.visible_kinds() == [ViewKind.CORONAL]
    assert not window.grid.frames[ViewKind.AXIAL].isVisible()
    qtbot.mouseDClick(view, LEFT, pos=QPoint(50, 50))
    assert window.grid.layout_name == "2x2"
    assert window.layout_actions["2x2"].isChecked()


@pytest.mark.parametrize("layout", ["2x2", "1x3", "axial", "coronal", "sagittal", "3d"])
def test_layouts_show_the_right_views(window, qtbot, layout):
    window.layout_actions[layout].trigger()
    qtbot.wait(10)
    shown = {kind for kind, frame in window.grid.frames.items() if frame.isVisible()}
    assert shown == set(window.grid.visible_kinds())
    assert len(shown) == {"2x2": 4, "1x3": 4}.get(layout, 1)


def test_render_requests_are_coalesced(window, qtbot):
    view = window.grid.slice_views[ViewKind.AXIAL]
    qtbot.wait(20)
    before = view.render_count
    for _ in range(10):
        view.request_render()
    qtbot.wait(50)
    assert view.render_count == before + 1


# where the bone block must appear on screen: (column half, row half); rows counted from the top
_BONE_ON_SCREEN = {ViewKind.AXIAL: ("right", "top"), ViewKind.CORONAL: ("right", "top"),
                   ViewKind.SAGITTAL: ("left", "top")}


@pytest.mark.parametrize("kind", SLICE_KINDS)
def test_pixels_show_the_bone_where_the_anatomy_says(window, volume, bone_zyx, kind):
    view = window.grid.slice_views[kind]
    center = [(s.start + s.stop - 1) // 2 for s in bone_zyx]
    window.state.set_cursor(volume.geometry.index_zyx_to_lps(center))
    window.state.apply_preset("1")
    rgb = view.capture()
    gray = rgb[..., 0].astype(int)
    assert (gray > 60).mean() > 0.05, "view is black"
    rows, cols = np.nonzero((rgb[..., 0] >= 250) & (rgb[..., 1] >= 250) & (rgb[..., 2] >= 250))
    assert len(rows) > 50
    horizontal, vertical = _BONE_ON_SCREEN[kind]
    assert (cols.mean() > rgb.shape[1] / 2) == (horizontal == "right")
    assert (rows.mean() < rgb.shape[0] / 2) == (vertical == "top")


def test_volume_view_renders_something_at_full_quality(window):
    view = window.grid.volume_view
    view.capture()  # the first frame also computes gradients: it must not coarsen the next one
    rgb = view.capture()
    background = rgb[3, 3].astype(int)
    assert (np.abs(rgb.astype(int) - background).sum(axis=2) > 60).mean() > 0.002
    assert view.scene.volume.mapper.GetImageSampleDistance() <= 1.0


def test_oblique_volume_letters_in_the_window(main_window, make_volume, qtbot):
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    main_window.session.add_image(make_volume(direction=(c, -s, 0, s, c, 0, 0, 0, 1)))
    letters = main_window.grid.slice_views[ViewKind.AXIAL].scene.annotation.letters
    assert {edge: actor.GetInput() for edge, actor in letters.items()} == {
        "left": "RA", "right": "LP", "top": "AL", "bottom": "PR"}


def test_close_stops_timers_and_finalizes(main_window, volume):
    main_window.session.add_image(volume)
    views = list(main_window.grid.viewports.values())
    main_window.close()
    for view in views:
        assert view._closed and not view._render_timer.isActive()
        assert view.scene.image is None


def test_scrolling_moves_the_linked_cursor_and_the_other_crosshairs(window, volume, qtbot):
    axial = window.grid.slice_views[ViewKind.AXIAL]
    coronal = window.grid.slice_views[ViewKind.CORONAL]
    before_index = coronal.scene.slice_index
    points = coronal.scene.crosshair.polydata.GetPoints()
    before_z = {round(points.GetPoint(i)[2], 6) for i in (0, 1)}
    heard = []
    window.state.cursor_changed.connect(heard.append)
    axial.set_slice_index(5)
    axial.set_slice_index(6)
    cursor_zyx = np.rint(volume.geometry.lps_to_index_zyx(window.state.cursor_lps)).astype(int)
    assert cursor_zyx[0] == 6  # the shared cursor moved at once
    # the other views follow after the scrolled view's frame, once per event-loop turn
    assert heard == [] and {round(points.GetPoint(i)[2], 6) for i in (0, 1)} == before_z
    qtbot.waitUntil(lambda: len(heard) == 1)
    qtbot.wait(10)
    assert len(heard) == 1 and np.array_equal(heard[0], window.state.cursor_lps)
    assert coronal.scene.slice_index == before_index  # moving along S keeps the coronal slice
    horizontal_z = {round(points.GetPoint(i)[2], 6) for i in (0, 1)}
    assert horizontal_z == {round(float(window.state.cursor_lps[2]), 6)} != before_z


def test_scrolling_leaves_the_scrolled_views_crosshair_lines_as_they_are(window, volume):
    """Its lines move only along the view direction: the same on screen, so not uploaded again."""
    axial = window.grid.slice_views[ViewKind.AXIAL]
    axial.GetRenderWindow().Render()
    mtime = axial.scene.crosshair.polydata.GetPoints().GetMTime()
    axial.set_slice_index(3)
    assert axial.scene.crosshair.polydata.GetPoints().GetMTime() == mtime
    points = axial.scene.crosshair.polydata.GetPoints()
    centre = (np.array(points.GetPoint(0)) + np.array(points.GetPoint(1))) / 2
    shown = axial.scene.lps_to_display(centre)
    assert np.allclose(shown, axial.scene.lps_to_display(window.state.cursor_lps), atol=1e-6)
    window.state.set_cursor(window.state.cursor_lps + np.array([4.0, 0.0, 0.0]))  # a move in the plane: redrawn
    assert axial.scene.crosshair.polydata.GetPoints().GetMTime() > mtime


def test_crosshair_can_be_hidden_and_shown(window):
    window.crosshair_action.trigger()
    actors = [v.scene.crosshair.actor for v in window.grid.slice_views.values()]
    assert not any(a.GetVisibility() for a in actors)
    window.state.set_cursor(window.state.cursor_lps + 1.0)  # moving the cursor keeps them hidden
    assert not any(a.GetVisibility() for a in actors)
    window.crosshair_action.trigger()
    assert all(a.GetVisibility() for a in actors)


def test_left_drag_rotates_the_3d_camera_and_r_resets(window, qtbot):
    view = window.grid.volume_view
    camera = view.scene.renderer.GetActiveCamera()
    before = np.array(camera.GetPosition())
    qtbot.mousePress(view, LEFT, pos=QPoint(100, 100))
    for x in range(100, 180, 10):
        qtbot.mouseMove(view, QPoint(x, 110))
    qtbot.mouseRelease(view, LEFT, pos=QPoint(180, 110))
    assert not np.allclose(camera.GetPosition(), before)
    qtbot.keyClick(view, Qt.Key.Key_R)
    assert np.allclose(camera.GetPosition(), before, atol=1e-6)


def test_dropping_files_opens_them(main_window, volume, tmp_path, qtbot):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDropEvent

    from app.io.volume_files import write_image

    path = write_image(volume, tmp_path / "dropped.nrrd")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, LEFT, NO_MOD)
    with qtbot.waitSignal(main_window.loader.finished, timeout=20000):
        main_window.dropEvent(event)
    assert main_window.session.active_image.name == "dropped.nrrd"


def test_a_single_2d_image_opens_in_the_axial_layout(main_window, make_volume):
    main_window.session.add_image(make_volume(shape_zyx=(1, 64, 80)))
    assert main_window.grid.layout_name == "axial"
    assert main_window.grid.slice_views[ViewKind.AXIAL].scene.n_slices == 1


def test_volume_preset_combo_and_menu_stay_in_sync(main_window, make_volume):
    combo = main_window.volume_preset_combo
    combo.activated.emit(combo.findData("mip"))
    volume_visual = main_window.grid.volume_view.scene.volume
    assert volume_visual.preset_name == "mip" and main_window.volume_preset_actions["mip"].isChecked()
    main_window.volume_preset_actions["ct_lung"].trigger()
    assert combo.currentData() == "ct_lung" and volume_visual.preset_name == "ct_lung"
    mr = make_volume()
    object.__setattr__(mr, "modality", "MR")
    main_window.session.add_image(mr)
    assert volume_visual.preset_name == "mr_default" and combo.currentData() == "mr_default"
    main_window.session.add_image(make_volume())  # CT again: back to a CT preset
    assert volume_visual.preset_name == "ct_bone" and combo.currentData() == "ct_bone"


def test_smooth_toggle_switches_slice_interpolation(window):
    props = [v.scene.image_visual.property for v in window.grid.slice_views.values()]
    assert all(p.GetInterpolationType() == 1 for p in props)  # VTK_LINEAR_INTERPOLATION
    window.smooth_action.trigger()
    assert all(p.GetInterpolationType() == 0 for p in props)  # VTK_NEAREST_INTERPOLATION


def test_segmentations_are_drawn_over_the_image_in_every_slice_view(window, volume, make_volume):
    from app.model.labels import Segment

    labels = window.session.new_segmentation("Lesion")
    labels.table.add(Segment(1, "lesion", (255, 0, 255)))
    box = (slice(10, 30), slice(20, 40), slice(20, 40))
    with labels.transaction("test"):
        labels.paint(box, None, 1)
    window.state.set_cursor(volume.geometry.index_zyx_to_lps([20, 30, 30]))
    for view in window.grid.slice_views.values():
        assert len(view.label_visuals) == 1 and view.label_visuals[0].visible
        view.label_visuals[0].set_outline(False)
        view.label_visuals[0].set_fill(True, 1.0)
        rgb = view.capture()
        magenta = (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] > 200)
        assert magenta.sum() > 100, view.kind
    assert any("Lesion" in window.layers.item(i).text() for i in range(window.layers.count()))
    # another image on another grid hides the segmentation
    window.session.add_image(make_volume(shape_zyx=(30, 64, 80)))
    assert not any(v.label_visuals[0].visible for v in window.grid.slice_views.values())


def test_render_windows_have_msaa_off_and_vtk_uses_std_threads(main_window):
    from render._vtk import vtkSMPTools

    assert all(v.GetRenderWindow().GetMultiSamples() == 0 for v in main_window.grid.viewports.values())
    assert vtkSMPTools.GetBackend() == "STDThread"


def test_segmentation_surfaces_are_built_in_a_job_for_the_3d_view(window, qtbot):
    from app.model.labels import Segment

    labels = window.session.new_segmentation("Lesion")
    labels.table.add(Segment(1, "lesion", (255, 0, 255)))
    with labels.transaction("test"):
        labels.paint((slice(10, 30), slice(20, 40), slice(20, 40)), None, 1)
    surfaces = window.grid.volume_view.surfaces
    assert len(surfaces) == 1
    qtbot.waitUntil(lambda: not surfaces[0].dirty and 1 in surfaces[0].actors, timeout=10000)
    poly = surfaces[0].polydata[1]
    assert poly.GetNumberOfPoints() > 100
    lo, hi = window.state.volume.geometry.index_zyx_to_lps([[10, 20, 20], [29, 39, 39]])
    bounds = np.array(poly.GetBounds()).reshape(3, 2)
    assert np.all(bounds[:, 0] > np.minimum(lo, hi) - 3) and np.all(bounds[:, 1] < np.maximum(lo, hi) + 3)


def test_a_plain_cursor_move_is_told_at_once_and_replaces_a_pending_one(qtbot):
    from ui.viewer_state import ViewerState

    state = ViewerState()
    heard = []
    state.cursor_changed.connect(lambda lps: heard.append(lps.tolist()))
    state.set_cursor(np.array([1.0, 2.0, 3.0]), after_frame=True)
    assert heard == [] and state.cursor_lps.tolist() == [1.0, 2.0, 3.0]
    state.set_cursor(np.array([4.0, 5.0, 6.0]))
    assert heard == [[4.0, 5.0, 6.0]]
    qtbot.wait(20)
    assert heard == [[4.0, 5.0, 6.0]]  # the pending one was superseded, not told late
