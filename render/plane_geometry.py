"""Where an oblique slice plane meets the image grid: slice spacing, slice range, outline polygon.

Used by slice views whose plane was rotated away from the volume's index planes (crosshair
rotation), and by the 3D view to outline such planes. Pure numpy, no VTK; any thread. Points and
directions are LPS mm; planes are given as a point on the plane and a unit normal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from app.model.geometry import Geometry


def _index_lps_matrix(geometry: Geometry) -> np.ndarray:
    """3×3 matrix whose columns are the LPS mm vectors of one voxel step along x, y and z."""
    return geometry.index_xyz_to_lps_matrix[:3, :3]


def slice_step_mm(geometry: Geometry, normal_lps: np.ndarray) -> float:
    """Return the slice spacing in mm along a unit normal: one voxel step when the plane is native.

    Moving 1 mm along ``normal_lps`` moves ``g = M⁻¹ n`` in continuous index space (``M`` the
    index→LPS matrix); the step is the distance whose index displacement has unit length
    (``1 / |g|``), which is the voxel spacing along an index axis and shrinks smoothly for oblique
    planes.
    """
    g = np.linalg.solve(_index_lps_matrix(geometry), np.asarray(normal_lps, dtype=float))
    return float(1.0 / max(np.linalg.norm(g), 1e-12))


def _centre_corners_lps(geometry: Geometry) -> np.ndarray:
    z, y, x = (s - 1 for s in geometry.shape_zyx)
    return geometry.index_zyx_to_lps(
        np.array([[a, b, c] for a in (0, z) for b in (0, y) for c in (0, x)], dtype=float))


def slice_range(geometry: Geometry, normal_lps: np.ndarray) -> tuple[float, float, int]:
    """Return ``(first_mm, step_mm, n_slices)`` of the planes normal to ``normal_lps`` through the volume.

    ``first_mm`` is the signed distance ``p · n`` of the first plane (through the voxel centre
    lowest along ``n``); plane ``i`` lies at ``first_mm + i * step_mm``.
    """
    n = np.asarray(normal_lps, dtype=float)
    along = _centre_corners_lps(geometry) @ n
    step = slice_step_mm(geometry, n)
    lo, hi = float(along.min()), float(along.max())
    return lo, step, int(np.floor((hi - lo) / step + 1e-6)) + 1


def plane_box_polygon(geometry: Geometry, point_lps: np.ndarray, normal_lps: np.ndarray) -> np.ndarray:
    """Return the ``(k, 3)`` LPS outline where a plane cuts the volume box (voxel edges), in order.

    ``k`` is 0 when the plane misses the volume, else 3–6 points going round the polygon.
    """
    n = np.asarray(normal_lps, dtype=float)
    p0 = np.asarray(point_lps, dtype=float)
    shape = np.array(geometry.shape_zyx, dtype=float)
    lo, hi = np.full(3, -0.5), shape - 0.5
    corners_zyx = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    corners = geometry.index_zyx_to_lps(corners_zyx)
    dist = (corners - p0) @ n
    points = [corners[i] for i in range(8) if abs(dist[i]) < 1e-9]
    for i in range(8):
        for j in range(i + 1, 8):
            # box edges join corners that differ in exactly one index coordinate
            if int(np.sum(corners_zyx[i] != corners_zyx[j])) != 1:
                continue
            if dist[i] * dist[j] < 0:
                t = dist[i] / (dist[i] - dist[j])
                points.append(corners[i] + t * (corners[j] - corners[i]))
    if len(points) < 3:
        return np.zeros((0, 3))
    pts = np.unique(np.round(np.array(points), 9), axis=0)
    centre = pts.mean(axis=0)
    u = pts[0] - centre
    if np.linalg.norm(u) < 1e-12:
        return np.zeros((0, 3))
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    angles = np.arctan2((pts - centre) @ v, (pts - centre) @ u)
    return pts[np.argsort(angles)]
