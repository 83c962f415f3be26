"""``MeasureTool``: draw rulers, angles and ROIs with the mouse, in LPS mm on a slice plane.

Not an entry of the label-tool registry (``app.tools.TOOLS``): those tools edit a
``LabelVolume`` through a ``ViewState`` in voxel space, while measurements are continuous points
in LPS mm that go into a :class:`~app.model.measurements.MeasurementSet`. The viewport maps the
mouse to LPS on the displayed plane and calls ``press`` / ``drag`` / ``release`` the same way.

Both drawing styles work: press-drag-release places the next point where the button is released
(a ruler or ROI in one drag), and a click without moving leaves the point for the next click
(click-click ruler, click-click-click angle as in OHIF). Knows nothing of Qt or VTK; GUI thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.model.measurements import MEASUREMENT_TYPES, Measurement, MeasurementSet, SlicePlane

#: Points closer than this (mm) count as the same click.
_SAME_POINT_MM = 1e-3


class MeasureTool:
    """Place the points of one measurement kind ("ruler", "angle", "ellipse", "rectangle").

    Parameters
    ----------
    measurements
        Where new measurements go (added on the first press, updated live while drawing).
    kind
        Key of :data:`~app.model.measurements.MEASUREMENT_TYPES`.
    image_key
        Identity of the displayed image, stored with each new measurement.
    """

    def __init__(self, measurements: MeasurementSet, kind: str, image_key: str = "") -> None:
        if kind not in MEASUREMENT_TYPES:
            raise ValueError(f"unknown measurement kind {kind!r}; use one of {', '.join(MEASUREMENT_TYPES)}")
        self.measurements = measurements
        self.kind = kind
        self.image_key = image_key  # stamped on new measurements (see app.model.measurements.image_key)
        self.current_id: str | None = None  # the measurement being drawn
        self._next = 0  # index of the point the mouse places now
        self._plane: SlicePlane | None = None

    @property
    def drawing(self) -> bool:
        """True while a measurement is unfinished."""
        return self.current_id is not None

    def _current(self) -> Measurement | None:
        if self.current_id is None or self.current_id not in self.measurements:
            self.current_id = None
            return None
        return self.measurements[self.current_id]

    def _place(self, lps_mm: Sequence[float]) -> None:
        m = self._current()
        if m is None:
            return
        pts = m.points
        pts[self._next:] = np.asarray(lps_mm, dtype=float)
        self.measurements.set_points(m.id, pts)

    def press(self, plane: SlicePlane, lps_mm: Sequence[float]) -> None:
        """Start a measurement at ``lps_mm`` on ``plane``, or place its next point."""
        m = self._current()
        if m is not None and plane != self._plane:  # another view or slice: start over there
            self.cancel()
            m = None
        if m is None:
            cls = MEASUREMENT_TYPES[self.kind]
            p = tuple(float(v) for v in lps_mm)
            m = self.measurements.add(cls((p,) * cls.n_points, plane, image_key=self.image_key))
            self.current_id, self._next, self._plane = m.id, 1, plane
        else:
            self._place(lps_mm)

    def drag(self, plane: SlicePlane, lps_mm: Sequence[float]) -> None:
        """Move the point being placed (and the later ones) to ``lps_mm``."""
        if plane == self._plane:
            self._place(lps_mm)

    def release(self, plane: SlicePlane, lps_mm: Sequence[float]) -> Measurement | None:
        """Fix the point being placed if the mouse moved off the previous one; return the finished measurement."""
        m = self._current()
        if m is None or plane != self._plane:
            return None
        self._place(lps_mm)
        m = self.measurements[m.id]
        pts = m.points
        if np.linalg.norm(pts[self._next] - pts[self._next - 1]) > _SAME_POINT_MM:
            self._next += 1
        if self._next >= m.n_points:
            self.current_id = None
            return m
        return None

    def cancel(self) -> None:
        """Remove an unfinished measurement."""
        m = self._current()
        if m is not None:
            self.measurements.remove(m.id)
        self.current_id = None
