"""2-D overlays of a slice view: crosshair lines, orientation letters and corner text.

Overlays are ``vtkActor2D`` props (drawn after the image, never z-fighting with the slice). GUI
thread only.
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
    vtkTextActor,
)

if TYPE_CHECKING:
    from render._vtk import vtkRenderer


class CrosshairVisual:
    """Two lines through the linked cursor, lying in the view plane (world = LPS mm).

    Parameters
    ----------
    renderer, request_render
        See :class:`~render.slice_visual.ImageSliceVisual`.
    horizontal_rgb, vertical_rgb
        0–1 colours of the screen-horizontal and screen-vertical line: the colours of the views
        whose planes those lines are.
    """

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None],
                 horizontal_rgb: tuple[float, float, float], vertical_rgb: tuple[float, float, float]) -> None:
        self._renderer = renderer
        self._request_render = request_render
        self._points = vtkPoints()
        self._points.SetNumberOfPoints(4)
        lines = vtkCellArray()
        lines.InsertNextCell(2, [0, 1])
        lines.InsertNextCell(2, [2, 3])
        self.polydata = vtkPolyData()
        self.polydata.SetPoints(self._points)
        self.polydata.SetLines(lines)
        colors = np.array([horizontal_rgb, vertical_rgb]) * 255
        self._colors = numpy_to_vtk(colors.astype(np.uint8), deep=True)
        self._colors.SetName("colors")
        self.polydata.GetCellData().SetScalars(self._colors)
        coordinate = vtkCoordinate()
        coordinate.SetCoordinateSystemToWorld()
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(self.polydata)
        mapper.SetTransformCoordinate(coordinate)
        mapper.SetScalarModeToUseCellData()
        mapper.SetColorModeToDirectScalars()
        self.actor = vtkActor2D()
        self.actor.SetMapper(mapper)
        self.actor.GetProperty().SetLineWidth(1.0)
        self.actor.GetProperty().SetOpacity(0.8)
        self.actor.VisibilityOff()
        renderer.AddViewProp(self.actor)

    def set_lines(self, center_lps: np.ndarray, horizontal_lps: np.ndarray, vertical_lps: np.ndarray,
                  half_length_mm: float) -> None:
        """Draw two lines through ``center_lps`` along the given LPS unit directions.

        The directions are the intersections of the other two views' planes with this view's
        plane: screen-horizontal and screen-vertical for orthogonal grids, slanted for sheared
        (gantry-tilt) grids.
        """
        c = np.asarray(center_lps, dtype=float)
        h, v = np.asarray(horizontal_lps, dtype=float), np.asarray(vertical_lps, dtype=float)
        for i, p in enumerate((c - h * half_length_mm, c + h * half_length_mm,
                               c - v * half_length_mm, c + v * half_length_mm)):
            self._points.SetPoint(i, *p)
        self._points.Modified()
        self.actor.VisibilityOn()
        self._request_render()

    def set_visible(self, visible: bool) -> None:
        """Show or hide the crosshair."""
        self.actor.SetVisibility(bool(visible))
        self._request_render()

    def close(self) -> None:
        """Remove the prop from the renderer."""
        self._renderer.RemoveViewProp(self.actor)


def _text(renderer: vtkRenderer, x: float, y: float, justify: str, vertical: str,
          rgb: tuple[float, float, float], size: int, bold: bool = False) -> vtkTextActor:
    actor = vtkTextActor()
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(*rgb)
    prop.SetBold(bold)
    prop.SetShadow(True)
    getattr(prop, f"SetJustificationTo{justify}")()
    getattr(prop, f"SetVerticalJustificationTo{vertical}")()
    actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    actor.GetPositionCoordinate().SetValue(x, y)
    renderer.AddViewProp(actor)
    return actor


class AnnotationVisual:
    """Orientation letters at the four edges; a title with a note under it (top left), W/L (bottom left)."""

    _EDGES = {
        "left": (0.01, 0.5, "Left", "Centered"),
        "right": (0.99, 0.5, "Right", "Centered"),
        "top": (0.5, 0.99, "Centered", "Top"),
        "bottom": (0.5, 0.01, "Centered", "Bottom"),
    }

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None],
                 title_rgb: tuple[float, float, float]) -> None:
        self._renderer = renderer
        self._request_render = request_render
        self.letters = {edge: _text(renderer, x, y, j, v, (0.95, 0.85, 0.3), 16, bold=True)
                        for edge, (x, y, j, v) in self._EDGES.items()}
        self.title = _text(renderer, 0.01, 0.99, "Left", "Top", title_rgb, 14, bold=True)
        self.footer = _text(renderer, 0.01, 0.01, "Left", "Bottom", (0.85, 0.85, 0.85), 12)
        self.note = _text(renderer, 0.01, 0.94, "Left", "Top", (1.0, 0.75, 0.3), 12)  # under the title

    def set_letters(self, letters: dict[str, str]) -> None:
        """Set the ``left``/``right``/``top``/``bottom`` orientation letters."""
        for edge, actor in self.letters.items():
            actor.SetInput(letters.get(edge, ""))
        self._request_render()

    def set_title(self, text: str) -> None:
        """Set the top-left text (view name and slice n/N)."""
        self.title.SetInput(text)
        self._request_render()

    def set_footer(self, text: str) -> None:
        """Set the bottom-left text (window/level)."""
        self.footer.SetInput(text)
        self._request_render()

    def set_note(self, text: str) -> None:
        """Set the text under the title (e.g. why overlays are hidden on an oblique plane; "" hides it)."""
        self.note.SetInput(text)
        self._request_render()

    def close(self) -> None:
        """Remove every text prop from the renderer."""
        for actor in (*self.letters.values(), self.title, self.footer, self.note):
            self._renderer.RemoveViewProp(actor)
