"""Oblique slice planes: plane geometry (pure numpy) and a rotated SliceScene in an offscreen window."""

from __future__ import annotations

import numpy as np
import pytest

from render.capture import capture_rgb
from render.orientation import SLICE_KINDS, ViewKind, rotated_axes, rotation_lps, slice_axes
from render.plane_geometry import plane_box_polygon, slice_range, slice_step_mm
from render.slice_scene import OBLIQUE_NOTE
from tests.render.conftest import SCENE_SIZE

SIZE = SCENE_SIZE



def test_rotation_turns_counter_clockwise_about_the_axis():
    turn = rotation_lps(np.array([0.0, 0.0, 2.0]), np.radians(90))
    assert np.allclose(turn @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    assert np.allclose(turn @ turn.T, np.eye(3))


@pytest.mark.parametrize("kind", SLICE_KINDS)
def test_native_planes_step_one_voxel_and_cover_the_volume(volume, kind):
    axes = slice_axes(volume.geometry, kind)
    first, step, n = slice_range(volume.geometry, axes.view_direction_lps)
    assert step == pytest.approx(volume.geometry.spacing_zyx_mm[axes.slice_axis_zyx])
    assert n == volume.geometry.shape_zyx[axes.slice_axis_zyx]


def test_oblique_step_lies_between_the_spacings(volume):
    normal = np.array([0.0, np.sin(np.radians(30)), np.cos(np.radians(30))])  # axial tilted 30° about L
    step = slice_step_mm(volume.geometry, normal)
    assert min(volume.geometry.spacing_zyx_mm) < step < max(volume.geometry.spacing_zyx_mm)


def test_plane_box_polygon_of_a_native_plane_is_the_slice_rectangle(volume):
    geometry = volume.geometry
    centre = geometry.index_zyx_to_lps(np.array([10, 31, 40]))
    polygon = plane_box_polygon(geometry, centre, np.array([0.0, 0.0, 1.0]))
    assert polygon.shape == (4, 3)
    zyx = geometry.lps_to_index_zyx(polygon)
    assert np.allclose(zyx[:, 0], 10)
    assert sorted({round(v, 6) for v in zyx[:, 1]}) == [-0.5, 63.5]
    assert sorted({round(v, 6) for v in zyx[:, 2]}) == [-0.5, 79.5]


def test_plane_box_polygon_of_an_oblique_plane_lies_on_the_plane_inside_the_box(volume):
    geometry = volume.geometry
    centre = geometry.index_zyx_to_lps(np.array([20, 31, 40]))
    normal = rotation_lps(np.array([1.0, 1.0, 0.0]), 0.6) @ np.array([0.0, 0.0, 1.0])
    polygon = plane_box_polygon(geometry, centre, normal)
    assert 3 <= len(polygon) <= 6
    assert np.allclose((polygon - centre) @ normal, 0.0, atol=1e-6)
    zyx = geometry.lps_to_index_zyx(polygon)
    assert np.all(zyx >= -0.5 - 1e-6) and np.all(zyx <= np.array(geometry.shape_zyx) - 0.5 + 1e-6)
    assert plane_box_polygon(geometry, centre + 1000 * normal, normal).shape == (0, 3)


def _coronal_turned(degrees: float, volume) -> dict:
    """Rotations after turning the axial crosshair ``degrees`` counter-clockwise (about I)."""
    turn = rotation_lps(np.array([0.0, 0.0, -1.0]), np.radians(degrees))
    return {ViewKind.AXIAL: np.eye(3), ViewKind.CORONAL: turn, ViewKind.SAGITTAL: turn}


def test_rotated_scene_reslices_through_the_cursor_with_turned_axes_and_letters(make_scene, volume):
    scene = make_scene(volume, ViewKind.CORONAL)
    geometry = volume.geometry
    cursor = geometry.index_zyx_to_lps(np.array([30, 17, 65]))  # inside the bone block
    scene.set_cursor(cursor)
    rotations = _coronal_turned(30, volume)
    scene.set_rotations(rotations)
    base = slice_axes(geometry, ViewKind.CORONAL)
    assert scene.oblique
    assert np.allclose(scene.axes.view_direction_lps, rotations[ViewKind.CORONAL] @ base.view_direction_lps)
    assert np.allclose(scene.camera.GetDirectionOfProjection(), scene.axes.view_direction_lps)
    assert abs(float((scene.focal_lps - cursor) @ scene.axes.view_direction_lps)) < 1e-6  # plane through cursor
    # screen-right (1, 0, 0) turned 30° about I: (cos 30, -sin 30, 0) = left and anterior
    assert scene.axes.letters() == {"right": "LA", "left": "RP", "top": "S", "bottom": "I"}
    assert scene.annotation.letters["right"].GetInput() == "LA"
    assert scene.annotation.note.GetInput() == OBLIQUE_NOTE
    assert "oblique" in scene.annotation.title.text
    # picking on the rotated plane: display → LPS → voxel and back
    point = cursor + 6.0 * scene.axes.right_lps - 4.0 * scene.axes.up_lps
    scene.renderer.GetRenderWindow().Render()
    picked = scene.display_to_lps(scene.lps_to_display(point))
    assert np.allclose(picked, point, atol=1e-3)
    assert np.array_equal(np.rint(geometry.lps_to_index_zyx(picked)), np.rint(geometry.lps_to_index_zyx(point)))
    # the resliced pixel at the cursor shows the bone (1200 HU), one in the air corner does not
    scene.set_window_level(400, 40)
    rgb = capture_rgb(scene.renderer.GetRenderWindow())
    x, y = scene.lps_to_display(cursor)
    assert rgb[SIZE - 1 - round(y), round(x)].mean() > 200
    x, y = scene.lps_to_display(geometry.index_zyx_to_lps(np.array([30, 1, 1])))
    assert rgb[SIZE - 1 - round(y), round(x)].mean() < 30


def test_oblique_slices_step_along_the_normal_and_reset_snaps_to_the_native_slice(make_scene, volume):
    scene = make_scene(volume, ViewKind.CORONAL)
    cursor = volume.geometry.index_zyx_to_lps(np.array([20, 30, 40]))
    scene.set_cursor(cursor)
    scene.set_rotations(_coronal_turned(40, volume))
    first, step, n = slice_range(volume.geometry, scene.axes.view_direction_lps)
    assert scene.n_slices == n
    index = scene.slice_index
    assert scene.step_slice(3) == index + 3
    moved = float((scene.focal_lps - cursor) @ scene.axes.view_direction_lps)
    assert moved == pytest.approx(3 * step, abs=step / 2 + 1e-6)
    assert scene.set_slice_index(10_000) == n - 1
    scene.set_rotations({k: np.eye(3) for k in SLICE_KINDS})
    base = slice_axes(volume.geometry, ViewKind.CORONAL)
    assert not scene.oblique
    assert np.allclose(scene.axes.view_direction_lps, base.view_direction_lps)
    assert scene.n_slices == base.n_slices
    assert scene.slice_index == 30  # the native slice through the cursor
    assert scene.annotation.note.GetInput() == ""


def test_crosshair_lines_follow_the_other_views_rotation(make_scene, volume):
    scene = make_scene(volume, ViewKind.AXIAL)
    rotations = _coronal_turned(25, volume)
    scene.set_rotations(rotations)
    assert not scene.oblique  # the view whose crosshair turned keeps its plane
    geometry = volume.geometry
    for line, other in zip(scene.crosshair_dirs_lps, (ViewKind.CORONAL, ViewKind.SAGITTAL), strict=True):
        other_axes = rotated_axes(slice_axes(geometry, other), rotations[other])
        assert abs(float(line @ other_axes.view_direction_lps)) < 1e-9  # lies in the other plane
        assert abs(float(line @ scene.axes.view_direction_lps)) < 1e-9  # and in this one
    horizontal = scene.crosshair_dirs_lps[0]
    angle = np.degrees(np.arctan2(horizontal @ scene.axes.up_lps, horizontal @ scene.axes.right_lps))
    assert min(abs(angle - 25), abs(angle + 155)) < 1e-6  # turned 25° counter-clockwise on screen
