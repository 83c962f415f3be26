"""``ShaderQuad``: a textured quad whose fragment colour comes from our own GLSL (slice-view layers).

The GL-side slice layers (:mod:`render.image_plane`, :mod:`render.label_plane`) are each one quad
over an index plane: texture coordinates (0, 0)…(1, 1) across the slice, lighting off, VTK's own
texture blending replaced by the layer's fragment code, and raw-byte textures sampled with
``texelFetch``. GUI thread only.
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


def image_2d(array_2d: np.ndarray) -> vtkImageData:
    """Wrap a C-contiguous ``(rows, cols[, components])`` array as ``vtkImageData`` (no copy)."""
    data = vtkImageData()
    rows, cols = array_2d.shape[:2]
    data.SetDimensions(cols, rows, 1)
    components = array_2d.shape[2] if array_2d.ndim == 3 else 1
    data.GetPointData().SetScalars(numpy_to_vtk(array_2d.reshape(rows * cols, components), deep=False))
    return data


def packed_texels(shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, vtkImageData]:
    """A ``(rows, cols)`` buffer of 1- or 2-byte ``dtype`` inside RGBA8 texels, and their image.

    Values sit 4 (1 byte) or 2 (2 bytes) per texel, little-endian, in row order: value ``(i, j)``
    is texel ``(j // per_texel, i)``. RGBA8 is the texture format software GL uploads without a
    conversion (~0.06 ms for 512 KB vs ~0.4 ms for one-channel bytes).
    """
    rows, cols = shape
    per_texel = 4 // np.dtype(dtype).itemsize
    texels = np.zeros((rows, -(-cols // per_texel), 4), np.uint8)
    values = texels.reshape(rows, -1).view(dtype)[:, :cols]
    return values, image_2d(texels)  # the image's array keeps ``texels`` alive


def textured_quad() -> vtkPolyData:
    """One quad: 4 points (to be placed by the caller) with texture coordinates (0, 0), (1, 0), (1, 1),
    (0, 1) in that order, and one polygon through them."""
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
    quad = vtkPolyData()
    quad.SetPoints(points)
    quad.SetPolys(cells)
    quad.GetPointData().SetTCoords(tcoords)
    return quad


def raw_texture(data: vtkImageData) -> vtkTexture:
    """A texture that uploads ``data``'s bytes as they are (no colour mapping, nearest, clamped)."""
    texture = vtkTexture()
    texture.SetInputData(data)
    texture.SetColorModeToDirectScalars()
    texture.InterpolateOff()
    texture.RepeatOff()
    texture.EdgeClampOn()
    texture.MipmapOff()
    return texture


class ShaderQuad:
    """One quad in a renderer, coloured by ``fragment_impl`` (GLSL replacing ``//VTK::Light::Impl``).

    ``actor`` starts hidden; ``uniforms`` holds the custom fragment uniforms. ``translucent``
    quads are drawn after the opaque props and blended over them.
    """

    def __init__(self, renderer, fragment_impl: str, *, translucent: bool = False) -> None:
        self._renderer = renderer
        self._base_corners = np.zeros((4, 3))  # the points' LPS mm; the actor is translated from them
        self.polydata = textured_quad()
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(self.polydata)
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        if translucent:
            self.actor.ForceTranslucentOn()
        self.actor.PickableOff()
        self.actor.VisibilityOff()
        self.actor.GetProperty().LightingOff()
        shader = self.actor.GetShaderProperty()
        shader.AddFragmentShaderReplacement("//VTK::Light::Impl", True, fragment_impl, False)
        shader.AddFragmentShaderReplacement("//VTK::TCoord::Impl", True, "", False)  # our own sampling only
        self.uniforms = shader.GetFragmentCustomUniforms()
        renderer.AddActor(self.actor)

    def set_texture(self, name: str, texture: vtkTexture) -> None:
        """Make ``texture`` the sampler ``name`` of the fragment code."""
        self.actor.GetProperty().SetTexture(name, texture)

    def set_corners(self, corners_lps: np.ndarray) -> None:
        """Put the quad's corners (texture (0,0), (1,0), (1,1), (0,1)) at ``corners_lps`` (4, 3) LPS mm.

        Corners that are the current quad shifted as a whole (the next slice of the same plane, a
        depth offset) only translate the actor: a modified polydata makes VTK regenerate the layer's
        shader source before the next frame (~1 ms in software GL), a moved actor costs nothing.
        """
        corners = np.asarray(corners_lps, float)
        shift = corners - self._base_corners
        if np.abs(shift - shift[0]).max() <= 1e-6 * (1.0 + np.abs(corners).max()):
            self.actor.SetPosition(*shift[0])
            return
        points = self.polydata.GetPoints()
        for i, corner in enumerate(corners):
            points.SetPoint(i, *corner)
        points.Modified()
        self.polydata.Modified()
        self._base_corners = corners.copy()
        self.actor.SetPosition(0.0, 0.0, 0.0)

    @property
    def corners_lps(self) -> np.ndarray:
        """The quad's corners as drawn, (4, 3) LPS mm."""
        return self._base_corners + np.array(self.actor.GetPosition())

    def close(self) -> None:
        """Remove the actor from the renderer."""
        self._renderer.RemoveActor(self.actor)
