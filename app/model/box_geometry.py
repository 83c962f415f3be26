"""Where a :class:`~app.model.annotations.Box` meets the slice planes of an image grid (pure numpy).

A box is axis-aligned in LPS mm; a slice view shows one index plane of the image (``zyx`` axis
``axis_zyx`` = ``slice_index``), which is oblique in LPS for oblique or gantry-tilted data. So:

* a **3D box** shows on every slice whose plane meets it, as the convex polygon where the plane cuts
  the box (a rectangle on axis-aligned data, up to a hexagon on oblique data);
* a **2D box** shows only in the view named by its ``orientation``, on the one slice nearest its
  centre, as its rectangle projected onto that plane.

Box corners follow the convention of the model runners and the exporters: ``lps_min``/``lps_max``
are the LPS bounding box of the *voxel centres* the box covers (``app.io.export.tables``). Slice
indices are in the image's ``zyx`` index space; :class:`~app.model.geometry.Geometry` does every
index ↔ LPS conversion. Any thread (no state).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from app.model.annotations import Box
    from app.model.geometry import Geometry

#: Tolerance (in slice-index units) for "the plane touches the box".
INDEX_EPS = 1e-6

# The 12 edges of a box as pairs of corner numbers (bit a of a corner number = max along LPS axis a).
EDGES = tuple((i, i | (1 << a)) for i in range(8) for a in range(3) if not i & (1 << a))


def corners_lps(lps_min: Sequence[float], lps_max: Sequence[float]) -> np.ndarray:
    """Return the (8, 3) LPS corners; corner ``i`` takes the max along LPS axis ``a`` when bit ``a`` of ``i`` is set."""
    lo, hi = np.asarray(lps_min, float), np.asarray(lps_max, float)
    return np.array([[hi[a] if i & (1 << a) else lo[a] for a in range(3)] for i in range(8)])


def index_range(box: Box, geometry: Geometry, axis_zyx: int) -> tuple[float, float]:
    """Return the (min, max) continuous index along ``axis_zyx`` that the box's corners reach."""
    idx = geometry.lps_to_index_zyx(corners_lps(box.lps_min, box.lps_max))[:, axis_zyx]
    return float(idx.min()), float(idx.max())


def own_slice(box: Box, geometry: Geometry, axis_zyx: int) -> int:
    """Return the slice along ``axis_zyx`` nearest the box centre (the slice of a 2D box)."""
    centre = (np.asarray(box.lps_min) + np.asarray(box.lps_max)) / 2.0
    return int(np.rint(geometry.lps_to_index_zyx(centre)[axis_zyx]))


def slices_of(box: Box, geometry: Geometry, axis_zyx: int, orientation: str | None = None) -> range:
    """Return the slice indices along ``axis_zyx`` on which ``box`` is drawn (may lie outside the grid).

    ``orientation`` is the view's name ("axial", ...); a 2D box shows only in the view of its own
    orientation, on :func:`own_slice`.
    """
    if box.kind == "2d":
        if orientation is None or box.orientation != orientation:
            return range(0)
        k = own_slice(box, geometry, axis_zyx)
        return range(k, k + 1)
    lo, hi = index_range(box, geometry, axis_zyx)
    return range(int(np.ceil(lo - INDEX_EPS)), int(np.floor(hi + INDEX_EPS)) + 1)


def plane_axes(geometry: Geometry, axis_zyx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (unit normal, in-plane unit u, in-plane unit v) in LPS of the index planes normal to ``axis_zyx``."""
    m = geometry.index_xyz_to_lps_matrix[:3, :3]
    cols = [m[:, 2 - a] for a in range(3)]  # LPS step of one voxel along zyx axis a
    u_axis, v_axis = (a for a in range(3) if a != axis_zyx)
    u = cols[u_axis] / np.linalg.norm(cols[u_axis])
    normal = np.cross(cols[u_axis], cols[v_axis])
    normal /= np.linalg.norm(normal)
    v = np.cross(normal, u)
    return normal, u, v


def _order_convex(points_lps: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Drop duplicates (within 1e-6 mm) and order the points of a convex polygon by angle in (u, v)."""
    unique: list[np.ndarray] = []
    for p in points_lps:
        if all(np.linalg.norm(p - q) > 1e-6 for q in unique):
            unique.append(p)
    pts = np.array(unique, dtype=float).reshape(-1, 3)
    if len(pts) < 3:
        return pts
    centre = pts.mean(axis=0)
    angle = np.arctan2((pts - centre) @ v, (pts - centre) @ u)
    return pts[np.argsort(angle)]


def section_lps(box: Box, geometry: Geometry, axis_zyx: int, slice_index: int,
                orientation: str | None = None) -> np.ndarray | None:
    """Return the (N, 3) LPS polygon (N ≥ 3, ordered, convex) of ``box`` on one slice, or None where it does not show.

    A 3D box: the section of the box by the plane ``index[axis_zyx] == slice_index``. A 2D box (only
    on :func:`slices_of`): its rectangle projected along the plane normal onto that plane.
    """
    if slice_index not in slices_of(box, geometry, axis_zyx, orientation):
        return None
    corners = corners_lps(box.lps_min, box.lps_max)
    normal, u, v = plane_axes(geometry, axis_zyx)
    plane_zyx = np.zeros(3)
    plane_zyx[axis_zyx] = slice_index
    on_plane = geometry.index_zyx_to_lps(plane_zyx)
    if box.kind == "2d":
        projected = corners - np.outer((corners - on_plane) @ normal, normal)
        pts = _hull(projected, u, v)
        return pts if len(pts) >= 3 else None
    d = geometry.lps_to_index_zyx(corners)[:, axis_zyx] - slice_index  # signed distance in slice units
    found = [corners[i] for i in range(8) if abs(d[i]) <= INDEX_EPS]
    for i, j in EDGES:
        if (d[i] < -INDEX_EPS and d[j] > INDEX_EPS) or (d[i] > INDEX_EPS and d[j] < -INDEX_EPS):
            t = d[i] / (d[i] - d[j])
            found.append(corners[i] + t * (corners[j] - corners[i]))
    pts = _order_convex(np.array(found).reshape(-1, 3), u, v)
    if len(pts) < 3:  # the plane only grazes an edge: draw that segment as a thin polygon
        return pts if len(pts) == 2 else None
    return pts


def _hull(points_lps: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Return the convex hull (ordered) of coplanar points, via their (u, v) coordinates."""
    pts = _order_convex(points_lps, u, v)
    if len(pts) <= 3:
        return pts
    uv = np.stack([pts @ u, pts @ v], axis=1)
    order = sorted(range(len(pts)), key=lambda i: (uv[i, 0], uv[i, 1]))

    def cross(o: int, a: int, b: int) -> float:
        return float((uv[a, 0] - uv[o, 0]) * (uv[b, 1] - uv[o, 1]) - (uv[a, 1] - uv[o, 1]) * (uv[b, 0] - uv[o, 0]))

    lower: list[int] = []
    for i in order:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], i) <= 1e-12:
            lower.pop()
        lower.append(i)
    upper: list[int] = []
    for i in reversed(order):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], i) <= 1e-12:
            upper.pop()
        upper.append(i)
    return pts[lower[:-1] + upper[:-1]]


def box_from_index(geometry: Geometry, start_zyx: Sequence[float], stop_zyx: Sequence[float]) -> tuple[
        tuple[float, float, float], tuple[float, float, float]]:
    """Return (lps_min, lps_max): the LPS bounding box of the index box with corners ``start_zyx``, ``stop_zyx``.

    Both corners are voxel-centre indices and included (not a half-open range).
    """
    a, b = np.asarray(start_zyx, float), np.asarray(stop_zyx, float)
    corners = np.array(list(product(*zip(a, b, strict=True))), dtype=float)
    lps = geometry.index_zyx_to_lps(corners)
    lo, hi = lps.min(axis=0), lps.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(lo[2])), (float(hi[0]), float(hi[1]), float(hi[2]))


def flatten_along(lps_min: Sequence[float], lps_max: Sequence[float], normal_lps: Sequence[float]) -> tuple[
        tuple[float, float, float], tuple[float, float, float]]:
    """Flatten a box along the LPS axis closest to ``normal_lps`` (a 2D box's invariant), keeping its centre."""
    lo, hi = np.array(lps_min, float), np.array(lps_max, float)
    axis = int(np.argmax(np.abs(np.asarray(normal_lps, float))))
    lo[axis] = hi[axis] = (lo[axis] + hi[axis]) / 2.0
    return (float(lo[0]), float(lo[1]), float(lo[2])), (float(hi[0]), float(hi[1]), float(hi[2]))


def voxel_step_lps(geometry: Geometry, axis_zyx: int) -> np.ndarray:
    """Return the LPS vector (mm) of one voxel step along ``zyx`` axis ``axis_zyx``."""
    return geometry.index_xyz_to_lps_matrix[:3, 2 - axis_zyx].copy()


def face_points(polygon_lps: np.ndarray, box: Box, tol_mm: float = 1e-4) -> dict[tuple[int, int], np.ndarray]:
    """Group the polygon's vertices by the box face they lie on.

    Returns ``{(lps_axis, side): vertices}`` with side 0 = min face, 1 = max face, for faces that
    hold at least one vertex. A face edge seen in the view is a face with two vertices; a corner
    of the drawn shape lies on two faces.
    """
    lo, hi = np.asarray(box.lps_min), np.asarray(box.lps_max)
    out: dict[tuple[int, int], list[np.ndarray]] = {}
    for p in polygon_lps:
        for a in range(3):
            if hi[a] - lo[a] <= tol_mm:  # a flat axis has no separate faces to drag
                continue
            for side, bound in ((0, lo[a]), (1, hi[a])):
                if abs(p[a] - bound) <= tol_mm:
                    out.setdefault((a, side), []).append(p)
    return {k: np.array(v) for k, v in out.items()}


def contains_point(polygon_lps: np.ndarray, point_lps: Sequence[float], u: np.ndarray, v: np.ndarray) -> bool:
    """True when ``point_lps`` (on the plane) lies inside the convex polygon (edges included)."""
    if len(polygon_lps) < 3:
        return False
    p = np.asarray(point_lps, float)
    uv = np.stack([polygon_lps @ u, polygon_lps @ v], axis=1)
    q = np.array([p @ u, p @ v])
    signs = []
    for i in range(len(uv)):
        a, b = uv[i], uv[(i + 1) % len(uv)]
        signs.append((b[0] - a[0]) * (q[1] - a[1]) - (b[1] - a[1]) * (q[0] - a[0]))
    s = np.array(signs)
    return bool(np.all(s >= -1e-9) or np.all(s <= 1e-9))



def handles(polygon_lps: np.ndarray, box: Box) -> list[tuple[np.ndarray, frozenset[tuple[int, int]], np.ndarray]]:
    """Return the resize handles of a drawn box: ``(point_lps, faces, segment_lps)``.

    Corners of the drawn shape come first (two faces, ``segment_lps`` is the point itself, shape
    (1, 3)), then one handle per visible face edge at its midpoint (one face, ``segment_lps`` the
    edge's two end points, shape (2, 3)). ``faces`` holds ``(lps_axis, side)`` pairs as in
    :func:`face_points`. Dragging a handle moves those faces of the box.
    """
    by_face = face_points(polygon_lps, box)
    out: list[tuple[np.ndarray, frozenset[tuple[int, int]], np.ndarray]] = []
    for p in polygon_lps:
        faces = frozenset(f for f, pts in by_face.items() if any(np.linalg.norm(p - q) < 1e-6 for q in pts))
        if len(faces) >= 2:
            out.append((p, faces, p[None, :]))
    for face, pts in by_face.items():
        if len(pts) >= 2:
            # a face meets the plane in a segment: its two farthest-apart vertices
            i, j = max(((i, j) for i in range(len(pts)) for j in range(i + 1, len(pts))),
                       key=lambda ij: float(np.linalg.norm(pts[ij[0]] - pts[ij[1]])))
            out.append(((pts[i] + pts[j]) / 2.0, frozenset({face}), np.stack([pts[i], pts[j]])))
    return out


def distance_to_segment(point_lps: Sequence[float], segment_lps: np.ndarray) -> float:
    """Distance (mm) from a point to a segment ``(2, 3)`` or a single point ``(1, 3)``."""
    p = np.asarray(point_lps, float)
    a = segment_lps[0]
    if len(segment_lps) == 1:
        return float(np.linalg.norm(p - a))
    ab = segment_lps[1] - a
    t = float(np.clip((p - a) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


def plane_section_lps(box: Box, point_lps: Sequence[float], normal_lps: Sequence[float]) -> np.ndarray | None:
    """Return the ordered (N, 3) polygon where any plane (point, unit normal in LPS) cuts a 3D box, or None.

    For rotated (oblique) views that show no index plane; a 2D box never shows there (None).
    """
    if box.kind == "2d":
        return None
    n = np.asarray(normal_lps, float)
    n = n / np.linalg.norm(n)
    corners = corners_lps(box.lps_min, box.lps_max)
    d = (corners - np.asarray(point_lps, float)) @ n
    eps = 1e-6
    found = [corners[i] for i in range(8) if abs(d[i]) <= eps]
    for i, j in EDGES:
        if (d[i] < -eps and d[j] > eps) or (d[i] > eps and d[j] < -eps):
            found.append(corners[i] + d[i] / (d[i] - d[j]) * (corners[j] - corners[i]))
    u = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    pts = _order_convex(np.array(found).reshape(-1, 3), u, np.cross(n, u))
    return pts if len(pts) >= 3 else None
