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


#: Parts a :class:`ComposedText` draws at most (the name, the counter's characters, its "/N" tail).
MAX_PARTS = 12

# The 2-D mapper declares the texture's sampler under a name of its own ("texture<unit>") and samples it
# once in its TCoord::Impl line; the text's parts are composed in a function that line calls instead.
_COMPOSED_DEC = """//VTK::TCoord::Dec
// The text is parts of one atlas texture set side by side: parts[4j .. 4j+3] = (pen, atlas x,
// width, height) px of part j (width 0: unused). Overlapping parts (shadows) combine by their
// brightest values, as the whole string's rasterisation composes them. Rows bottom-up.
vec4 composedTexel(sampler2D atlas, vec2 st)
{
  ivec2 p = ivec2(floor(st * quadSize));
  vec4 color = vec4(0.0);
  for (int j = 0; j < MAX_PARTS; ++j) {
    ivec4 part = ivec4(parts[4 * j], parts[4 * j + 1], parts[4 * j + 2], parts[4 * j + 3]);
    if (p.x >= part.x && p.x < part.x + part.z && p.y < part.w) {
      color = max(color, texelFetch(atlas, ivec2(part.y + p.x - part.x, p.y), 0));
    }
  }
  return color;
}
""".replace("MAX_PARTS", str(MAX_PARTS))

_COMPOSED_IMPL = """#undef texture2D
#define texture2D(sampler, st) composedTexel(sampler, st)
//VTK::TCoord::Impl
  if (gl_FragData[0].a <= 0.0) { discard; }
"""


class ComposedText:
    """Top-left-anchored text drawn as one quad composed on the GL side from cached rasterisations.

    A ``vtkTextActor`` rasterises its whole string with FreeType whenever it changes: on every scrolled
    slice for a slice counter, ~0.3–0.4 ms of a 4–6 ms frame in software GL (interleaved in-window
    measurement). Here the text's leading part (e.g. "Axial  "), each counter character ("0"…"9",
    "/") and the counter's unchanging tail ("/300" of "151/300") are rasterised once into one atlas
    texture, uploaded when the name or the tail changes; the quad's fragment shader picks, for each
    pixel, the parts that cover it from a uniform array of (pen, atlas x, width, height). A slice
    change sets that array (a few floats): no rasterising, no pixel copying in numpy and no texture
    upload on the scrolling path, which runs with cold caches right after a frame (composing the
    counter into a texture cost ~0.2 ms per slice there). Characters advance by their FreeType
    advance (the width of the character doubled minus the character alone), so the counter matches
    the whole-string layout to about a pixel.

    Parameters
    ----------
    renderer
        The view's renderer (its render window's DPI is used once it has one).
    x, y
        Anchor in normalized viewport coordinates: the text's top-left corner.
    rgb, size, bold
        As for the view's other corner texts (shadowed).
    """

    GLYPHS = "0123456789/"  # the counter's characters: one atlas part each
    COMPOSED = frozenset(GLYPHS)

    def __init__(self, renderer: vtkRenderer, x: float, y: float, rgb: tuple[float, float, float], size: int,
                 bold: bool = False) -> None:
        self._renderer = renderer
        self.property = _text_property(rgb, size, bold)
        self.text = ""
        self._images: dict[str, tuple[np.ndarray, int, int]] = {}  # string → (rgba rows bottom-up, advance, line h)
        self._atlas_for: tuple[str, str] | None = None  # (name, tail) the atlas holds besides the glyphs
        self._atlas_x: dict[str, int] = {}  # part key → its first column in the atlas
        self._atlas_image = vtkImageData()
        self._quad_box = (0, 0, 0)  # (width, height, line) px of the quad
        self._parts = [0.0] * (4 * MAX_PARTS)
        texture = vtkTexture()
        texture.InterpolateOff()
        texture.SetInputData(self._atlas_image)  # one image, refilled: a modified texture rebuilds the shader
        quad = textured_quad()
        self._points = quad.GetPoints()  # display px relative to the anchor
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(quad)
        self.actor = vtkTexturedActor2D()
        self.actor.SetMapper(mapper)
        self.actor.SetTexture(texture)
        self.actor.PickableOff()
        self.actor.VisibilityOff()
        self.actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.actor.GetPositionCoordinate().SetValue(x, y)
        shader = self.actor.GetShaderProperty()
        shader.AddFragmentShaderReplacement("//VTK::TCoord::Dec", True, _COMPOSED_DEC, False)
        shader.AddFragmentShaderReplacement("//VTK::TCoord::Impl", True, _COMPOSED_IMPL, False)
        self._uniforms = shader.GetFragmentCustomUniforms()
        self._uniforms.SetUniform1fv("parts", len(self._parts), self._parts)
        self._uniforms.SetUniform2f("quadSize", [1.0, 1.0])
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
        as the glyph parts would place them; composed once per distinct run."""
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

    def _build_atlas(self, name: str, tail: str) -> None:
        """Put the name, the glyphs and the tail side by side in the atlas texture (uploaded at the next
        frame); grow the quad to fit the name, as many of the widest glyph as "/N" has digits, and the tail."""
        keys = ([name] if name else []) + list(self.GLYPHS) + (["\0" + tail] if tail else [])
        images = [self._composed(k[1:]) if k.startswith("\0") else self._rasterised(k) for k in keys]
        height = max(image.shape[0] for image, _, _ in images)
        atlas = np.zeros((height, sum(image.shape[1] for image, _, _ in images) or 1, 4), np.uint8)
        self._atlas_x, x = {}, 0
        for key, (image, _, _) in zip(keys, images, strict=True):
            atlas[:image.shape[0], x:x + image.shape[1]] = image
            self._atlas_x[key] = x
            x += image.shape[1]
        self._atlas_image.SetDimensions(atlas.shape[1], atlas.shape[0], 1)
        self._atlas_image.GetPointData().SetScalars(numpy_to_vtk(atlas.reshape(-1, 4), deep=False))
        self._atlas_for = (name, tail)
        widest = max(max(image.shape[1], advance) for image, advance, _ in map(self._rasterised, self.GLYPHS))
        name_width, pen = (self._rasterised(name)[0].shape[1], self._rasterised(name)[1]) if name else (0, 0)
        tail_width = self._composed(tail)[0].shape[1] if tail else 0
        width = max(name_width, pen + max(0, len(tail) - 1) * widest + tail_width)
        self._fit_quad(width, height, max(line for _, _, line in images))

    def _fit_quad(self, width: int, height: int, line: int) -> None:
        """Grow the quad to at least ``width`` × ``height`` px and line height ``line``. It only grows,
        and is sized for the longest counter when the atlas is built, so scrolling never touches its
        points (a modified polydata makes VTK rebuild the shader)."""
        w, h, old_line = self._quad_box
        if width <= w and height <= h and line <= old_line:
            return
        w, h, line = max(w, width), max(h, height), max(old_line, line)
        for i, (px, py) in enumerate(((0, -line), (w, -line), (w, h - line), (0, h - line))):
            self._points.SetPoint(i, px, py, 0.0)  # rows bottom-up; the text line's top at the anchor
        self._points.Modified()
        self._uniforms.SetUniform2f("quadSize", [float(w), float(h)])
        self._quad_box = (w, h, line)

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
        tail = run[slash:] if slash >= 0 else ""
        head = run[:slash] if slash >= 0 else run
        if len(head) + 2 > MAX_PARTS:  # more characters than parts: the whole text as one rasterisation
            cut, head, tail = len(text), "", ""
        name = text[:cut]
        if self._atlas_for != (name, tail):
            self._build_atlas(name, tail)
        keys = ([name] if name else []) + list(head) + (["\0" + tail] if tail else [])
        parts, images, atlas_x = self._parts, self._images, self._atlas_x
        pen = width = height = line = 0
        for j, key in enumerate(keys):  # (pen, atlas x, width, height) of each part, left to right
            image, advance, part_line = images[key]
            h, w = image.shape[:2]
            parts[4 * j:4 * j + 4] = (float(pen), float(atlas_x[key]), float(w), float(h))
            width, height, line = max(width, pen + w), max(height, h), max(line, part_line)
            pen += advance
        parts[4 * len(keys):] = [0.0] * (4 * (MAX_PARTS - len(keys)))
        self._fit_quad(width, height, line)
        self._uniforms.SetUniform1fv("parts", len(parts), parts)
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
