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
    vtk_to_numpy,
    vtkActor2D,
    vtkCellArray,
    vtkCoordinate,
    vtkImageData,
    vtkPoints,
    vtkPolyData,
    vtkPolyDataMapper2D,
    vtkTextActor,
    vtkTextProperty,
    vtkTextRenderer,
    vtkTexture,
    vtkTexturedActor2D,
)
from render.shader_quad import textured_quad

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
        (cx, cy, cz), half = np.asarray(center_lps, dtype=float).tolist(), float(half_length_mm)
        points = self._points  # plain floats: on every linked slice change, numpy's per-call overhead dominates
        for i, direction in ((0, horizontal_lps), (2, vertical_lps)):
            dx, dy, dz = (half * float(t) for t in direction)
            points.SetPoint(i, cx - dx, cy - dy, cz - dz)
            points.SetPoint(i + 1, cx + dx, cy + dy, cz + dz)
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
    prop = _text_property(rgb, size, bold)
    actor.SetTextProperty(prop)
    getattr(prop, f"SetJustificationTo{justify}")()
    getattr(prop, f"SetVerticalJustificationTo{vertical}")()
    actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    actor.GetPositionCoordinate().SetValue(x, y)
    renderer.AddViewProp(actor)
    return actor


def _text_property(rgb: tuple[float, float, float], size: int, bold: bool) -> vtkTextProperty:
    prop = vtkTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(*rgb)
    prop.SetBold(bold)
    prop.SetShadow(True)
    return prop


def _extent(parts: list[tuple[np.ndarray, int, int]]) -> tuple[int, int, int]:
    """(width, height, line height) px of rasterised ``parts`` (pixels, advance, line) set one after
    another by their advances; the last part's ink may reach past its advance."""
    width = height = line = pen = 0
    for part, advance, part_line in parts:
        width, pen = max(width, pen + part.shape[1]), pen + advance
        height, line = max(height, part.shape[0]), max(line, part_line)
    return width, height, line


class ComposedText:
    """Top-left-anchored text drawn as one textured quad composed from cached rasterisations.

    A ``vtkTextActor`` rasterises its whole string with FreeType whenever it changes: on every scrolled
    slice for a slice counter, ~0.3–0.4 ms of a 4–6 ms frame in software GL (interleaved in-window
    measurement). Here the text's leading part (e.g. "Axial  ") is rasterised once per distinct
    string and a trailing run of digits and "/" is composed from per-character images, each
    rasterised once: a change copies a few glyph images into a small RGBA texture (~0.07 ms with its
    upload). Characters advance by their FreeType advance (the width of the character doubled minus
    the character alone), so a composed counter matches the whole-string layout to about a pixel.

    Parameters
    ----------
    renderer
        The view's renderer (its render window's DPI is used once it has one).
    x, y
        Anchor in normalized viewport coordinates: the text's top-left corner.
    rgb, size, bold
        As for the view's other corner texts (shadowed).
    """

    COMPOSED = frozenset("0123456789/")

    def __init__(self, renderer: vtkRenderer, x: float, y: float, rgb: tuple[float, float, float], size: int,
                 bold: bool = False) -> None:
        self._renderer = renderer
        self.property = _text_property(rgb, size, bold)
        self.text = ""
        self._images: dict[str, tuple[np.ndarray, int, int]] = {}  # string → (rgba rows bottom-up, advance, line h)
        self._image = vtkImageData()
        self._pixels = np.zeros((0, 0, 4), np.uint8)
        self._drawn = ("", 0)  # (name drawn at the left, end of the columns that may hold ink)
        self._texture = vtkTexture()
        self._texture.InterpolateOff()
        self._texture.SetInputData(self._image)
        quad = textured_quad()
        self._points = quad.GetPoints()  # display px relative to the anchor, set when the texture grows
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(quad)
        self.actor = vtkTexturedActor2D()
        self.actor.SetMapper(mapper)
        self.actor.SetTexture(self._texture)
        self.actor.PickableOff()
        self.actor.VisibilityOff()
        self.actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.actor.GetPositionCoordinate().SetValue(x, y)
        renderer.AddViewProp(self.actor)

    def _dpi(self) -> int:
        window = self._renderer.GetRenderWindow()
        return int(window.GetDPI()) if window is not None else 72

    def _rasterised(self, text: str) -> tuple[np.ndarray, int, int]:
        """(RGBA pixels, advance px, line height px) of ``text``, rasterised once."""
        cached = self._images.get(text)
        if cached is None:
            renderer, dpi = vtkTextRenderer.GetInstance(), self._dpi()
            image, dims = vtkImageData(), [0, 0]
            if not renderer.RenderString(self.property, text, image, dims, dpi):
                raise RuntimeError(f"FreeType could not render {text!r}")
            w, h, _ = image.GetDimensions()
            pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(h, w, -1)[:, :, :4]
            inked = np.nonzero(pixels[:, :, 3].any(axis=0))[0]
            pixels = pixels[:, :int(inked[-1]) + 1 if inked.size else 0].copy()  # without the power-of-two padding
            advance = dims[0]
            if len(text) == 1:  # the pen's advance, not the ink width: "xx" minus "x"
                box1, box2 = [0] * 4, [0] * 4
                renderer.GetBoundingBox(self.property, text, box1, dpi)
                renderer.GetBoundingBox(self.property, text * 2, box2, dpi)
                advance = max(1, (box2[1] - box2[0]) - (box1[1] - box1[0]))
            cached = self._images[text] = (pixels, advance, dims[1])
        return cached

    def _composed(self, run: str) -> tuple[np.ndarray, int, int]:
        """(RGBA pixels, advance px, line height px) of ``run`` composed from its characters' images
        exactly as :meth:`set_text` places them; composed once per distinct run."""
        key = "\0" + run  # no rasterised text starts with NUL
        cached = self._images.get(key)
        if cached is None:
            parts = [self._rasterised(c) for c in run]
            width, height, line = _extent(parts)
            pixels = np.zeros((height, width, 4), np.uint8)
            pen = 0
            for part, advance, _ in parts:
                h, w = part.shape[:2]
                np.maximum(pixels[:h, pen:pen + w], part, out=pixels[:h, pen:pen + w])  # shadows overlap
                pen += advance
            cached = self._images[key] = (pixels, pen, line)
        return cached

    def set_text(self, text: str) -> None:
        """Show ``text`` (\"\" hides it). GUI thread."""
        if text == self.text:
            return
        self.text = text
        if not text:
            self.actor.VisibilityOff()
            return
        cut = len(text)
        while cut > 0 and text[cut - 1] in self.COMPOSED:
            cut -= 1
        run = text[cut:]
        slash = run.rfind("/")  # "151/300": the digits change per slice, the "/300" after them does not
        tail = [self._composed(run[slash:])] if slash >= 0 else []
        head = run[:slash] if slash >= 0 else run
        parts = ([self._rasterised(text[:cut])] if cut else []) + [self._rasterised(c) for c in head] + tail
        width, height, line = _extent(parts)
        pixels = self._pixels
        if pixels.shape[0] < height or pixels.shape[1] < width:  # grow (rarely): a new texture image and quad
            pixels = self._pixels = np.zeros((height, max(width, 2 * pixels.shape[1]), 4), np.uint8)
            self._image = vtkImageData()
            self._image.SetDimensions(pixels.shape[1], pixels.shape[0], 1)
            self._scalars = numpy_to_vtk(pixels.reshape(-1, 4), deep=False)
            self._image.GetPointData().SetScalars(self._scalars)
            self._texture.SetInputData(self._image)
            w, h = pixels.shape[1], pixels.shape[0]
            for i, (px, py) in enumerate(((0, -line), (w, -line), (w, h - line), (0, h - line))):
                self._points.SetPoint(i, px, py, 0.0)  # rows bottom-up; the text line's top at the anchor
            self._points.Modified()
            self._drawn = ("", 0)
        first, pen = 0, 0
        prefix = text[:cut]
        if cut and self._drawn[0] == prefix:  # the same name: only the composed run is drawn again
            first, pen = 1, parts[0][1]
        pixels[:, pen:max(self._drawn[1], pen)] = 0
        if first and parts[0][0].shape[1] > pen:  # the name's ink reaching past its advance
            part = parts[0][0][:, pen:pixels.shape[1]]
            np.maximum(pixels[:part.shape[0], pen:pen + part.shape[1]], part,
                       out=pixels[:part.shape[0], pen:pen + part.shape[1]])
        end = pen
        for part, advance, _ in parts[first:]:
            h, w = part.shape[:2]
            w = min(w, pixels.shape[1] - pen)
            np.maximum(pixels[:h, pen:pen + w], part[:, :w], out=pixels[:h, pen:pen + w])  # shadows overlap
            end = max(end, pen + w)
            pen += advance
        self._drawn = (prefix, end)  # the name drawn at the left; columns [0, end) may hold ink
        self._scalars.Modified()
        self._image.Modified()
        self.actor.VisibilityOn()

    def close(self) -> None:
        """Remove the prop from the renderer."""
        self._renderer.RemoveViewProp(self.actor)


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
        self.title = ComposedText(renderer, 0.01, 0.99, title_rgb, 14, bold=True)  # changes on every slice
        self.footer = _text(renderer, 0.01, 0.01, "Left", "Bottom", (0.85, 0.85, 0.85), 12)
        self.note = _text(renderer, 0.01, 0.94, "Left", "Top", (1.0, 0.75, 0.3), 12)  # under the title

    def set_letters(self, letters: dict[str, str]) -> None:
        """Set the ``left``/``right``/``top``/``bottom`` orientation letters."""
        for edge, actor in self.letters.items():
            actor.SetInput(letters.get(edge, ""))
        self._request_render()

    def set_title(self, text: str) -> None:
        """Set the top-left text (view name and slice n/N)."""
        self.title.set_text(text)
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
        for actor in (*self.letters.values(), self.title.actor, self.footer, self.note):
            self._renderer.RemoveViewProp(actor)
