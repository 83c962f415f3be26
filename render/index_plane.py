"""Which native index plane a slice view's camera shows, and that plane's outer corners in LPS mm.

Shared by the GL-side layers of the slice views (:mod:`render.image_plane`, :mod:`render.label_plane`),
which draw one index-plane slice as a textured quad when the view is not rotated. Pure numpy; any
thread (the camera values are passed in).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from app.model.geometry import Geometry

#: A view direction within this cosine of an index-plane normal shows that index plane.
ALIGNED_COS = 0.9999


def plane_normals_zyx(geometry: Geometry) -> np.ndarray:
    """Return (3, 3): row ``a`` is the unit LPS normal of the index plane of constant ``zyx[a]``."""
    cols = geometry.direction_matrix.T  # rows: LPS directions of the x, y, z index axes
    normals = np.empty((3, 3))
    for a_xyz in range(3):
        b, c = (i for i in range(3) if i != a_xyz)
        n = np.cross(cols[b], cols[c])
        normals[2 - a_xyz] = n / np.linalg.norm(n)
    return normals


def plane_index(axis: int, index: int) -> tuple[int | slice, ...]:
    """Return the numpy index that takes plane ``index`` along ``zyx`` axis ``axis`` as a view."""
    return tuple(index if a == axis else slice(None) for a in range(3))


def index_row(geometry: Geometry, axis_zyx: int) -> tuple[tuple[float, float, float], float]:
    """``((rx, ry, rz), offset)``: the continuous index along ``zyx`` axis ``axis_zyx`` of a point p (LPS mm)
    is ``rx·px + ry·py + rz·pz + offset`` — one row of the inverse index transform, as plain floats for
    code that runs per frame or per cursor move."""
    row = geometry.lps_to_index_xyz_matrix[2 - axis_zyx]
    return (float(row[0]), float(row[1]), float(row[2])), float(row[3])


def along_row(row: tuple[tuple[float, float, float], float], lps_mm) -> float:
    """The continuous index of point ``lps_mm`` for an :func:`index_row` (plain floats)."""
    (rx, ry, rz), offset = row
    x, y, z = lps_mm
    return rx * float(x) + ry * float(y) + rz * float(z) + offset


class PlaneFinder:
    """Which index plane a camera shows, for one grid: ``finder(direction_of_projection, focal_lps)`` is
    ``(slice axis zyx, index)``, or None when the camera looks obliquely or the plane is outside the volume.

    Asked by every slice layer on every frame: the axis is worked out once per view direction (the
    index-plane normal closest to it, within ``ALIGNED_COS``), the index from one row of the inverse
    index transform in plain floats (numpy's per-call overhead was most of the ~30 µs per layer).
    Takes the camera's tuples as they come. GUI thread.
    """

    def __init__(self, geometry: Geometry) -> None:
        self.geometry = geometry
        self.normals_zyx = plane_normals_zyx(geometry)
        self._rows = [index_row(geometry, a) for a in range(3)]
        self._direction: tuple[float, ...] | None = None
        self._axis: int | None = None

    def __call__(self, direction_of_projection, focal_lps) -> tuple[int, int] | None:
        direction = tuple(float(v) for v in direction_of_projection)
        if direction != self._direction:
            dop = np.asarray(direction)
            dots = np.abs(self.normals_zyx @ dop)
            axis = int(np.argmax(dots))
            self._axis = axis if dots[axis] >= ALIGNED_COS * float(np.linalg.norm(dop)) else None
            self._direction = direction
        axis = self._axis
        if axis is None:
            return None
        index = round(along_row(self._rows[axis], focal_lps))  # half to even, as np.rint
        if not 0 <= index < self.geometry.shape_zyx[axis]:
            return None
        return axis, index


def plane_corners_lps(geometry: Geometry, axis: int, index: int) -> np.ndarray:
    """(4, 3) LPS mm of plane ``index``'s outer voxel corners, in the order (row, col) = (−½, −½),
    (−½, cols−½), (rows−½, cols−½), (rows−½, −½), rows/cols being the remaining ``zyx`` axes in order."""
    row_axis, col_axis = (a for a in range(3) if a != axis)
    rows, cols = geometry.shape_zyx[row_axis], geometry.shape_zyx[col_axis]
    corners = np.zeros((4, 3))
    corners[:, axis] = index
    for i, (r, c) in enumerate(((-0.5, -0.5), (-0.5, cols - 0.5), (rows - 0.5, cols - 0.5), (rows - 0.5, -0.5))):
        corners[i, row_axis], corners[i, col_axis] = r, c
    return geometry.index_zyx_to_lps(corners)


class PlaneCorners:
    """The outer corners of a grid's index planes, for placing a slice quad per scrolled slice in plain floats.

    ``base(axis)``: :func:`plane_corners_lps` of plane 0 along ``zyx`` axis ``axis`` ((4, 3) LPS mm,
    worked out once per axis); ``steps[axis]``: the LPS mm from one plane to the next along it, as
    three floats. Plane ``index``'s corners are ``base(axis) + index * steps[axis]``. Any thread.
    """

    def __init__(self, geometry: Geometry) -> None:
        self.geometry = geometry
        origin = geometry.index_zyx_to_lps(np.zeros(3))
        self.steps = tuple(tuple(float(v) for v in geometry.index_zyx_to_lps(np.eye(3)[a]) - origin) for a in range(3))
        self._bases: dict[int, np.ndarray] = {}

    def base(self, axis: int) -> np.ndarray:
        """(4, 3) LPS mm corners of plane 0 along ``zyx`` axis ``axis`` (do not modify)."""
        corners = self._bases.get(axis)
        if corners is None:
            corners = self._bases[axis] = plane_corners_lps(self.geometry, axis, 0)
        return corners
