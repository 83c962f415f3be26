"""Where each slice view looks, in LPS mm: pure numpy, no VTK, any thread.

A slice view shows one of the volume's own index planes (native slices, no in-plane rotation of the
voxel raster, the ITK-SNAP convention), picking for each anatomical view the index plane whose
normal is closest to the anatomical normal. Screen axes then follow the radiological convention:

* axial: viewed from the feet, patient left on screen right, anterior up;
* coronal: viewed from the front, patient left on screen right, superior up;
* sagittal: viewed from the patient's left, anterior on screen left, superior up.

For oblique data the screen axes are the image axes, so the orientation letters are computed from
those axes in LPS (e.g. "LA" when screen-right points left and somewhat anterior).

A view can also be turned away from its index plane by rotating the crosshair in another view
(:func:`rotation_lps`, :func:`rotated_axes`): its screen axes are the native ones turned by a 3×3
LPS rotation, and the letters follow the same way.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from app.model.geometry import Geometry


class ViewKind(StrEnum):
    """The three slice orientations plus the 3D view."""

    AXIAL = "axial"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"
    VOLUME = "3d"


SLICE_KINDS = (ViewKind.AXIAL, ViewKind.CORONAL, ViewKind.SAGITTAL)

#: View colours (OHIF/Cornerstone and Slicer): axial red, sagittal yellow, coronal green; 0–1 RGB.
VIEW_COLORS: dict[ViewKind, tuple[float, float, float]] = {
    ViewKind.AXIAL: (200 / 255, 0.0, 0.0),
    ViewKind.CORONAL: (0.0, 200 / 255, 0.0),
    ViewKind.SAGITTAL: (200 / 255, 200 / 255, 0.0),
    ViewKind.VOLUME: (0.6, 0.6, 0.6),
}

# Ideal screen-right and screen-up directions in LPS for each orientation.
_IDEAL_RIGHT_UP_LPS: dict[ViewKind, tuple[tuple[float, ...], tuple[float, ...]]] = {
    ViewKind.AXIAL: ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    ViewKind.CORONAL: ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    ViewKind.SAGITTAL: ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
}

_LETTERS_LPS = (("L", "R"), ("P", "A"), ("S", "I"))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def ideal_axes_lps(kind: ViewKind) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (right, up, view_direction) in LPS for an anatomical orientation.

    ``view_direction`` points from the camera into the scene: ``right = view_direction × up``.
    """
    right, up = (np.array(v) for v in _IDEAL_RIGHT_UP_LPS[kind])
    return right, up, np.cross(up, right)


def orientation_letters(direction_lps: np.ndarray, threshold: float = 0.3) -> str:
    """Return the patient-direction letters of a unit LPS vector, dominant first (e.g. "LA").

    Components whose magnitude is below ``threshold`` are left out.
    """
    v = np.asarray(direction_lps, dtype=float)
    order = np.argsort(-np.abs(v))
    letters = [(_LETTERS_LPS[i][0] if v[i] > 0 else _LETTERS_LPS[i][1])
               for i in order if abs(v[i]) >= threshold]
    return "".join(letters) or "?"


@dataclass(frozen=True)
class SliceAxes:
    """How one slice view is laid out for one image grid.

    Attributes
    ----------
    kind
        The anatomical orientation.
    slice_axis_zyx
        Which ``zyx`` index axis the view steps through (0 = z, 1 = y, 2 = x).
    n_slices
        Number of slices along that axis.
    right_lps, up_lps, view_direction_lps
        Unit screen-right, screen-up and camera view direction in LPS mm.
        ``view_direction_lps`` is the normal of the displayed index plane.
    """

    kind: ViewKind
    slice_axis_zyx: int
    n_slices: int
    right_lps: np.ndarray
    up_lps: np.ndarray
    view_direction_lps: np.ndarray

    def letters(self) -> dict[str, str]:
        """Return the letters for the ``left``, ``right``, ``top`` and ``bottom`` screen edges."""
        return {
            "right": orientation_letters(self.right_lps),
            "left": orientation_letters(-self.right_lps),
            "top": orientation_letters(self.up_lps),
            "bottom": orientation_letters(-self.up_lps),
        }


def _plane_normals_lps(geometry: Geometry) -> np.ndarray:
    """Return (3, 3): row ``a`` is the unit normal of the index plane orthogonal to xyz axis ``a``."""
    cols = geometry.direction_matrix.T  # rows: LPS direction of x, y, z index axes
    normals = np.empty((3, 3))
    for a in range(3):
        b, c = (i for i in range(3) if i != a)
        normals[a] = _unit(np.cross(cols[b], cols[c]))
    return normals


def _assign_axes(geometry: Geometry) -> dict[ViewKind, int]:
    """Assign a distinct xyz index axis to each orientation, maximising alignment."""
    normals = _plane_normals_lps(geometry)
    ideal = [ideal_axes_lps(k)[2] for k in SLICE_KINDS]
    best: tuple[float, tuple[int, ...]] = (-1.0, (2, 1, 0))
    for perm in itertools.permutations(range(3)):
        score = sum(abs(float(normals[a] @ d)) for a, d in zip(perm, ideal, strict=True))
        if score > best[0] + 1e-9:
            best = (score, perm)
    return dict(zip(SLICE_KINDS, best[1], strict=True))


@functools.lru_cache(maxsize=64)
def slice_axes(geometry: Geometry, kind: ViewKind) -> SliceAxes:
    """Lay out the slice view ``kind`` for ``geometry`` (see the module docstring).

    Cached per (geometry, kind): every crosshair rotation step asks again (``Geometry`` is immutable
    and hashable); the returned vectors are read-only.
    """
    axis_xyz = _assign_axes(geometry)[kind]
    ideal_right, ideal_up, ideal_dir = ideal_axes_lps(kind)
    normal = _plane_normals_lps(geometry)[axis_xyz]
    view_dir = normal if normal @ ideal_dir >= 0 else -normal
    cols = geometry.direction_matrix.T
    in_plane = [_unit(cols[i]) for i in range(3) if i != axis_xyz]
    # screen-up: the in-plane image axis closest to the ideal up, made orthogonal to the normal
    up_axis = max(in_plane, key=lambda v: abs(float(v @ ideal_up)))
    up = up_axis if up_axis @ ideal_up >= 0 else -up_axis
    up = _unit(up - (up @ view_dir) * view_dir)
    right = _unit(np.cross(view_dir, up))
    for v in (right, up, view_dir):
        v.setflags(write=False)
    return SliceAxes(kind, 2 - axis_xyz, geometry.shape_zyx[2 - axis_xyz], right, up, view_dir)


def rotation_lps(axis_lps: np.ndarray, angle_rad: float) -> np.ndarray:
    """Return the 3×3 rotation by ``angle_rad`` about the LPS direction ``axis_lps`` (right-hand rule).

    Seen from the tip of ``axis_lps`` (axis pointing at the viewer) a positive angle turns
    counter-clockwise. Pure numpy, any thread.
    """
    k = _unit(np.asarray(axis_lps, dtype=float))
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle_rad) * cross + (1.0 - np.cos(angle_rad)) * (cross @ cross)


def rotated_axes(axes: SliceAxes, rotation_lps: np.ndarray) -> SliceAxes:
    """Return ``axes`` with screen-right, screen-up and view direction turned by a 3×3 LPS rotation.

    ``slice_axis_zyx`` and ``n_slices`` keep describing the native (axis-aligned) layout; a view
    whose rotation is not the identity shows an oblique plane through the shared volume.
    """
    r = np.asarray(rotation_lps, dtype=float)
    return replace(axes, right_lps=r @ axes.right_lps, up_lps=r @ axes.up_lps,
                   view_direction_lps=r @ axes.view_direction_lps)


_EYE3 = np.eye(3)


def is_rotated(rotation_lps: np.ndarray, tol: float = 1e-9) -> bool:
    """True when a 3×3 rotation is not the identity (the view shows an oblique plane).

    Same test as ``not np.allclose(r, I, atol=tol)`` (rtol 1e-5 on the diagonal; NaN counts as
    rotated) at a fraction of its cost: it runs several times per slice change. Any thread.
    """
    diff = np.abs(np.asarray(rotation_lps, dtype=float) - _EYE3)
    return not bool((diff <= tol + 1e-5 * _EYE3).all())
