"""BrushCursorVisual: the brush circle follows the mouse by moving its shared vertex buffer."""

from __future__ import annotations

import numpy as np

from render._vtk import vtk_to_numpy, vtkRenderer
from render.brush_cursor import N_VERTICES, BrushCursorVisual


def test_circle_vertices_follow_centre_and_radius():
    renders = []
    cursor = BrushCursorVisual(vtkRenderer(), lambda: renders.append(1))
    right, up = np.array([1.0, 0.0, 0.0]), np.array([0.0, -1.0, 0.0])
    cursor.set_circle(np.array([10.0, 20.0, 30.0]), right, up, 5.0)
    pts = vtk_to_numpy(cursor.polydata.GetPoints().GetData())
    assert pts.shape == (N_VERTICES, 3)
    np.testing.assert_allclose(np.linalg.norm(pts - [10, 20, 30], axis=1), 5.0)
    np.testing.assert_allclose(pts[:, 2], 30.0)  # in the plane of right/up
    mtime = cursor.polydata.GetMTime()
    cursor.set_circle(np.array([-4.0, 2.0, 30.0]), right, up, 5.0)  # a move: same shape, new centre
    pts = vtk_to_numpy(cursor.polydata.GetPoints().GetData())
    np.testing.assert_allclose(pts.mean(axis=0), [-4.0, 2.0, 30.0], atol=1e-9)
    assert cursor.polydata.GetMTime() > mtime and cursor.center_lps.tolist() == [-4.0, 2.0, 30.0]
    cursor.set_circle(np.array([0.0, 0.0, 0.0]), right, up, 2.5)  # a new radius rebuilds the shape
    pts = vtk_to_numpy(cursor.polydata.GetPoints().GetData())
    np.testing.assert_allclose(np.linalg.norm(pts, axis=1), 2.5)
    assert cursor.radius_mm == 2.5 and len(renders) == 3
