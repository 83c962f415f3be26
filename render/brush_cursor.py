"""Editing feedback in a slice view: the brush circle and the Draw/Scissors polyline (world = LPS mm).

A ``vtkActor2D`` with world coordinates, like the crosshair (drawn after the image and the label
overlay, never z-fighting with them). GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from render._vtk import (
    numpy_to_vtk,
    vtkActor2D,
    vtkCellArray,
    vtkCoordinate,
    vtkPoints,
    vtkPolyData,
    vtkPolyDataMapper2D,
)

if TYPE_CHECKING:
    from render._vtk import vtkRenderer

#: Number of vertices of the circle (closed polyline).
N_VERTICES = 64


class _WorldPolylineProp:
    """Common plumbing: a world-coordinate ``vtkActor2D`` drawing ``self.polydata`` in the slice view."""

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None]) -> None:
        self._renderer = renderer
        self._request_render = request_render
        self.polydata = vtkPolyData()
        coordinate = vtkCoordinate()
        coordinate.SetCoordinateSystemToWorld()
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(self.polydata)
        mapper.SetTransformCoordinate(coordinate)
        self.actor = vtkActor2D()
        self.actor.SetMapper(mapper)
        renderer.AddViewProp(self.actor)

    def set_visible(self, visible: bool) -> None:
        """Show or hide the prop."""
        if bool(self.actor.GetVisibility()) != bool(visible):
            self.actor.SetVisibility(bool(visible))
            self._request_render()

    @property
    def visible(self) -> bool:
        """Whether the prop is shown."""
        return bool(self.actor.GetVisibility())

    def close(self) -> None:
        """Remove the prop from the renderer."""
        self._renderer.RemoveViewProp(self.actor)


class BrushCursorVisual(_WorldPolylineProp):
    """A circle that follows the mouse and shows the brush footprint on the slice.

    Parameters
    ----------
    renderer
        The slice view's renderer (world coordinates are LPS mm).
    request_render
        Called after every change; the widget coalesces calls into one ``Render()``.
    """

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None]) -> None:
        super().__init__(renderer, request_render)
        self._points = vtkPoints()
        self._xyz = np.zeros((N_VERTICES, 3))  # LPS mm of the circle's vertices, shared with ``_points``
        self._points.SetData(numpy_to_vtk(self._xyz, deep=False))
        self._offsets = np.zeros((N_VERTICES, 3))
        lines = vtkCellArray()
        lines.InsertNextCell(N_VERTICES + 1, [*range(N_VERTICES), 0])
        self.polydata.SetPoints(self._points)
        self.polydata.SetLines(lines)
        self.actor.GetProperty().SetLineWidth(1.5)
        self.actor.GetProperty().SetColor(1.0, 1.0, 0.3)
        self.actor.GetProperty().SetOpacity(0.9)
        self.actor.VisibilityOff()
        self.center_lps: np.ndarray | None = None
        self.radius_mm = 0.0
        self._shape_key: tuple[float, ...] | None = None

    def set_circle(self, center_lps: np.ndarray, right_lps: np.ndarray, up_lps: np.ndarray, radius_mm: float,
                   rgb: tuple[float, float, float] | None = None) -> None:
        """Draw the circle of ``radius_mm`` around ``center_lps`` in the plane of ``right``/``up`` (unit LPS)."""
        c = np.asarray(center_lps, dtype=float)
        shape_key = (float(radius_mm), *np.round(right_lps, 9), *np.round(up_lps, 9))
        if shape_key != self._shape_key:  # the circle's shape: rebuilt only when radius or plane change
            t = np.linspace(0.0, 2.0 * np.pi, N_VERTICES, endpoint=False)
            self._offsets = radius_mm * (np.cos(t)[:, None] * np.asarray(right_lps, float)
                                         + np.sin(t)[:, None] * np.asarray(up_lps, float))
            self._shape_key = shape_key
        np.add(self._offsets, c, out=self._xyz)  # the buffer VTK's points wrap: one numpy add per mouse move
        self._points.Modified()
        self.polydata.Modified()
        if rgb is not None:
            self.actor.GetProperty().SetColor(*rgb)
        self.center_lps, self.radius_mm = c, float(radius_mm)
        self._request_render()


class PolylineVisual(_WorldPolylineProp):
    """An open or closed polyline in the view plane: the Draw polygon or the Scissors lasso being drawn.

    Parameters
    ----------
    renderer, request_render
        See :class:`BrushCursorVisual`.
    """

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None]) -> None:
        super().__init__(renderer, request_render)
        self.actor.GetProperty().SetLineWidth(2.0)
        self.actor.GetProperty().SetColor(1.0, 1.0, 0.3)
        self.actor.VisibilityOff()
        self.n_points = 0

    def set_points(self, points_lps: np.ndarray, *, closed: bool = False,
                   rgb: tuple[float, float, float] | None = None) -> None:
        """Draw the polyline through ``points_lps`` ((n, 3) LPS mm); hidden when fewer than 2 points."""
        pts = np.asarray(points_lps, dtype=float).reshape(-1, 3)
        self.n_points = len(pts)
        if len(pts) < 2:
            self.set_visible(False)
            return
        points = vtkPoints()
        points.SetNumberOfPoints(len(pts))
        for i, p in enumerate(pts):
            points.SetPoint(i, *p)
        ids = list(range(len(pts))) + ([0] if closed and len(pts) > 2 else [])
        lines = vtkCellArray()
        lines.InsertNextCell(len(ids), ids)
        self.polydata.SetPoints(points)
        self.polydata.SetLines(lines)
        self.polydata.Modified()
        if rgb is not None:
            self.actor.GetProperty().SetColor(*rgb)
        self.actor.VisibilityOn()
        self._request_render()

