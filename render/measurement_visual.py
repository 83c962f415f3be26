"""``MeasurementVisual``: rulers, angles and ROIs of a slice view (lines, handles, value labels).

Draws the measurements of a :class:`~app.model.measurements.MeasurementSet` that lie on the
displayed slice (same index axis and slice index as the view) of the image they were drawn on.
Like the crosshair, the props are ``vtkActor2D`` with world coordinates (LPS mm): drawn over the
image, never z-fighting with it.
The whole overlay is rebuilt on every change of the set (a few dozen polylines). Never imports
Qt; GUI thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from app.model.measurements import outline_lps, short_text
from render._vtk import (
    numpy_to_vtk,
    vtkActor2D,
    vtkCellArray,
    vtkCoordinate,
    vtkPoints,
    vtkPolyData,
    vtkPolyDataMapper2D,
    vtkTextActor,
)

if TYPE_CHECKING:
    from app.model.image import ImageVolume
    from app.model.measurements import Measurement, MeasurementSet
    from render._vtk import vtkRenderer

log = logging.getLogger(__name__)

#: 0–1 RGB of measurements, and of the selected ones.
COLOR = (0.3, 0.9, 1.0)
SELECTED_COLOR = (1.0, 0.8, 0.2)
HANDLE_PX = 7.0


def _world_mapper(polydata: vtkPolyData) -> vtkPolyDataMapper2D:
    coordinate = vtkCoordinate()
    coordinate.SetCoordinateSystemToWorld()
    mapper = vtkPolyDataMapper2D()
    mapper.SetInputData(polydata)
    mapper.SetTransformCoordinate(coordinate)
    mapper.SetScalarModeToUseCellData()
    mapper.SetColorModeToDirectScalars()
    return mapper


class MeasurementVisual:
    """Lines, handles and labels of the measurements on one slice view's displayed plane.

    Parameters
    ----------
    renderer
        The slice view's renderer (world = LPS mm).
    request_render
        Coalescing render request of the widget.
    """

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None]) -> None:
        self._renderer = renderer
        self._request_render = request_render
        self.measurements: MeasurementSet | None = None
        self.image: ImageVolume | None = None
        self.axis_zyx: int | None = None
        self.slice_index = 0
        self.selected: set[str] = set()
        self.shown_ids: list[str] = []
        self._drawn_empty = False  # the last rebuild drew nothing (the next empty one can be skipped)
        self.right_lps, self.up_lps = np.array([1.0, 0.0, 0.0]), np.array([0.0, -1.0, 0.0])
        self.lines = vtkPolyData()
        self.handles = vtkPolyData()
        self.line_actor = vtkActor2D()
        self.line_actor.SetMapper(_world_mapper(self.lines))
        self.line_actor.GetProperty().SetLineWidth(2.0)
        self.handle_actor = vtkActor2D()
        self.handle_actor.SetMapper(_world_mapper(self.handles))
        self.handle_actor.GetProperty().SetPointSize(HANDLE_PX)
        self.labels: dict[str, vtkTextActor] = {}
        for actor in (self.line_actor, self.handle_actor):
            renderer.AddViewProp(actor)

    # ---------------------------------------------------------------- inputs
    def set_measurements(self, measurements: MeasurementSet | None) -> None:
        """Follow ``measurements`` (None: draw nothing)."""
        if self.measurements is not None:
            self._disconnect()
        self.measurements = measurements
        if measurements is not None:
            measurements.added.connect(self._on_measurements_event)
            measurements.removed.connect(self._on_measurements_event)
            measurements.changed.connect(self._on_measurements_event)
        self.rebuild()

    def set_image(self, image: ImageVolume | None) -> None:
        """Use ``image`` for ROI outlines (its grid) and label values."""
        self.image = image
        self.rebuild()

    def set_plane(self, axis_zyx: int | None, slice_index: int) -> None:
        """Show the measurements on slice ``slice_index`` along ``axis_zyx`` (None: none)."""
        if (axis_zyx, int(slice_index)) != (self.axis_zyx, self.slice_index):
            self.axis_zyx, self.slice_index = axis_zyx, int(slice_index)
            self.rebuild()

    def set_screen_axes(self, right_lps: np.ndarray, up_lps: np.ndarray) -> None:
        """Screen-right and screen-up unit vectors in LPS (labels go to the right of a shape)."""
        self.right_lps, self.up_lps = np.asarray(right_lps, float), np.asarray(up_lps, float)
        self.rebuild()

    def set_selected(self, ids: set[str] | list[str]) -> None:
        """Highlight the measurements with these ids."""
        self.selected = set(ids)
        self.rebuild()

    def _on_measurements_event(self, *_: object) -> None:
        self.rebuild()

    # ---------------------------------------------------------------- drawing
    def _on_plane(self, m: Measurement) -> bool:
        return self.axis_zyx is not None and m.plane.axis_zyx == self.axis_zyx \
            and m.plane.slice_index == self.slice_index and m.belongs_to(self.image)

    def rebuild(self) -> None:
        """Redraw everything from the set (cheap; called on every change)."""
        items = [m for m in (self.measurements or []) if self._on_plane(m)]
        if not items and self._drawn_empty:
            return  # still nothing on this plane: a slice change with no measurements touches no VTK object
        self._drawn_empty = not items
        geometry = self.image.geometry if self.image is not None else None
        pts: list[np.ndarray] = []
        line_cells, line_rgb, vert_rgb = vtkCellArray(), [], []
        handle_pts: list[np.ndarray] = []
        for m in items:
            rgb = SELECTED_COLOR if m.id in self.selected else COLOR
            outline = outline_lps(m, geometry)
            start = sum(len(p) for p in pts)
            pts.append(outline)
            line_cells.InsertNextCell(len(outline), list(range(start, start + len(outline))))
            line_rgb.append(rgb)
            handle_pts.append(m.points)
            vert_rgb.extend([rgb] * m.n_points)
        self._fill(self.lines, pts, line_cells, line_rgb, lines=True)
        verts = vtkCellArray()
        for i in range(sum(len(p) for p in handle_pts)):
            verts.InsertNextCell(1, [i])
        self._fill(self.handles, handle_pts, verts, vert_rgb, lines=False)
        self._update_labels(items)
        self.shown_ids = [m.id for m in items]
        self._request_render()

    @staticmethod
    def _fill(polydata: vtkPolyData, pts: list[np.ndarray], cells: vtkCellArray, rgb: list, *, lines: bool) -> None:
        points = vtkPoints()
        xyz = np.concatenate(pts) if pts else np.zeros((0, 3))
        points.SetData(numpy_to_vtk(np.ascontiguousarray(xyz, dtype=np.float64), deep=True))
        polydata.SetPoints(points)
        if lines:
            polydata.SetLines(cells)
        else:
            polydata.SetVerts(cells)
        colors = numpy_to_vtk((np.asarray(rgb, dtype=float).reshape(-1, 3) * 255).astype(np.uint8), deep=True)
        colors.SetName("colors")
        polydata.GetCellData().SetScalars(colors)
        polydata.Modified()

    def _update_labels(self, items: list[Measurement]) -> None:
        keep = {m.id for m in items}
        for item_id in [i for i in self.labels if i not in keep]:
            self._renderer.RemoveViewProp(self.labels.pop(item_id))
        for m in items:
            actor = self.labels.get(m.id)
            if actor is None:
                actor = vtkTextActor()
                prop = actor.GetTextProperty()
                prop.SetFontSize(13)
                prop.SetBold(True)
                prop.SetBackgroundColor(0.0, 0.0, 0.0)  # readable over bright bone and over other labels
                prop.SetBackgroundOpacity(0.55)
                prop.SetJustificationToLeft()
                prop.SetVerticalJustificationToBottom()
                actor.GetPositionCoordinate().SetCoordinateSystemToWorld()
                self._renderer.AddViewProp(actor)
                self.labels[m.id] = actor
            try:
                text = short_text(m, self.image)
            except Exception:  # noqa: BLE001 - a label must never break drawing
                log.debug("no label for %s", m.id, exc_info=True)
                text = ""
            actor.SetInput(text)
            actor.GetTextProperty().SetColor(*(SELECTED_COLOR if m.id in self.selected else COLOR))
            anchor = self._label_anchor(m)
            actor.GetPositionCoordinate().SetValue(*anchor)

    def _label_anchor(self, m: Measurement) -> np.ndarray:
        """Where a label goes: the angle's vertex, else the point of the shape farthest screen-right/up."""
        if m.kind == "angle":
            return m.points[1]
        shape = m.points if m.kind == "ruler" else outline_lps(m, self.image.geometry if self.image else None)
        score = shape @ self.right_lps + 0.5 * (shape @ self.up_lps)
        return shape[int(np.argmax(score))]

    def close(self) -> None:
        """Disconnect from the set and remove every prop."""
        if self.measurements is not None:
            self._disconnect()
            self.measurements = None
        for actor in (self.line_actor, self.handle_actor, *self.labels.values()):
            self._renderer.RemoveViewProp(actor)
        self.labels.clear()

    def _disconnect(self) -> None:
        assert self.measurements is not None
        for sig in (self.measurements.added, self.measurements.removed, self.measurements.changed):
            sig.disconnect(self._on_measurements_event, missing_ok=True)
