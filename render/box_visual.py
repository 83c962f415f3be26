"""Box visuals: outlines of a :class:`~app.model.annotations.BoxSet` in slice views, wireframes in 3D.

:class:`BoxSliceVisual` draws, on one slice view's displayed plane, each box that plane meets
(:mod:`app.model.box_geometry`: the section polygon of a 3D box, a 2D box only on its own slice
and orientation) with a short label. Like the measurements and the crosshair, the props are
``vtkActor2D`` in world coordinates (LPS mm), drawn over the image.
:class:`BoxWireframeVisual` draws every box's 12 edges in the 3D view.

Styles by review status: ``manual`` / ``accepted`` / ``edited`` solid; ``proposed`` dashed;
``rejected`` dashed and dimmed, or hidden (``show_rejected``). The selected box is drawn thicker,
with its resize handles (:func:`app.model.box_geometry.handles`). Colours come from ``color_of``
(label id → 0–1 RGB, e.g. from a label table), else :data:`DEFAULT_PALETTE`. Both visuals rebuild
on the set's ``added`` / ``removed`` / ``changed`` signals (a few dozen boxes) and then call the
widget's coalescing ``request_render``. Never imports Qt; GUI thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from app.model import box_geometry as bg
from app.model.labels import GENERIC_ANATOMY_COLORS
from render._vtk import (
    numpy_to_vtk,
    vtkActor,
    vtkActor2D,
    vtkCellArray,
    vtkCoordinate,
    vtkPoints,
    vtkPolyData,
    vtkPolyDataMapper,
    vtkPolyDataMapper2D,
    vtkTextActor,
)

if TYPE_CHECKING:
    from app.model.annotations import Box, BoxSet
    from app.model.geometry import Geometry
    from render._vtk import vtkRenderer

log = logging.getLogger(__name__)

RGB = tuple[float, float, float]
#: label id → colour when no ``color_of`` is given: Slicer's GenericAnatomyColors, brightened for lines.
DEFAULT_PALETTE: tuple[RGB, ...] = tuple(
    tuple(min(1.0, 0.25 + c / 255.0) for c in rgb) for _, rgb in GENERIC_ANATOMY_COLORS)  # type: ignore[misc]
#: Dash and gap of proposed / rejected outlines, in screen pixels.
DASH_PX, GAP_PX = 7.0, 5.0
REJECTED_DIM = 0.45
HANDLE_PX = 8.0
MAX_DASHES = 400
SELECTED_RGB = (1.0, 0.85, 0.2)


def default_color(label_id: int) -> RGB:
    """Palette colour of a label id (0–1 RGB)."""
    return DEFAULT_PALETTE[(int(label_id) - 1) % len(DEFAULT_PALETTE)]


def style_of(box: Box) -> str:
    """Line style of a box: "solid", "dashed" (proposed) or "dim" (rejected)."""
    status = box.provenance.status
    return "dashed" if status == "proposed" else "dim" if status == "rejected" else "solid"


def _dashes(polyline: np.ndarray, dash_mm: float, gap_mm: float, closed: bool) -> list[np.ndarray]:
    """Cut a polyline into dashes of ``dash_mm`` separated by ``gap_mm`` (a dash may turn a corner).

    At most ``MAX_DASHES`` dashes: the period grows for very long outlines.
    """
    pts = np.vstack([polyline, polyline[:1]]) if closed else np.asarray(polyline, float)
    cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    total = float(cum[-1])
    if total <= 0:
        return []
    period = max(dash_mm + gap_mm, total / MAX_DASHES, 1e-9)
    dash = period * dash_mm / max(dash_mm + gap_mm, 1e-12)

    def at(s: float) -> np.ndarray:
        return np.array([np.interp(s, cum, pts[:, a]) for a in range(3)])

    out = []
    for start in np.arange(0.0, total, period):
        end = min(total, start + dash)
        inner = [pts[i] for i in range(len(pts)) if start < cum[i] < end]
        out.append(np.stack([at(start), *inner, at(end)]))
    return out


class _Lines:
    """A polydata of coloured line segments / vertices and its 2D (world-coordinate) or 3D actor."""

    def __init__(self, renderer: vtkRenderer, *, three_d: bool, width: float, point_size: float = 0.0) -> None:
        self.polydata = vtkPolyData()
        if three_d:
            mapper = vtkPolyDataMapper()
            self.actor = vtkActor()
            self.actor.GetProperty().LightingOff()
        else:
            coordinate = vtkCoordinate()
            coordinate.SetCoordinateSystemToWorld()
            mapper = vtkPolyDataMapper2D()
            mapper.SetTransformCoordinate(coordinate)
            self.actor = vtkActor2D()
        mapper.SetInputData(self.polydata)
        mapper.SetScalarModeToUseCellData()
        mapper.SetColorModeToDirectScalars()
        self.actor.SetMapper(mapper)
        self.actor.GetProperty().SetLineWidth(width)
        if point_size:
            self.actor.GetProperty().SetPointSize(point_size)
        renderer.AddViewProp(self.actor)
        self._empty = False
        self.set([], [], verts=bool(point_size))

    def set(self, pieces: list[np.ndarray], rgb: list[RGB], *, verts: bool = False) -> None:
        """Replace the content: one cell per piece (a polyline, or a single vertex when ``verts``)."""
        if not pieces and self._empty:
            return  # still nothing to draw: a slice change with no boxes touches no VTK object
        self._empty = not pieces
        cells, start = vtkCellArray(), 0
        for piece in pieces:
            cells.InsertNextCell(len(piece), list(range(start, start + len(piece))))
            start += len(piece)
        xyz = np.concatenate(pieces) if pieces else np.zeros((0, 3))
        points = vtkPoints()
        points.SetData(numpy_to_vtk(np.ascontiguousarray(xyz, dtype=np.float64), deep=True))
        self.polydata.SetPoints(points)
        if verts:
            self.polydata.SetVerts(cells)
        else:
            self.polydata.SetLines(cells)
        colors = numpy_to_vtk((np.asarray(rgb, float).reshape(-1, 3) * 255).round().astype(np.uint8), deep=True)
        colors.SetName("colors")
        self.polydata.GetCellData().SetScalars(colors)
        self.polydata.Modified()


class _BoxSetFollower:
    """Common part: follow a BoxSet's signals, colours, names, selection and the rejected toggle."""

    def __init__(self, request_render: Callable[[], None]) -> None:
        self._request_render = request_render
        self.boxes: BoxSet | None = None
        self.selected_id: str | None = None
        self.show_rejected = True
        self.color_of: Callable[[int], RGB] = default_color
        self.name_of: Callable[[int], str] = lambda label_id: f"label {label_id}"

    def set_boxes(self, boxes: BoxSet | None) -> None:
        """Follow ``boxes`` (None: draw nothing)."""
        if self.boxes is not None:
            self._disconnect()
        self.boxes = boxes
        if boxes is not None:
            for signal in (boxes.added, boxes.removed, boxes.changed):
                signal.connect(self._on_boxes_event)
        self.rebuild()

    def set_labels(self, color_of: Callable[[int], RGB] | None = None,
                   name_of: Callable[[int], str] | None = None) -> None:
        """Set label id → colour (0–1 RGB) and label id → name ("" or None: the box's note, else "label N")."""
        self.color_of = color_of or default_color
        self.name_of = name_of or (lambda label_id: f"label {label_id}")
        self.rebuild()

    def set_selected(self, box_id: str | None) -> None:
        """Highlight one box (None: none)."""
        if box_id != self.selected_id:
            self.selected_id = box_id
            self.rebuild()

    def set_show_rejected(self, show: bool) -> None:
        """Draw rejected boxes dimmed and dashed (True) or not at all (False)."""
        self.show_rejected = bool(show)
        self.rebuild()

    def _visible_boxes(self) -> list[Box]:
        return [b for b in (self.boxes or []) if self.show_rejected or b.provenance.status != "rejected"]

    def _rgb(self, box: Box) -> RGB:
        try:
            rgb = tuple(float(c) for c in self.color_of(box.label_id))
        except Exception:  # noqa: BLE001 - an unknown label must not break drawing
            rgb = default_color(box.label_id)
        if box.id == self.selected_id:
            return SELECTED_RGB
        return tuple(c * REJECTED_DIM for c in rgb) if style_of(box) == "dim" else rgb  # type: ignore[return-value]

    def _on_boxes_event(self, *_: object) -> None:
        self.rebuild()

    def rebuild(self) -> None:  # overridden
        """Redraw from the set."""

    def _disconnect(self) -> None:
        assert self.boxes is not None
        for signal in (self.boxes.added, self.boxes.removed, self.boxes.changed):
            signal.disconnect(self._on_boxes_event, missing_ok=True)


class BoxSliceVisual(_BoxSetFollower):
    """Outlines, handles and labels of the boxes on one slice view's displayed plane.

    Parameters
    ----------
    renderer
        The slice view's renderer (world = LPS mm).
    request_render
        Coalescing render request of the widget.
    """

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None]) -> None:
        super().__init__(request_render)
        self._renderer = renderer
        self.geometry: Geometry | None = None
        self.orientation: str | None = None
        self.axis_zyx: int | None = None
        self.slice_index = 0
        self.oblique_plane: tuple[np.ndarray, np.ndarray] | None = None
        self.shown: dict[str, np.ndarray] = {}  # box id → drawn polygon (LPS mm)
        self.lines = _Lines(renderer, three_d=False, width=2.0)
        self.selected_lines = _Lines(renderer, three_d=False, width=3.5)
        self.handles = _Lines(renderer, three_d=False, width=1.0, point_size=HANDLE_PX)
        self.labels: dict[str, vtkTextActor] = {}

    def set_geometry(self, geometry: Geometry | None) -> None:
        """Use the displayed image's grid (None: draw nothing)."""
        self.geometry = geometry
        self.rebuild()

    def set_plane(self, orientation: str | None, axis_zyx: int | None, slice_index: int,
                  oblique_plane: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Show the boxes on slice ``slice_index`` along ``axis_zyx`` of the view ``orientation``.

        ``oblique_plane`` (point, unit normal in LPS) replaces the index plane for a rotated view:
        3D boxes are cut by that plane, 2D boxes and handles are not shown.
        """
        key = (orientation, axis_zyx, int(slice_index),
               None if oblique_plane is None else tuple(np.round(np.concatenate(oblique_plane), 6)))
        old = (self.orientation, self.axis_zyx, self.slice_index,
               None if self.oblique_plane is None else tuple(np.round(np.concatenate(self.oblique_plane), 6)))
        if key != old:
            self.orientation, self.axis_zyx, self.slice_index = orientation, axis_zyx, int(slice_index)
            self.oblique_plane = oblique_plane
            self.rebuild()

    def _mm_per_px(self) -> float:
        window = self._renderer.GetRenderWindow()
        h = window.GetSize()[1] if window is not None else 0
        vy0, vy1 = self._renderer.GetViewport()[1], self._renderer.GetViewport()[3]
        h_px = max(1.0, h * (vy1 - vy0))
        return 2.0 * self._renderer.GetActiveCamera().GetParallelScale() / h_px

    def _polygon(self, box: Box) -> np.ndarray | None:
        if self.geometry is None or self.axis_zyx is None:
            return None
        if self.oblique_plane is not None:
            return bg.plane_section_lps(box, *self.oblique_plane)
        return bg.section_lps(box, self.geometry, self.axis_zyx, self.slice_index, self.orientation)

    def rebuild(self) -> None:
        """Redraw everything from the set (cheap; called on every change)."""
        if not hasattr(self, "lines"):
            return  # during __init__
        visible = self._visible_boxes()
        if not visible and not self.shown and not self.labels:
            return  # nothing drawn, nothing to draw: a slice change of a study without boxes costs nothing
        mm_px = self._mm_per_px()
        self.shown = {}
        pieces: list[np.ndarray] = []
        rgbs: list[RGB] = []
        sel_pieces: list[np.ndarray] = []
        handle_pts: list[np.ndarray] = []
        for box in visible:
            poly = self._polygon(box)
            if poly is None:
                continue
            self.shown[box.id] = poly
            rgb = self._rgb(box)
            closed = len(poly) >= 3
            if box.id == self.selected_id:
                target = sel_pieces
                if self.oblique_plane is None:
                    handle_pts.extend(p[None, :] for p, _, _ in bg.handles(poly, box))
            else:
                target = pieces
            if style_of(box) == "solid":
                segs = [np.vstack([poly, poly[:1]]) if closed else poly]
            else:
                segs = _dashes(poly, DASH_PX * mm_px, GAP_PX * mm_px, closed)
            target.extend(segs)
            if target is pieces:
                rgbs.extend([rgb] * len(segs))
        self.lines.set(pieces, rgbs)
        self.selected_lines.set(sel_pieces, [SELECTED_RGB] * len(sel_pieces))
        self.handles.set(handle_pts, [SELECTED_RGB] * len(handle_pts), verts=True)
        self._update_labels()
        self._request_render()

    def _update_labels(self) -> None:
        for box_id in [i for i in self.labels if i not in self.shown]:
            self._renderer.RemoveViewProp(self.labels.pop(box_id))
        if self.boxes is None:
            return
        for box_id, poly in self.shown.items():
            box = self.boxes[box_id]
            actor = self.labels.get(box_id)
            if actor is None:
                actor = vtkTextActor()
                prop = actor.GetTextProperty()
                prop.SetFontSize(12)
                prop.SetBackgroundColor(0.0, 0.0, 0.0)
                prop.SetBackgroundOpacity(0.5)
                prop.SetVerticalJustificationToBottom()
                actor.GetPositionCoordinate().SetCoordinateSystemToWorld()
                self._renderer.AddViewProp(actor)
                self.labels[box_id] = actor
            actor.SetInput(self.label_text(box))
            actor.GetTextProperty().SetColor(*self._rgb(box))
            # top-left corner of the drawn shape on screen
            camera = self._renderer.GetActiveCamera()
            up = np.array(camera.GetViewUp())
            right = np.cross(np.array(camera.GetDirectionOfProjection()), up)
            anchor = poly[int(np.argmax(poly @ up - 0.3 * (poly @ right)))]
            actor.GetPositionCoordinate().SetValue(*anchor)

    def label_text(self, box: Box) -> str:
        """Short text drawn at a box: label name, confidence of a model box, status when not manual."""
        try:
            table_name = "" if box.label else str(self.name_of(box.label_id) or "")
        except Exception:  # noqa: BLE001 - an unknown label must not break drawing
            table_name = ""
        text = box.label or table_name or box.note or f"label {box.label_id}"
        if box.confidence is not None:
            text += f" {box.confidence:.2f}"
        if box.provenance.status not in ("manual", "accepted"):
            text += f" ({box.provenance.status})"
        return text

    def close(self) -> None:
        """Disconnect from the set and remove every prop."""
        if self.boxes is not None:
            self._disconnect()
            self.boxes = None
        for actor in (self.lines.actor, self.selected_lines.actor, self.handles.actor, *self.labels.values()):
            self._renderer.RemoveViewProp(actor)
        self.labels.clear()


class BoxWireframeVisual(_BoxSetFollower):
    """The 12 edges of every box in the 3D view (world = LPS mm)."""

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None]) -> None:
        super().__init__(request_render)
        self._renderer = renderer
        self.lines = _Lines(renderer, three_d=True, width=2.0)
        self.selected_lines = _Lines(renderer, three_d=True, width=4.0)
        self.n_drawn = 0

    def rebuild(self) -> None:
        """Redraw every box's edges (dashed styles are drawn solid here, dimmed for rejected)."""
        if not hasattr(self, "lines"):
            return
        pieces: list[np.ndarray] = []
        rgbs: list[RGB] = []
        sel: list[np.ndarray] = []
        boxes = self._visible_boxes()
        for box in boxes:
            corners = bg.corners_lps(box.lps_min, box.lps_max)
            edges = [np.stack([corners[i], corners[j]]) for i, j in bg.EDGES]
            if box.id == self.selected_id:
                sel.extend(edges)
            else:
                pieces.extend(edges)
                rgbs.extend([self._rgb(box)] * len(edges))
        self.lines.set(pieces, rgbs)
        self.selected_lines.set(sel, [SELECTED_RGB] * len(sel))
        self.n_drawn = len(boxes)
        self._request_render()

    def close(self) -> None:
        """Disconnect from the set and remove the actors."""
        if self.boxes is not None:
            self._disconnect()
            self.boxes = None
        for actor in (self.lines.actor, self.selected_lines.actor):
            self._renderer.RemoveViewProp(actor)
