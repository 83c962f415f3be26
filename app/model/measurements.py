"""Measurements drawn on slice views: ruler, angle, ellipse and rectangle ROI, in LPS mm.

Every measurement lies on one slice plane of the image it was drawn on (:class:`SlicePlane`:
the view orientation, the ``zyx`` index axis normal to the plane and the slice index) and keeps
its points in LPS mm, so it survives zoom, pan and re-slicing and can be saved with the session.
Lengths and angles need only the points; ROI statistics read the image through
:class:`~app.model.geometry.Geometry` (the only index ↔ LPS converter) and
:func:`analysis.roi_stats.roi_stats`.

:class:`MeasurementSet` holds them keyed by id with psygnal ``added(m)``, ``removed(m)`` and
``changed(old, new)``, and keeps their JSON form (:meth:`Measurement.to_dict`) in
:attr:`MeasurementSet.records`, the list the session folder saves. GUI thread only, unless a
function says otherwise.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from analysis.roi_stats import RoiStats, roi_stats
from app.model.annotations import _EventedItems, _new_id

if TYPE_CHECKING:
    from app.model.geometry import Geometry
    from app.model.image import ImageVolume

log = logging.getLogger(__name__)

Point = tuple[float, float, float]


@dataclass(frozen=True)
class SlicePlane:
    """The slice a measurement was drawn on.

    ``orientation`` is the view ("axial", "coronal", "sagittal"); ``axis_zyx`` the index axis normal
    to the plane (0 = z, 1 = y, 2 = x); ``slice_index`` the 0-based index along it.
    """

    orientation: str
    axis_zyx: int
    slice_index: int

    def __post_init__(self) -> None:
        if int(self.axis_zyx) not in (0, 1, 2):
            raise ValueError(f"axis_zyx must be 0, 1 or 2, got {self.axis_zyx}")
        object.__setattr__(self, "axis_zyx", int(self.axis_zyx))
        object.__setattr__(self, "slice_index", int(self.slice_index))

    @property
    def in_plane_axes_zyx(self) -> tuple[int, int]:
        """The two ``zyx`` axes spanning the plane, in increasing order (row, column of a slice)."""
        a, b = (i for i in range(3) if i != self.axis_zyx)
        return a, b

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"orientation": self.orientation, "axis_zyx": self.axis_zyx, "slice_index": self.slice_index}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SlicePlane:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["orientation"]), int(data["axis_zyx"]), int(data["slice_index"]))


@dataclass(frozen=True)
class Measurement:
    """Base of the measurement kinds: ``n_points`` LPS mm points on ``plane``.

    Invariant: ``len(points_lps_mm) == n_points``; points are float 3-tuples.
    """

    points_lps_mm: tuple[Point, ...]
    plane: SlicePlane
    label: str = ""
    id: str = field(default_factory=_new_id)
    image_key: str = ""  # :func:`image_key` of the image it was drawn on ("" = any image)

    kind: ClassVar[str] = ""
    title: ClassVar[str] = ""
    n_points: ClassVar[int] = 2

    def __post_init__(self) -> None:
        pts = np.asarray(self.points_lps_mm, dtype=float).reshape(-1, 3)
        if len(pts) != self.n_points:
            raise ValueError(f"{self.kind} needs {self.n_points} points, got {len(pts)}")
        if not np.all(np.isfinite(pts)):
            raise ValueError(f"{self.kind}: non-finite point")
        object.__setattr__(self, "points_lps_mm", tuple(tuple(float(v) for v in p) for p in pts))

    @property
    def points(self) -> np.ndarray:
        """The points as an ``(n_points, 3)`` LPS mm array (a new array)."""
        return np.array(self.points_lps_mm, dtype=float)

    @property
    def centre_lps_mm(self) -> np.ndarray:
        """Mean of the points (LPS mm): where "jump to" moves the cursor."""
        return self.points.mean(axis=0)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``kind``, ``id``, ``label``, ``points_lps_mm``, ``plane`` and ``image_key`` when set."""
        out = {"kind": self.kind, "id": self.id, "label": self.label,
               "points_lps_mm": [list(p) for p in self.points_lps_mm], "plane": self.plane.to_dict()}
        if self.image_key:
            out["image_key"] = self.image_key
        return out

    def belongs_to(self, image: ImageVolume | None) -> bool:
        """True when the measurement was drawn on ``image`` (or on an unidentified image)."""
        return not self.image_key or image is None or image_key(image) in ("", self.image_key)


@dataclass(frozen=True)
class Ruler(Measurement):
    """A straight distance between two points."""

    kind: ClassVar[str] = "ruler"
    title: ClassVar[str] = "Ruler"
    n_points: ClassVar[int] = 2

    @property
    def length_mm(self) -> float:
        """Distance between the two points in mm."""
        a, b = self.points
        return float(np.linalg.norm(b - a))


@dataclass(frozen=True)
class Angle(Measurement):
    """The angle at ``points[1]`` (the vertex) between the arms to ``points[0]`` and ``points[2]``."""

    kind: ClassVar[str] = "angle"
    title: ClassVar[str] = "Angle"
    n_points: ClassVar[int] = 3

    @property
    def angle_deg(self) -> float:
        """Angle in degrees (0–180); NaN while an arm has zero length."""
        a, v, b = self.points
        u, w = a - v, b - v
        nu, nw = float(np.linalg.norm(u)), float(np.linalg.norm(w))
        if nu < 1e-9 or nw < 1e-9:
            return float("nan")
        # atan2 of |u×w| and u·w stays accurate near 0° and 180° (arccos does not)
        return float(np.degrees(math.atan2(float(np.linalg.norm(np.cross(u, w))), float(u @ w))))


@dataclass(frozen=True)
class EllipseROI(Measurement):
    """The ellipse inscribed in the in-plane rectangle with opposite corners ``points[0]``, ``points[1]``."""

    kind: ClassVar[str] = "ellipse"
    title: ClassVar[str] = "Ellipse ROI"
    n_points: ClassVar[int] = 2


@dataclass(frozen=True)
class RectROI(Measurement):
    """The in-plane rectangle (along the image's rows and columns) with opposite corners ``points[0..1]``."""

    kind: ClassVar[str] = "rectangle"
    title: ClassVar[str] = "Rectangle ROI"
    n_points: ClassVar[int] = 2


#: kind → class (the JSON ``kind`` key).
MEASUREMENT_TYPES: dict[str, type[Measurement]] = {c.kind: c for c in (Ruler, Angle, EllipseROI, RectROI)}
ROI_TYPES = (EllipseROI, RectROI)


def measurement_from_dict(data: dict[str, Any]) -> Measurement:
    """Inverse of :meth:`Measurement.to_dict` (unknown keys are ignored; an unknown kind raises KeyError)."""
    cls = MEASUREMENT_TYPES[str(data["kind"])]
    return cls(tuple(tuple(p) for p in data["points_lps_mm"]), SlicePlane.from_dict(data["plane"]),
               label=str(data.get("label", "")), id=str(data.get("id") or _new_id()),
               image_key=str(data.get("image_key", "")))


def image_key(image: ImageVolume) -> str:
    """Identify an image across sessions: its SeriesInstanceUID, else its source file, else its name."""
    meta = image.metadata
    return str(meta.get("series_uid") or meta.get("source_path") or image.name or "")


# ---------------------------------------------------------------------------- geometry on the image
def _corners_rc(m: Measurement, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Continuous (row, column) indices of a ROI's two corners on its plane."""
    zyx = geometry.lps_to_index_zyx(m.points)
    a, b = m.plane.in_plane_axes_zyx
    return zyx[0, [a, b]], zyx[1, [a, b]]


def pixel_area_mm2(geometry: Geometry, plane: SlicePlane) -> float:
    """Area in mm² of one pixel of the plane (exact for sheared grids too)."""
    a, b = plane.in_plane_axes_zyx
    steps = np.zeros((3, 3))
    steps[1, a] = 1.0
    steps[2, b] = 1.0
    o, pa, pb = geometry.index_zyx_to_lps(steps)
    return float(np.linalg.norm(np.cross(pa - o, pb - o)))


def outline_lps(m: Measurement, geometry: Geometry | None, n_vertices: int = 64) -> np.ndarray:
    """Return the polyline to draw, ``(n, 3)`` LPS mm (closed shapes repeat the first vertex).

    Rulers and angles are their points; ROIs follow the image's rows and columns on the plane
    (a rectangle or the inscribed ellipse), which needs ``geometry`` (without it, the two corners).
    """
    if not isinstance(m, ROI_TYPES) or geometry is None:
        return m.points
    lo, hi = _corners_rc(m, geometry)
    a, b = m.plane.in_plane_axes_zyx
    if isinstance(m, RectROI):
        rc = np.array([[lo[0], lo[1]], [lo[0], hi[1]], [hi[0], hi[1]], [hi[0], lo[1]], [lo[0], lo[1]]])
    else:
        t = np.linspace(0.0, 2.0 * np.pi, n_vertices + 1)
        centre, radii = (lo + hi) / 2.0, (hi - lo) / 2.0
        rc = np.stack([centre[0] + radii[0] * np.cos(t), centre[1] + radii[1] * np.sin(t)], axis=1)
    zyx = np.empty((len(rc), 3))
    zyx[:, m.plane.axis_zyx] = m.plane.slice_index
    zyx[:, a], zyx[:, b] = rc[:, 0], rc[:, 1]
    return geometry.index_zyx_to_lps(zyx)


def measure_roi(m: Measurement, image: ImageVolume) -> RoiStats:
    """Return the statistics of ``image`` inside an ellipse or rectangle ROI (any thread; reads only).

    Raises
    ------
    TypeError
        ``m`` is not a ROI.
    """
    if not isinstance(m, ROI_TYPES):
        raise TypeError(f"{m.kind} has no region statistics")
    geometry = image.geometry
    lo, hi = _corners_rc(m, geometry)
    index = int(np.clip(m.plane.slice_index, 0, geometry.shape_zyx[m.plane.axis_zyx] - 1))
    slice_rc = image.array[(slice(None),) * m.plane.axis_zyx + (index,)]  # a view, no copy
    shape = "ellipse" if isinstance(m, EllipseROI) else "rectangle"
    return roi_stats(slice_rc, lo, hi, shape, pixel_area_mm2(geometry, m.plane))


def _num(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.1f}" if abs(value) < 1e5 else f"{value:.4g}"


def describe(m: Measurement, image: ImageVolume | None = None) -> str:
    """One-line value of a measurement for lists ("12.3 mm", "90.0°", "mean 40.0 HU, SD 1.2, ...")."""
    if isinstance(m, Ruler):
        return f"{m.length_mm:.1f} mm"
    if isinstance(m, Angle):
        return f"{_num(m.angle_deg)}°"
    if image is None:
        return ""
    s = measure_roi(m, image)
    units = f" {image.units}" if image.units else ""
    return (f"mean {_num(s.mean)}{units}, SD {_num(s.sd)}, min {_num(s.min)}, max {_num(s.max)}, "
            f"area {s.area_mm2:.1f} mm²")


def short_text(m: Measurement, image: ImageVolume | None = None) -> str:
    """The label drawn next to a measurement in a slice view (several lines for ROIs)."""
    if not isinstance(m, ROI_TYPES):
        return describe(m, image)
    if image is None:
        return ""
    s = measure_roi(m, image)
    units = f" {image.units}" if image.units else ""
    return (f"{_num(s.mean)} ± {_num(s.sd)}{units}\nmin {_num(s.min)}  max {_num(s.max)}\n"
            f"{s.area_mm2:.1f} mm²")


# ---------------------------------------------------------------------------- the set
class MeasurementSet(_EventedItems[Measurement]):
    """The measurements of one study, keyed by id; signals ``added``, ``removed``, ``changed(old, new)``.

    :attr:`records` is the JSON form the session folder saves (``Session.measurements``): it is
    kept in step with the items (same order) and also keeps records of kinds this version does
    not know, untouched, so they survive a load/save round trip.
    """

    def __init__(self, items: Iterable[Measurement] | None = None) -> None:
        self.records: list[dict[str, Any]] = []
        self._loading = False
        super().__init__()
        self.added.connect(self._on_added)  # first listener: records are current for every other one
        self.removed.connect(self._on_removed)
        self.changed.connect(self._on_changed)
        for item in items or []:
            self.add(item)

    def _index(self, item_id: str) -> int:
        return next(i for i, r in enumerate(self.records) if r.get("id") == item_id)

    def _on_added(self, item: Measurement) -> None:
        if not self._loading:
            self.records.append(item.to_dict())

    def _on_removed(self, item: Measurement) -> None:
        del self.records[self._index(item.id)]

    def _on_changed(self, old: Measurement, new: Measurement) -> None:
        self.records[self._index(old.id)] = new.to_dict()

    def load_records(self, records: Sequence[dict[str, Any]]) -> None:
        """Replace everything with the measurements of ``records`` (their JSON form, kept as given)."""
        for item in list(self):
            self.remove(item.id)
        self.records.clear()
        self.records.extend(dict(r) for r in records)
        self._loading = True
        try:
            for record in records:
                try:
                    self.add(measurement_from_dict(record))
                except (KeyError, TypeError, ValueError):
                    log.warning("keeping a measurement record this version cannot read: kind %r",
                                record.get("kind"))
        finally:
            self._loading = False

    def set_points(self, item_id: str, points_lps_mm: Sequence[Sequence[float]]) -> Measurement:
        """Move the points of a measurement (emits ``changed``)."""
        return self.update(item_id, points_lps_mm=tuple(tuple(float(v) for v in p) for p in points_lps_mm))
