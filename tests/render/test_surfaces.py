"""Segment surfaces (build, visual, export) with standalone offscreen VTK, no Qt."""

from __future__ import annotations

import gc
import os
import threading

import numpy as np
import pytest
from vtkmodules.vtkIOGeometry import vtkOBJReader, vtkSTLReader
from vtkmodules.vtkIOPLY import vtkPLYReader

from app.model.geometry import Geometry
from app.model.labels import LabelTable, LabelVolume, Segment
from render._vtk import vtk_to_numpy, vtkSMPTools
from render.capture import capture_rgb
from render.surface_export import SurfaceExportError, export_surfaces, read_space, write_surface
from render.surface_visual import (
    SegmentSurfaces,
    build_surfaces,
    occupied_grid,
    smoothing_iterations,
    surface_nets,
)

RADIUS_MM = 14.0
SPACING_ZYX_MM = (2.5, 0.8, 0.6)


def _rotation(axis, degrees):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    t = np.radians(degrees)
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k


OBLIQUE = tuple(_rotation((0.3, -0.2, 1.0), 25.0).ravel())


def _sphere(direction=OBLIQUE):
    geometry = Geometry((32, 64, 80), SPACING_ZYX_MM, (-20.0, 35.0, -110.0), direction)
    center_lps = geometry.index_zyx_to_lps(np.array([15.5, 31.0, 41.0]))
    zyx = np.stack(np.meshgrid(*(np.arange(n) for n in geometry.shape_zyx), indexing="ij"), axis=-1)
    dist = np.linalg.norm(geometry.index_zyx_to_lps(zyx) - center_lps, axis=-1)
    return (dist < RADIUS_MM).astype(np.uint8), geometry, center_lps


def _points(poly) -> np.ndarray:
    return vtk_to_numpy(poly.GetPoints().GetData()).astype(float)


def test_smp_backend_is_stdthread():
    assert vtkSMPTools.GetBackend() == "STDThread"


def test_sphere_surface_is_closed_and_in_lps_mm_with_oblique_anisotropic_grid():
    array, geometry, center = _sphere()
    surfaces = build_surfaces(array, geometry, [1])
    assert list(surfaces) == [1]
    poly = surfaces[1]
    n_points, n_cells = poly.GetNumberOfPoints(), poly.GetNumberOfCells()
    assert 1000 < n_points < 20000
    assert n_cells == 2 * n_points - 4  # closed genus-0 triangle mesh (Euler: V - E + F = 2)
    radius = np.linalg.norm(_points(poly) - center, axis=1)
    assert abs(radius.mean() - RADIUS_MM) < 0.6
    assert radius.min() > RADIUS_MM - 1.6 and radius.max() < RADIUS_MM + 1.6
    lo, hi = np.array(poly.GetBounds()).reshape(3, 2).T
    assert np.allclose(lo, center - RADIUS_MM, atol=1.6) and np.allclose(hi, center + RADIUS_MM, atol=1.6)
    normals = vtk_to_numpy(poly.GetPointData().GetNormals())
    outward = np.einsum("ij,ij->i", normals, _points(poly) - center)
    assert (outward > 0).mean() > 0.99


def test_direction_matrix_places_the_mesh_like_geometry_does():
    array, geometry, _ = _sphere()
    oblique = _points(build_surfaces(array, geometry, [1], normals=False)[1])
    plain = Geometry(geometry.shape_zyx, geometry.spacing_zyx_mm)  # identity direction, zero origin
    index_xyz = _points(build_surfaces(array, plain, [1], normals=False)[1]) / np.array(SPACING_ZYX_MM[::-1])
    expected = geometry.index_zyx_to_lps(index_xyz[:, ::-1])
    assert np.allclose(oblique, expected, atol=1e-3)


def test_build_in_a_worker_returns_detached_meshes():
    array, geometry, _ = _sphere(direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    box = {}
    worker = threading.Thread(target=lambda: box.update(build_surfaces(array.copy(), geometry, [1, 2])))
    worker.start()
    worker.join(60)
    assert list(box) == [1]  # label 2 has no voxels
    poly = box[1]
    before = _points(poly).copy()
    gc.collect()
    assert np.array_equal(_points(poly), before)
    assert poly.GetCellData().GetNumberOfArrays() == 0  # only points, triangles, normals
    assert build_surfaces(array, geometry, []) == {}


def test_unlisted_labels_still_close_a_neighbour_and_smoothing_can_be_off():
    array = np.zeros((12, 12, 24), np.uint8)
    array[2:10, 2:10, 2:12] = 1
    array[2:10, 2:10, 12:22] = 2
    geometry = Geometry(array.shape, (1.0, 1.0, 1.0))
    for smoothing in (True, False):
        poly = build_surfaces(array, geometry, [1], smoothing=smoothing)[1]
        assert poly.GetNumberOfCells() == 2 * poly.GetNumberOfPoints() - 4
    raw = _points(build_surfaces(array, geometry, [1], smoothing=False)[1])
    assert np.allclose(raw.min(axis=0), [1.5, 1.5, 1.5]) and np.allclose(raw.max(axis=0), [11.5, 9.5, 9.5])


# ------------------------------------------------------------------ visual
@pytest.fixture
def scene(offscreen_window):
    window, renderer = offscreen_window(160, 160)
    calls = {"render": 0, "rebuild": 0}

    def render():
        calls["render"] += 1

    def rebuild():
        calls["rebuild"] += 1

    surfaces = SegmentSurfaces(renderer, render, rebuild)
    yield window, renderer, surfaces, calls
    surfaces.close()


def _label_volume():
    array, geometry, _ = _sphere()
    table = LabelTable([Segment(1, "ball", (255, 0, 0)), Segment(2, "cube", (0, 0, 255))])
    return LabelVolume(geometry, table, array=array)


def test_visual_rebuilds_only_when_dirty_and_colours_from_the_table(scene):
    window, renderer, surfaces, calls = scene
    labels = _label_volume()
    surfaces.set_labels(labels)
    assert surfaces.dirty and calls["rebuild"] == 1
    assert surfaces.rebuild_now()
    assert not surfaces.dirty and surfaces.build_request() is None
    assert list(surfaces.actors) == [1]
    actor = surfaces.actors[1]
    assert actor.GetProperty().GetColor() == pytest.approx((1.0, 0.0, 0.0))
    assert not actor.GetMapper().GetScalarVisibility()
    assert renderer.GetActors().GetNumberOfItems() == 1
    # colour and visibility changes restyle actors, they never rebuild
    generation = surfaces.generation
    labels.table.update(1, color_rgb=(0, 255, 0))
    labels.table.update(1, visible=False)
    assert surfaces.generation == generation and not surfaces.dirty
    assert not actor.GetVisibility()
    labels.table.update(1, visible=True)
    assert actor.GetVisibility() and actor.GetProperty().GetColor() == pytest.approx((0.0, 1.0, 0.0))
    renderer.ResetCamera()
    rgb = capture_rgb(window)
    center = rgb[60:100, 60:100].reshape(-1, 3).astype(int)
    assert (center[:, 1] > 2 * center[:, 0] + 20).mean() > 0.5  # the green ball fills the middle


def test_paint_marks_dirty_and_rebuild_updates_only_through_attach(scene):
    _, _, surfaces, calls = scene
    labels = _label_volume()
    surfaces.set_labels(labels)
    surfaces.rebuild_now()
    ball = surfaces.polydata[1]
    n_ball = ball.GetNumberOfCells()
    rebuilds = calls["rebuild"]
    with labels.transaction("cube"):
        labels.paint((slice(2, 8), slice(2, 12), slice(2, 12)), None, 2)
    assert surfaces.dirty and calls["rebuild"] == rebuilds + 1
    old = surfaces.build_request()
    with labels.transaction("more"):
        labels.paint((slice(2, 8), slice(12, 16), slice(2, 12)), None, 2)
    new = surfaces.build_request()
    assert new.generation > old.generation
    assert surfaces.attach(new.run())
    assert not surfaces.attach(old.run())  # stale: older than what is shown
    assert sorted(surfaces.actors) == [1, 2]
    assert surfaces.polydata[1].GetNumberOfCells() == n_ball  # the ball did not change
    cube = surfaces.polydata[2]
    assert cube.GetNumberOfCells() == 2 * cube.GetNumberOfPoints() - 4
    lo, hi = surfaces.bounds_lps_mm()
    assert np.all(lo <= np.array(ball.GetBounds())[::2] + 1e-6)
    # erasing a segment removes its actor on the next attach
    labels.undo()
    labels.undo()
    assert surfaces.rebuild_now() and sorted(surfaces.actors) == [1]


def test_an_older_result_still_shows_while_newer_work_is_pending(scene):
    _, _, surfaces, _ = scene
    labels = _label_volume()
    surfaces.set_labels(labels)
    request = surfaces.build_request()
    with labels.transaction("dab"):
        labels.paint((slice(2, 4), slice(2, 4), slice(2, 4)), None, 2)
    assert surfaces.attach(request.run())
    assert surfaces.dirty  # the dab is not in the meshes yet; its rebuild was requested


def test_close_disconnects(scene):
    _, renderer, surfaces, calls = scene
    labels = _label_volume()
    surfaces.set_labels(labels)
    surfaces.rebuild_now()
    surfaces.close()
    assert renderer.GetActors().GetNumberOfItems() == 0
    rebuilds = calls["rebuild"]
    with labels.transaction("after"):
        labels.paint((slice(2, 4), slice(2, 4), slice(2, 4)), None, 2)
    labels.table.update(1, visible=False)
    assert calls["rebuild"] == rebuilds
    assert not surfaces.attach(surfaces.build_request() or _fake_result())


def _fake_result():
    from render.surface_visual import SurfaceBuildResult

    return SurfaceBuildResult(10**6, {})


# ------------------------------------------------------------------ export
_READERS = {"stl": vtkSTLReader, "obj": vtkOBJReader, "ply": vtkPLYReader}


def _read(path):
    reader = _READERS[path.suffix[1:]]()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutput()


def _sorted_rows(points: np.ndarray) -> np.ndarray:
    return points[np.lexsort(points.T[::-1])]


@pytest.mark.parametrize("file_format", ["stl", "obj", "ply"])
@pytest.mark.parametrize("space", ["LPS", "RAS"])
def test_export_round_trip(tmp_path, file_format, space):
    array, geometry, center = _sphere()
    table = LabelTable([Segment(1, "ball/left é", (200, 100, 50))])
    surfaces = build_surfaces(array, geometry, [1])
    paths = export_surfaces(surfaces, table, tmp_path, file_format=file_format, space=space, prefix="case1_")
    path = paths[1]
    assert path == tmp_path / f"case1_ball_left.{file_format}"
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temporary files left
    assert read_space(path) == space
    back = _read(path)
    mesh = surfaces[1]
    assert back.GetNumberOfCells() == mesh.GetNumberOfCells()
    assert back.GetNumberOfPoints() == mesh.GetNumberOfPoints()
    expected = _points(mesh) * (np.array([-1.0, -1.0, 1.0]) if space == "RAS" else 1.0)
    assert np.allclose(_sorted_rows(_points(back)), _sorted_rows(expected), atol=1e-4)
    if file_format == "stl":
        reader = vtkSTLReader()
        reader.SetFileName(str(path))
        reader.Update()
        assert reader.GetHeader().startswith(f"SPACE={space}")
    elif file_format == "ply":
        reader = vtkPLYReader()
        reader.SetFileName(str(path))
        reader.Update()
        comments = [reader.GetComments().GetValue(i) for i in range(reader.GetComments().GetNumberOfValues())]
        assert any(c.startswith(f"SPACE={space}") for c in comments)
        rgb = vtk_to_numpy(back.GetPointData().GetArray("RGB"))
        assert (rgb == (200, 100, 50)).all()
    else:
        assert path.read_text().splitlines()[0].startswith(f"# SPACE={space}")
    # RAS keeps the outward winding (a rotation, not a mirror): the centre stays inside
    center_in_space = center * (np.array([-1.0, -1.0, 1.0]) if space == "RAS" else 1.0)
    assert np.allclose(_points(back).mean(axis=0), center_in_space, atol=0.5)


def test_export_rejects_bad_input_and_leaves_nothing_behind(tmp_path):
    array, geometry, _ = _sphere()
    poly = build_surfaces(array, geometry, [1])[1]
    with pytest.raises(ValueError):
        write_surface(poly, tmp_path / "ball.vtk")
    with pytest.raises(ValueError):
        write_surface(poly, tmp_path / "ball.stl", space="XYZ")
    (tmp_path / "ball.stl").write_bytes(b"old")
    blocker = tmp_path / "dir.stl"
    blocker.mkdir()
    with pytest.raises(SurfaceExportError):
        write_surface(poly, blocker)  # cannot replace a folder
    assert sorted(os.listdir(tmp_path)) == ["ball.stl", "dir.stl"]
    assert (tmp_path / "ball.stl").read_bytes() == b"old"


def test_segments_cut_by_the_grid_edge_are_closed_there():
    array = np.zeros((10, 12, 14), np.uint8)
    array[:5, 3:9, 0:6] = 1  # touches the z = 0 and x = 0 faces
    geometry = Geometry(array.shape, (2.0, 1.0, 1.0), (5.0, 6.0, 7.0))
    poly = build_surfaces(array, geometry, [1], smoothing=False)[1]
    assert poly.GetNumberOfCells() == 2 * poly.GetNumberOfPoints() - 4
    lo, hi = np.array(poly.GetBounds()).reshape(3, 2).T
    assert np.allclose(lo, [5.0 - 0.5, 6.0 + 2.5, 7.0 - 1.0]) and np.allclose(hi, [5.0 + 5.5, 6.0 + 8.5, 7.0 + 9.0])


def test_thick_slices_get_more_smoothing_iterations():
    assert smoothing_iterations(Geometry((4, 4, 4), (1.0, 1.0, 1.0))) == 16
    assert smoothing_iterations(Geometry((4, 4, 4), (1.25, 0.7, 0.7))) == 16
    assert smoothing_iterations(Geometry((4, 4, 4), (2.5, 0.8, 0.6))) == 33
    assert smoothing_iterations(Geometry((4, 4, 4), (5.0, 0.57, 0.57))) == 64


def test_surface_actors_cull_back_faces_and_take_segment_opacity(scene):
    _, _, surfaces, _ = scene
    surfaces.set_labels(_label_volume())
    surfaces.rebuild_now()
    prop = surfaces.actors[1].GetProperty()
    assert prop.GetBackfaceCulling()  # neighbours share interface triangles: draw one copy only
    surfaces.set_opacity(0.5)
    surfaces.set_segment_opacity(1, 0.4)
    assert prop.GetOpacity() == pytest.approx(0.2)


def test_occupied_grid_is_a_zero_copy_slab_and_changes_no_surface():
    array, geometry, _ = _sphere()
    slab, slab_geometry = occupied_grid(array, geometry)
    z = np.flatnonzero(array.any(axis=(1, 2)))
    assert np.shares_memory(slab, array) and slab.shape[0] == z[-1] - z[0] + 3
    assert np.allclose(slab_geometry.index_zyx_to_lps([0, 0, 0]), geometry.index_zyx_to_lps([z[0] - 1, 0, 0]))
    assert occupied_grid(np.zeros_like(array), geometry) is None
    # the slab gives exactly the surface of the whole grid
    whole = surface_nets(array, geometry, [1], iterations=16)
    cropped = build_surfaces(array, geometry, [1], iterations=16, normals=False)[1]
    assert cropped.GetNumberOfCells() == whole.GetNumberOfCells()
    assert np.allclose(np.sort(_points(cropped), axis=0), np.sort(_points(whole), axis=0), atol=1e-4)


def test_build_request_runs_like_a_job_with_progress_and_cancel(scene):
    from analysis._task import Cancelled, TaskContext

    _, _, surfaces, _ = scene
    surfaces.set_labels(_label_volume())
    request = surfaces.build_request()
    progress = []
    result = request.run(ctx=TaskContext(report=lambda f, m: progress.append(f)))
    assert progress[0] == 0.0 and progress[-1] == 1.0 and list(result.surfaces) == [1]
    with pytest.raises(Cancelled):
        request.run(ctx=TaskContext(is_cancelled=lambda: True))
