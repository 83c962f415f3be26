"""Voxel grid geometry in DICOM patient space (LPS, millimetres).

This module is the only place that converts between voxel indices and physical coordinates.

Conventions
-----------
* Arrays are indexed ``[z, y, x]`` (slice, row, column). Index tuples named ``*_zyx`` follow that
  order; ``*_xyz`` tuples use ITK/VTK order (column, row, slice).
* ``direction`` is ITK-style: a 3×3 matrix whose **columns** are the LPS unit vectors along
  increasing x (along a row), y (down a column) and z (slice) index. For DICOM,
  column 0 = ImageOrientationPatient[0:3], column 1 = ImageOrientationPatient[3:6]. Column 2 is the
  direction of the slice stack; with gantry tilt it is *not* perpendicular to the first two
  (a sheared grid), which keeps every voxel's LPS position exact.
* ``origin_lps_mm`` is the LPS centre of voxel (0, 0, 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def _as_tuple(values: Sequence[float] | np.ndarray, n: int, name: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in np.asarray(values, dtype=float).ravel())
    if len(out) != n:
        raise ValueError(f"{name}: expected {n} numbers, got {len(out)}")
    if not all(np.isfinite(out)):
        raise ValueError(f"{name}: non-finite value in {out}")
    return out


@dataclass(frozen=True)
class Geometry:
    """Shape, spacing, origin and direction of a voxel grid in LPS millimetres.

    Invariants: spacing > 0; direction is invertible (orthonormal except for gantry-tilt shear).
    Immutable and hashable, safe to share across threads.
    """

    shape_zyx: tuple[int, int, int]
    spacing_zyx_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin_lps_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    _matrix: np.ndarray = field(init=False, repr=False, compare=False, hash=False)
    _inverse: np.ndarray = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape_zyx)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"shape_zyx must be three positive ints, got {self.shape_zyx}")
        spacing = _as_tuple(self.spacing_zyx_mm, 3, "spacing_zyx_mm")
        if min(spacing) <= 0:
            raise ValueError(f"spacing_zyx_mm must be positive, got {spacing}")
        origin = _as_tuple(self.origin_lps_mm, 3, "origin_lps_mm")
        direction = _as_tuple(self.direction, 9, "direction")
        d = np.array(direction).reshape(3, 3)
        if abs(np.linalg.det(d)) < 1e-6:
            raise ValueError(f"direction matrix is singular: {direction}")
        object.__setattr__(self, "shape_zyx", shape)
        object.__setattr__(self, "spacing_zyx_mm", spacing)
        object.__setattr__(self, "origin_lps_mm", origin)
        object.__setattr__(self, "direction", direction)
        # index (x, y, z) -> LPS: origin + D @ diag(spacing_xyz) @ ijk
        m = np.eye(4)
        m[:3, :3] = d @ np.diag(spacing[::-1])
        m[:3, 3] = origin
        m.setflags(write=False)
        inv = np.linalg.inv(m)
        inv.setflags(write=False)
        object.__setattr__(self, "_matrix", m)
        object.__setattr__(self, "_inverse", inv)

    # ----------------------------------------------------------------- matrices
    @property
    def direction_matrix(self) -> np.ndarray:
        """Return the 3×3 direction matrix (columns = LPS axes of x, y, z index)."""
        return np.array(self.direction).reshape(3, 3)

    @property
    def index_xyz_to_lps_matrix(self) -> np.ndarray:
        """Return the 4×4 affine mapping homogeneous (x, y, z, 1) index to LPS mm (read-only)."""
        return self._matrix

    @property
    def lps_to_index_xyz_matrix(self) -> np.ndarray:
        """Return the inverse 4×4 affine: homogeneous LPS mm to (x, y, z, 1) index (read-only)."""
        return self._inverse

    def ras_affine(self) -> np.ndarray:
        """Return the 4×4 NIfTI-style affine mapping (x, y, z, 1) index to RAS mm."""
        m = self._matrix.copy()
        m[:3, :] = _LPS_TO_RAS @ m[:3, :]
        return m

    @property
    def n_voxels(self) -> int:
        """Number of voxels in the grid."""
        z, y, x = self.shape_zyx
        return z * y * x

    @property
    def slice_normal_lps(self) -> np.ndarray:
        """Unit normal of the x/y index plane (cross product of row and column directions)."""
        d = self.direction_matrix
        n = np.cross(d[:, 0], d[:, 1])
        return n / np.linalg.norm(n)

    @property
    def is_axis_aligned(self) -> bool:
        """True when every index axis is parallel to an LPS axis (no oblique or shear)."""
        d = np.abs(self.direction_matrix)
        return bool(np.all((d < 1e-4) | (d > 1 - 1e-4)))

    @property
    def shear_deg(self) -> float:
        """Angle in degrees between the slice stack direction and the slice normal (gantry tilt)."""
        cos = abs(float(np.dot(self.direction_matrix[:, 2], self.slice_normal_lps)))
        return float(np.degrees(np.arccos(min(1.0, cos))))

    # ------------------------------------------------------------- conversions
    def index_zyx_to_lps(self, index_zyx: Sequence[float] | np.ndarray) -> np.ndarray:
        """Convert (…, 3) continuous ``zyx`` indices to (…, 3) LPS mm (voxel centres at integers)."""
        zyx = np.asarray(index_zyx, dtype=float)
        xyz = zyx[..., ::-1]
        return xyz @ self._matrix[:3, :3].T + self._matrix[:3, 3]

    def lps_to_index_zyx(self, lps_mm: Sequence[float] | np.ndarray) -> np.ndarray:
        """Convert (…, 3) LPS mm to continuous (…, 3) ``zyx`` indices (round for the nearest voxel)."""
        p = np.asarray(lps_mm, dtype=float)
        xyz = p @ self._inverse[:3, :3].T + self._inverse[:3, 3]
        return xyz[..., ::-1]

    def contains_index_zyx(self, index_zyx: Sequence[float]) -> bool:
        """True when a continuous ``zyx`` index rounds to a voxel inside the grid."""
        idx = np.rint(np.asarray(index_zyx, dtype=float))
        return bool(np.all(idx >= 0) and np.all(idx < np.array(self.shape_zyx)))

    def bounds_lps_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (min, max) LPS corners of the axis-aligned box around all voxel centres."""
        z, y, x = (s - 1 for s in self.shape_zyx)
        corners = np.array([[a, b, c] for a in (0, z) for b in (0, y) for c in (0, x)], dtype=float)
        lps = self.index_zyx_to_lps(corners)
        return lps.min(axis=0), lps.max(axis=0)

    # ---------------------------------------------------------------- derived
    def with_shape(self, shape_zyx: Sequence[int]) -> Geometry:
        """Return the same grid placement with another shape."""
        return Geometry(tuple(shape_zyx), self.spacing_zyx_mm, self.origin_lps_mm, self.direction)

    def cropped(self, start_zyx: Sequence[int], shape_zyx: Sequence[int]) -> Geometry:
        """Return the geometry of the sub-grid that starts at voxel ``start_zyx``."""
        origin = self.index_zyx_to_lps(np.asarray(start_zyx, dtype=float))
        return Geometry(tuple(shape_zyx), self.spacing_zyx_mm, tuple(origin), self.direction)

    def same_grid(self, other: Geometry, tol_mm: float = 1e-3) -> bool:
        """True when both geometries place every voxel at the same LPS position (within tol_mm)."""
        if other is self or other == self:
            return True  # the common case (labels made on their image's grid), asked on every mouse move
        if self.shape_zyx != other.shape_zyx:
            return False
        return bool(np.allclose(self._matrix, other._matrix, atol=tol_mm))

    def to_dict(self) -> dict:
        """Return a JSON-ready dict (the keys ``medws info`` prints)."""
        return {
            "shape_zyx": list(self.shape_zyx),
            "spacing_zyx_mm": [round(v, 6) for v in self.spacing_zyx_mm],
            "origin_lps_mm": [round(v, 6) for v in self.origin_lps_mm],
            "direction": [round(v, 6) for v in self.direction],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Geometry:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tuple(data["shape_zyx"]),
            tuple(data["spacing_zyx_mm"]),
            tuple(data["origin_lps_mm"]),
            tuple(data["direction"]),
        )
