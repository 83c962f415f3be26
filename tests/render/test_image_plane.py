"""The GL-side image slice (ImagePlaneLayer) draws what VTK's reslice mapper draws, pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest

from app.model.image import ImageVolume
from render.capture import capture_rgb
from render.image_plane import value_mapping
from render.orientation import ViewKind
from tests._volumes import make_volume


def _scene(make_scene, volume: ImageVolume, kind: ViewKind):
    """(window, renderer, scene) showing only the image (no crosshair or text)."""
    scene = make_scene(volume, kind)
    scene.crosshair.set_visible(False)
    scene.annotation.set_title("")
    scene.annotation.set_letters({})
    scene.annotation.set_footer("")
    return scene.renderer.GetRenderWindow(), scene.renderer, scene


def _both(window, renderer, scene) -> tuple[np.ndarray, np.ndarray]:
    """(plane layer, reslice mapper) captures of the same view."""
    visual = scene.image_visual
    shader = capture_rgb(window)
    assert visual.plane_key is not None and visual.plane.actor.GetVisibility() and not visual.actor.GetVisibility()
    renderer.RemoveObserver(visual._observer)
    visual.plane.actor.VisibilityOff()
    visual.actor.VisibilityOn()
    reference = capture_rgb(window)
    return shader.astype(int), reference.astype(int)


def _volumes():
    ct = make_volume()
    tilted = make_volume(direction=(0.96, -0.28, 0.0, 0.28, 0.96, 0.0, 0.0, 0.0, 1.0))
    rng = np.random.default_rng(5)
    mr = ImageVolume((rng.normal(300.0, 80.0, ct.geometry.shape_zyx)).astype(np.float32), ct.geometry, "MR", "mr")
    u16 = ImageVolume((ct.array.astype(np.int32) + 1024).astype(np.uint16) * 20, ct.geometry, "OT", "u16")
    odd = make_volume(shape_zyx=(21, 33, 45))  # odd widths: half-filled texels at the right edge
    return {"ct": (ct, (400.0, 40.0)), "tilted": (tilted, (1500.0, -300.0)), "mr": (mr, (300.0, 300.0)),
            "u16": (u16, (30000.0, 25000.0)), "odd": (odd, (400.0, 40.0))}


@pytest.mark.parametrize("name", ["ct", "tilted", "mr", "u16", "odd"])
@pytest.mark.parametrize("kind", [ViewKind.AXIAL, ViewKind.CORONAL, ViewKind.SAGITTAL])
@pytest.mark.parametrize("linear", [True, False])
def test_plane_layer_matches_the_reslice_mapper(make_scene, name, kind, linear):
    volume, (width, level) = _volumes()[name]
    window, renderer, scene = _scene(make_scene, volume, kind)
    scene.image_visual.set_window_level(width, level)
    scene.image_visual.set_interpolation(linear)
    scene.zoom(2.0)  # magnified: interpolation between voxels is visible
    scene.set_slice_index(scene.n_slices // 2 + 1)
    shader, reference = _both(window, renderer, scene)
    diff = np.abs(shader - reference).max(axis=2)
    assert len(np.unique(reference)) > 3  # a real picture, not a blank view
    assert np.mean(diff <= 2) > 0.995, f"{np.mean(diff > 2):.4f} of pixels differ by more than 2 grey levels"


def test_value_mapping_is_exact_for_integer_types():
    assert value_mapping(np.zeros(3, np.int16)) == (1.0, 0.0)
    assert value_mapping(np.zeros(3, np.uint16)) == (1.0, 32768.0)
    assert value_mapping(np.array([-5, 60000], np.int32)) == (1.0, -5 + 32768.0)
    scale, offset = value_mapping(np.array([0.0, 1.0], np.float32))
    codes = np.rint((np.array([0.0, 0.5, 1.0]) - offset) / scale)
    assert codes.min() >= -32768 and codes.max() <= 32767
    np.testing.assert_allclose(codes * scale + offset, [0.0, 0.5, 1.0], atol=scale)


def test_slice_change_uploads_one_slice_and_oblique_views_reslice(make_scene):
    volume = make_volume()
    window, renderer, scene = _scene(make_scene, volume, ViewKind.AXIAL)
    visual = scene.image_visual
    capture_rgb(window)
    scene.set_slice_index(7)
    capture_rgb(window)
    assert visual.plane_key == (0, 7)
    np.testing.assert_array_equal(visual.plane.values, volume.array[7])
    assert np.shares_memory(visual.plane.values, volume.array)  # an axial int16 slice: uploaded from the volume
    rotation = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(0.4), -np.sin(0.4)], [0.0, np.sin(0.4), np.cos(0.4)]])
    scene.set_rotations({ViewKind.AXIAL: rotation})
    capture_rgb(window)
    assert visual.plane_key is None and visual.actor.GetVisibility() and not visual.plane.actor.GetVisibility()


def test_scrolled_in_place_slices_still_match_the_reslice_mapper(make_scene):
    """The texture re-pointed at later slices of the volume shows them, not the first one."""
    volume = make_volume()
    window, renderer, scene = _scene(make_scene, volume, ViewKind.AXIAL)
    scene.zoom(2.0)
    capture_rgb(window)
    first = scene.slice_index
    for index in (30, 17, 0):
        scene.set_slice_index(index)
        capture_rgb(window)
        assert np.shares_memory(scene.image_visual.plane.values, volume.array[index])
    assert np.abs(volume.array[0].astype(int) - volume.array[first]).sum() > 0  # a stale texture would show
    shader, reference = _both(window, renderer, scene)
    assert len(np.unique(reference)) > 3
    assert np.mean(np.abs(shader - reference).max(axis=2) <= 2) > 0.995


def test_slices_without_the_texture_layout_are_copied_into_one_reused_buffer(make_scene):
    volume = make_volume()
    window, renderer, scene = _scene(make_scene, volume, ViewKind.CORONAL)  # rows of a coronal slice are strided
    visual = scene.image_visual
    capture_rgb(window)
    values = visual.plane.values
    scene.set_slice_index(9)
    capture_rgb(window)
    assert visual.plane.values is values and not np.shares_memory(values, volume.array)  # refilled, not replaced
    np.testing.assert_array_equal(values, volume.array[:, 9])


def test_in_place_texels_only_for_the_packed_layout():
    from render.shader_quad import in_place_texels, packed_texels

    ct = np.arange(4 * 6 * 8, dtype=np.int16).reshape(4, 6, 8)
    texels = in_place_texels(ct[2])
    values, _ = packed_texels((6, 8), np.int16)
    values[...] = ct[2]
    np.testing.assert_array_equal(texels, values.view(np.uint8).reshape(-1, 4))  # the same bytes a copy holds
    labels = np.zeros((3, 5, 12), np.uint8)
    assert in_place_texels(labels[1]) is not None
    assert in_place_texels(ct[:, 2]) is None  # strided rows
    assert in_place_texels(np.zeros((6, 7), np.int16)) is None  # 7 values do not fill whole texels
    assert in_place_texels(np.zeros((6, 6), np.uint8)) is None
    assert in_place_texels(np.zeros((6, 8), ">i2")) is None  # not the texture's byte order
    assert in_place_texels(np.zeros((6, 8), np.float32)) is None


def test_scrolling_translates_the_quad_and_still_matches_the_reslice_mapper(make_scene):
    """Later slices of one plane move the quad's actor (no polydata change: VTK would regenerate the
    layer's shader source, ~1 ms per frame in software GL) and still draw exactly where the reslice mapper does."""
    volume = make_volume(direction=(0.96, -0.28, 0.0, 0.28, 0.96, 0.0, 0.0, 0.0, 1.0))
    window, renderer, scene = _scene(make_scene, volume, ViewKind.CORONAL)
    scene.zoom(2.0)
    capture_rgb(window)
    quad = scene.image_visual.plane._quad
    points_mtime = quad.polydata.GetMTime()
    for index in (3, scene.n_slices - 2):
        scene.set_slice_index(index)
        shader, reference = _both(window, renderer, scene)
        assert quad.polydata.GetMTime() == points_mtime and quad.actor.GetPosition() != (0.0, 0.0, 0.0)
        assert np.mean(np.abs(shader - reference).max(axis=2) <= 2) > 0.995
        visual = scene.image_visual
        visual.actor.VisibilityOff()
        visual._observer = renderer.AddObserver("StartEvent", visual._on_renderer_start)
        visual._checked_for = -1
    np.testing.assert_allclose(quad.corners_lps[0], volume.geometry.index_zyx_to_lps([-0.5, scene.n_slices - 2, -0.5]))


def test_a_quad_of_another_shape_rebuilds_its_points(make_scene):
    scene = make_scene(make_volume(), ViewKind.AXIAL)
    quad = scene.image_visual.plane._quad
    square = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    quad.set_base_corners(square)
    points_mtime = quad.polydata.GetMTime()
    quad.translate(0.0, 0.0, 2.5)
    assert quad.actor.GetPosition() == (0.0, 0.0, 2.5)
    np.testing.assert_allclose(quad.corners_lps, square + [0.0, 0.0, 2.5])
    quad.set_base_corners(square)  # the same points: not rebuilt, the actor back at the origin
    assert quad.polydata.GetMTime() == points_mtime and quad.actor.GetPosition() == (0.0, 0.0, 0.0)
    quad.set_base_corners(square * 2.0)
    assert quad.polydata.GetMTime() > points_mtime
    points = quad.polydata.GetPoints()
    np.testing.assert_allclose([points.GetPoint(i) for i in range(4)], square * 2.0)
    np.testing.assert_allclose(quad.corners_lps, square * 2.0)
