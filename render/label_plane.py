"""``LabelPlaneLayer``: one label slice drawn as a textured quad coloured by a fragment shader.

A slice view on a native index plane shows labels this way (:class:`~render.label_visual.LabelSliceVisual`):
the displayed 2-D label slice is copied into a small buffer (256 KB for 512×512 uint8) that is
uploaded as a texture, unchanged: label ids, not colours (uint16 ids as two exact bytes). The fragment shader looks
each id up in a colour-table texture (id → RGBA, hidden segments and id 0 transparent), draws the
fill at the fill opacity and, where one of the 4 in-plane neighbours holds another id (or lies
outside the slice), the outline at the outline opacity — 3D Slicer's fill + outline display. So a
slice change or a paint dab costs one texture upload; colour mapping, outlining and blending run
per pixel on the GL side (llvmpipe in software), with no per-slice colour image, no reslice and
no outline pass in numpy/VTK on the CPU.

The quad covers the slice's voxels edge to edge (index −0.5 … n−0.5 in both in-plane axes, mapped
to LPS mm by the geometry, so any direction matrix is exact) and lies a hair (0.01 mm) towards the
camera from the image slice, so it is drawn over it. Texel ``(i, j)`` is voxel ``(row i, col j)``
of the slice; sampling is nearest (ids are never blended).

GUI thread only (VTK objects of a window).
"""

from __future__ import annotations

import numpy as np

from render._vtk import (
    numpy_to_vtk,
    vtkActor,
    vtkCellArray,
    vtkFloatArray,
    vtkImageData,
    vtkPoints,
    vtkPolyData,
    vtkPolyDataMapper,
    vtkTexture,
)

#: Distance (mm) the quad sits in front of the image slice, towards the camera.
DEPTH_OFFSET_MM = 0.01

#: Colour-table texture width: ids ``v`` sit at texel ``(v % 256, v // 256)``.
LUT_WIDTH = 256

_FRAGMENT = """//VTK::Light::Impl
  // VTK swizzles 1- and 2-channel textures to luminance(-alpha): byte 0 reads as .r, byte 1 as .a
  vec2 tc = tcoordVCVSOutput;
  vec2 texel = 1.0 / vec2(textureSize(labelIds, 0));
  vec4 t = texture(labelIds, tc);
  float idv = floor(t.r * 255.0 + 0.5) + highByte * 256.0 * floor(t.a * 255.0 + 0.5);
  vec4 rgba = texture(labelColors, vec2((mod(idv, 256.0) + 0.5) / 256.0,
                                        (floor(idv / 256.0) + 0.5) / float(textureSize(labelColors, 0).y)));
  float edge = 0.0;
  if (rgba.a > 0.0 && outlineOpacity > 0.0) {
    vec2 n[4] = vec2[4](vec2(texel.x, 0.0), vec2(-texel.x, 0.0), vec2(0.0, texel.y), vec2(0.0, -texel.y));
    for (int k = 0; k < 4; ++k) {
      vec2 q = tc + n[k];
      vec4 u = texture(labelIds, q);
      if (q.x < 0.0 || q.x > 1.0 || q.y < 0.0 || q.y > 1.0 || u.r != t.r || highByte * (u.a - t.a) != 0.0) {
        edge = 1.0;
      }
    }
  }
  float aOutline = edge * outlineOpacity * rgba.a;
  float aFill = fillOpacity * rgba.a;
  float alpha = aOutline + aFill * (1.0 - aOutline);
  if (alpha <= 0.0) { discard; }
  gl_FragData[0] = vec4(rgba.rgb, alpha);
"""


def _texture(data: vtkImageData) -> vtkTexture:
    texture = vtkTexture()
    texture.SetInputData(data)
    texture.SetColorModeToDirectScalars()  # upload the values as they are: ids / RGBA bytes
    texture.InterpolateOff()
    texture.RepeatOff()
    texture.EdgeClampOn()
    texture.MipmapOff()
    return texture


def _image_2d(array_2d: np.ndarray) -> vtkImageData:
    """Wrap a C-contiguous ``(rows, cols[, components])`` array as ``vtkImageData`` (no copy)."""
    data = vtkImageData()
    rows, cols = array_2d.shape[:2]
    data.SetDimensions(cols, rows, 1)
    components = array_2d.shape[2] if array_2d.ndim == 3 else 1
    data.GetPointData().SetScalars(numpy_to_vtk(array_2d.reshape(rows * cols, components), deep=False))
    return data


class LabelPlaneLayer:
    """Fill and outline of one index-plane label slice, coloured on the GL side.

    Parameters
    ----------
    renderer
        The slice view's renderer; one translucent actor is added (hidden until :meth:`show_slice`).
    """

    def __init__(self, renderer) -> None:
        self._renderer = renderer
        points = vtkPoints()
        points.SetNumberOfPoints(4)
        tcoords = vtkFloatArray()
        tcoords.SetNumberOfComponents(2)
        tcoords.SetName("tcoords")
        for st in ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)):
            tcoords.InsertNextTuple(st)
        cells = vtkCellArray()
        cells.InsertNextCell(4)
        for i in range(4):
            cells.InsertCellPoint(i)
        self._quad = vtkPolyData()
        self._quad.SetPoints(points)
        self._quad.SetPolys(cells)
        self._quad.GetPointData().SetTCoords(tcoords)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(self._quad)
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        self.actor.ForceTranslucentOn()  # drawn after the opaque image slice, blended over it
        self.actor.PickableOff()
        self.actor.VisibilityOff()
        prop = self.actor.GetProperty()
        prop.LightingOff()
        shader = self.actor.GetShaderProperty()
        shader.AddFragmentShaderReplacement("//VTK::Light::Impl", True, _FRAGMENT, False)
        shader.AddFragmentShaderReplacement("//VTK::TCoord::Impl", True, "", False)  # our own sampling only
        self._uniforms = shader.GetFragmentCustomUniforms()
        self.ids = np.zeros((1, 1), np.uint8)  # the displayed slice's ids (texture source)
        self._ids_data = _image_2d(self.ids)
        self._ids_texture = _texture(self._ids_data)
        self.colors = np.zeros((1, LUT_WIDTH, 4), np.uint8)
        self._colors_data = _image_2d(self.colors)
        self._colors_texture = _texture(self._colors_data)
        prop.SetTexture("labelIds", self._ids_texture)
        prop.SetTexture("labelColors", self._colors_texture)
        self.fill_opacity = 0.5
        self.outline_opacity = 1.0
        self._set_uniforms()
        renderer.AddActor(self.actor)

    # ----------------------------------------------------------------- style
    def set_colors(self, rgba: np.ndarray) -> None:
        """Colour table: ``rgba[v]`` (uint8 0–255, alpha 0 = transparent) for label id ``v``."""
        rgba = np.asarray(rgba, np.uint8).reshape(-1, 4)
        rows = max(1, -(-len(rgba) // LUT_WIDTH))
        table = np.zeros((rows, LUT_WIDTH, 4), np.uint8)
        table.reshape(-1, 4)[:len(rgba)] = rgba
        if table.shape != self.colors.shape:
            self.colors = table
            self._colors_data = _image_2d(self.colors)
            self._colors_texture.SetInputData(self._colors_data)
        else:
            self.colors[...] = table
            self._colors_data.GetPointData().GetScalars().Modified()
            self._colors_data.Modified()

    def set_opacities(self, fill: float, outline: float) -> None:
        """Fill and outline opacity (0–1; 0 hides that part)."""
        if (float(fill), float(outline)) != (self.fill_opacity, self.outline_opacity):
            self.fill_opacity, self.outline_opacity = float(fill), float(outline)
            self._set_uniforms()  # only on a change: a uniform's MTime may make VTK re-check the shader

    def _set_uniforms(self) -> None:
        self._uniforms.SetUniformf("fillOpacity", self.fill_opacity)
        self._uniforms.SetUniformf("outlineOpacity", self.outline_opacity)
        self._uniforms.SetUniformf("highByte", 1.0 if self.ids.dtype == np.uint16 else 0.0)

    # ----------------------------------------------------------------- slice
    def show_slice(self, slice_2d: np.ndarray, corners_lps: np.ndarray, toward_camera: np.ndarray,
                   focal_lps: np.ndarray | None = None) -> None:
        """Show ``slice_2d`` (``(rows, cols)`` uint8/uint16 ids, copied) on the quad ``corners_lps``.

        ``corners_lps``: (4, 3) LPS mm of the slice's outer corners at (row, col) = (−½, −½),
        (−½, cols−½), (rows−½, cols−½), (rows−½, −½). ``toward_camera``: unit LPS vector pointing
        from the plane to the camera. See :meth:`place` for ``focal_lps``.
        """
        if slice_2d.shape != self.ids.shape or slice_2d.dtype != self.ids.dtype:
            self.ids = np.empty(slice_2d.shape, slice_2d.dtype)
            # 16-bit ids travel as two exact bytes: a 16-bit texture may be stored as half
            # floats, which lose small ids (software GL flushes their subnormals to zero)
            self._ids_data = _image_2d(self.ids if self.ids.dtype == np.uint8
                                       else self.ids.view(np.uint8).reshape(*self.ids.shape, 2))
            self._ids_texture.SetInputData(self._ids_data)
            self._set_uniforms()
        np.copyto(self.ids, slice_2d)
        self._ids_modified()
        self.place(corners_lps, toward_camera, focal_lps)

    def place(self, corners_lps: np.ndarray, toward_camera: np.ndarray, focal_lps: np.ndarray | None = None) -> None:
        """Put the quad on ``corners_lps``, or, given the camera's ``focal_lps``, on the plane through it.

        Labels on their image's grid lie on the displayed plane already; labels on a coarser grid
        show their nearest slice, which is moved onto the displayed plane so the image never hides it.
        """
        toward = np.asarray(toward_camera, float)
        corners = np.asarray(corners_lps, float)
        if focal_lps is not None:
            corners = corners + float((np.asarray(focal_lps, float) - corners[0]) @ toward) * toward
        points = self._quad.GetPoints()
        for i, corner in enumerate(corners + toward * DEPTH_OFFSET_MM):
            points.SetPoint(i, *corner)
        points.Modified()
        self._quad.Modified()

    def refresh(self, slice_2d: np.ndarray, window: tuple[slice, slice]) -> None:
        """Copy the ``(rows, cols)`` ``window`` of ``slice_2d`` (the displayed slice) again and re-upload."""
        np.copyto(self.ids[window], slice_2d[window])
        self._ids_modified()

    def _ids_modified(self) -> None:
        self._ids_data.GetPointData().GetScalars().Modified()
        self._ids_data.Modified()

    def close(self) -> None:
        """Remove the actor from the renderer."""
        self._renderer.RemoveActor(self.actor)
