"""SliceScene and ImageSliceVisual in a standalone offscreen vtkRenderWindow (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from render.capture import capture_rgb
from render.image_data import VtkImage
from render.orientation import SLICE_KINDS, ViewKind
from tests.render.conftest import SCENE_SIZE

SIZE = SCENE_SIZE



def test_vtk_image_shares_memory_and_geometry(volume):
    wrapped = VtkImage(volume)
    assert np.shares_memory(wrapped.array, volume.array)
    lo, hi = volume.geometry.bounds_lps_mm()
    assert np.allclose(wrapped.data.GetBounds(), np.ravel(np.column_stack([lo, hi])))
    assert wrapped.data.GetDimensions() == volume.geometry.shape_zyx[::-1]
    assert wrapped.scalar_range == (-1000.0, 1200.0)


@pytest.mark.parametrize("kind", SLICE_KINDS)
@pytest.mark.parametrize("direction", [None, 25.0])
def test_display_to_lps_round_trips_to_the_voxel(make_scene, make_volume, rotation_about_z, kind, direction):
    volume = make_volume(direction=None if direction is None else rotation_about_z(direction))
    scene = make_scene(volume, kind)
    geometry = volume.geometry
    zyx = np.array([27, 15, 63])
    lps = geometry.index_zyx_to_lps(zyx)
    scene.set_slice_through(lps)
    scene.renderer.GetRenderWindow().Render()
    display_xy = scene.lps_to_display(lps)
    assert 0 <= display_xy[0] < SIZE and 0 <= display_xy[1] < SIZE
    picked = scene.display_to_lps(display_xy)
    assert np.allclose(picked, lps, atol=1e-3)
    assert np.array_equal(np.rint(geometry.lps_to_index_zyx(picked)).astype(int), zyx)
    assert scene.slice_index == zyx[scene.axes.slice_axis_zyx]


def test_slice_scroll_is_clamped(make_scene, volume):
    scene = make_scene(volume, ViewKind.AXIAL)
    assert scene.n_slices == 40
    assert scene.set_slice_index(-5) == 0 and scene.slice_index == 0
    assert scene.step_slice(-1) == 0
    assert scene.set_slice_index(1000) == 39 and scene.slice_index == 39
    assert scene.step_slice(+3) == 39
    assert scene.step_slice(-2) == 37


def test_window_level_sets_the_image_property(make_scene, volume):
    scene = make_scene(volume, ViewKind.CORONAL)
    scene.set_window_level(1500, -600)
    prop = scene.image_visual.property
    assert (prop.GetColorWindow(), prop.GetColorLevel()) == (1500, -600)
    assert scene.annotation.footer.GetInput() == "W 1500  L -600"


def test_zoom_and_pan_move_the_camera_not_the_slice(make_scene, volume):
    scene = make_scene(volume, ViewKind.AXIAL)
    index, scale = scene.slice_index, scene.camera.GetParallelScale()
    scene.zoom(2.0)
    assert scene.camera.GetParallelScale() == pytest.approx(scale / 2)
    before = scene.focal_lps
    scene.pan(10, 0)
    moved = scene.focal_lps - before
    assert moved @ scene.axes.view_direction_lps == pytest.approx(0.0, abs=1e-9)
    assert moved @ scene.axes.right_lps < 0  # image follows the mouse, camera moves the other way
    assert scene.slice_index == index


def test_oblique_volume_shows_combined_letters(make_scene, make_volume, rotation_about_z):
    scene = make_scene(make_volume(direction=rotation_about_z(30.0)), ViewKind.AXIAL)
    letters = {edge: actor.GetInput() for edge, actor in scene.annotation.letters.items()}
    assert letters == {"left": "RA", "right": "LP", "top": "AL", "bottom": "PR"}


# where the bone block must appear on screen: (columns, rows) halves, rows counted from the top
_BONE_ON_SCREEN = {
    ViewKind.AXIAL: ("right", "top"),     # patient left on screen right, anterior up
    ViewKind.CORONAL: ("right", "top"),   # patient left on screen right, superior up
    ViewKind.SAGITTAL: ("left", "top"),   # anterior on screen left, superior up
}


@pytest.mark.parametrize("kind", SLICE_KINDS)
def test_bright_bone_appears_where_the_anatomy_says(make_scene, volume, bone_zyx, kind):
    scene = make_scene(volume, kind)
    bone_center = [(s.start + s.stop - 1) // 2 for s in bone_zyx]
    scene.set_slice_through(volume.geometry.index_zyx_to_lps(bone_center))
    scene.set_window_level(400, 40)
    rgb = capture_rgb(scene.renderer.GetRenderWindow())
    assert rgb.shape == (SIZE, SIZE, 3)
    gray = rgb[..., 0].astype(int)
    assert gray.max() == 255 and (gray > 60).mean() > 0.1  # not a black view
    rows, cols = np.nonzero(gray[:, :] >= 250)
    horizontal, vertical = _BONE_ON_SCREEN[kind]
    assert (cols.mean() > SIZE / 2) == (horizontal == "right")
    assert (rows.mean() < SIZE / 2) == (vertical == "top")


def test_physical_aspect_ratio_for_anisotropic_spacing(make_scene, volume):
    scene = make_scene(volume, ViewKind.CORONAL)  # 64 mm wide (x), 100 mm tall (z)
    geometry = volume.geometry
    left = scene.lps_to_display(geometry.index_zyx_to_lps([20, 10, 0]))
    right = scene.lps_to_display(geometry.index_zyx_to_lps([20, 10, 79]))
    bottom = scene.lps_to_display(geometry.index_zyx_to_lps([0, 10, 40]))
    top = scene.lps_to_display(geometry.index_zyx_to_lps([39, 10, 40]))
    width_px, height_px = right[0] - left[0], top[1] - bottom[1]
    assert width_px > 0 and height_px > 0
    assert width_px / height_px == pytest.approx((79 * 0.8) / (39 * 2.5), rel=0.02)


def test_crosshair_lines_follow_the_other_planes_in_a_sheared_grid(make_scene, make_volume):
    t = np.radians(20)
    volume = make_volume(direction=(1, 0, 0, 0, 1, np.sin(t), 0, 0, np.cos(t)))  # gantry tilt
    scene = make_scene(volume, ViewKind.SAGITTAL)
    geometry = volume.geometry
    points = scene.crosshair.polydata.GetPoints()
    axial_line = np.array(points.GetPoint(1)) - np.array(points.GetPoint(0))
    # the axial view shows the x/y index plane: its trace in the sagittal (y/z) plane is the y axis
    y_axis = geometry.direction_matrix[:, 1]
    assert abs(abs(axial_line @ y_axis) / np.linalg.norm(axial_line) - 1) < 1e-9
    coronal_line = np.array(points.GetPoint(3)) - np.array(points.GetPoint(2))
    z_axis = geometry.direction_matrix[:, 2] / np.linalg.norm(geometry.direction_matrix[:, 2])
    assert abs(abs(coronal_line @ z_axis) / np.linalg.norm(coronal_line) - 1) < 1e-9


def test_plane_finder_matches_the_index_transform(make_volume):
    """PlaneFinder (plain floats, axis cached per direction) against the whole inverse index transform,
    on a gantry-tilted grid: aligned views along each axis, outside points, oblique directions."""
    from render.index_plane import ALIGNED_COS, PlaneFinder

    t = np.radians(12)
    volume = make_volume(direction=(1, 0, 0, 0, 1, np.sin(t), 0, 0, np.cos(t)))
    geometry = volume.geometry
    finder = PlaneFinder(geometry)
    rng = np.random.default_rng(7)
    lo, hi = geometry.bounds_lps_mm()
    checked = {None: 0, 0: 0, 1: 0, 2: 0}
    for _ in range(600):
        if rng.random() < 0.8:
            axis = int(rng.integers(3))
            direction = finder.normals_zyx[axis] * rng.choice([-1.0, 1.0])
        else:
            direction = rng.normal(size=3)
        focal = rng.uniform(lo - 5, hi + 5)
        dots = np.abs(finder.normals_zyx @ direction)
        axis = int(np.argmax(dots))
        expected = None
        if dots[axis] >= ALIGNED_COS * np.linalg.norm(direction):
            index = int(np.rint(geometry.lps_to_index_zyx(focal)[axis]))
            expected = (axis, index) if 0 <= index < geometry.shape_zyx[axis] else None
        assert finder(tuple(direction), tuple(focal)) == expected
        checked[None if expected is None else expected[0]] += 1
    assert min(checked.values()) > 20  # every axis and the None cases were exercised


def test_plane_corners_step_from_plane_zero_on_a_tilted_grid(make_volume):
    """PlaneCorners (plane 0's corners + index × one step, in floats) gives plane_corners_lps of every plane."""
    from render.index_plane import PlaneCorners, plane_corners_lps

    t = np.radians(12)
    volume = make_volume(direction=(0.96, -0.28, 0.0, 0.28, 0.96, np.sin(t), 0.0, 0.0, np.cos(t)))
    geometry = volume.geometry
    planes = PlaneCorners(geometry)
    for axis in range(3):
        for index in (0, 1, geometry.shape_zyx[axis] - 1):
            moved = planes.base(axis) + index * np.array(planes.steps[axis])
            np.testing.assert_allclose(moved, plane_corners_lps(geometry, axis, index), atol=1e-9)
    assert all(isinstance(v, float) for step in planes.steps for v in step)
    assert planes.base(1) is planes.base(1)  # worked out once per axis


def test_scrolled_label_quads_only_move_their_actor(make_scene, make_volume):
    """Labels scrolled with the image: the quad's points are set once per axis, each slice moves the
    actor (a modified polydata would regenerate the layer's shader source), and it stays on the plane
    the image shows, a hair towards the camera."""
    from app.model.labels import LabelTable, LabelVolume, Segment
    from render.label_plane import DEPTH_OFFSET_MM
    from render.label_visual import LabelSliceVisual

    volume = make_volume(direction=(0.96, -0.28, 0.0, 0.28, 0.96, 0.0, 0.0, 0.0, 1.0))
    scene = make_scene(volume, ViewKind.AXIAL)
    labels = LabelVolume(volume.geometry, LabelTable([Segment(1, "red", (255, 0, 0))]))
    with labels.transaction("setup"):
        labels.paint((slice(0, volume.array.shape[0]), slice(20, 40), slice(20, 40)), None, 1)
    visual = LabelSliceVisual(scene.renderer, lambda: None)
    try:
        visual.set_labels(labels)
        window = scene.renderer.GetRenderWindow()
        capture_rgb(window)
        quad = visual.plane._quad
        points_mtime = quad.polydata.GetMTime()
        camera = scene.renderer.GetActiveCamera()
        toward = -np.array(camera.GetDirectionOfProjection())
        for index in (3, 17, scene.n_slices - 1):
            scene.set_slice_index(index)
            capture_rgb(window)
            assert quad.polydata.GetMTime() == points_mtime
            image_corners = scene.image_visual.plane._quad.corners_lps
            np.testing.assert_allclose(quad.corners_lps, image_corners + toward * DEPTH_OFFSET_MM, atol=1e-9)
            assert np.shares_memory(visual.plane.ids, labels.array[index])
    finally:
        visual.close()
