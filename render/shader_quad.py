"""``ShaderQuad``: a textured quad whose fragment colour comes from our own GLSL (slice-view layers).

The GL-side slice layers (:mod:`render.image_plane`, :mod:`render.label_plane`) are each one quad
over an index plane: texture coordinates (0, 0)…(1, 1) across the slice, lighting off, VTK's own
texture blending replaced by the layer's fragment code, and raw-byte textures sampled with
``texelFetch``. GUI thread only.
"""

from __future__ import annotations

import numpy as np

from render._vtk import (
    vtkActor,
    vtkCellArray,
    vtkFloatArray,
    vtkImageData,
    vtkPoints,
    vtkPolyData,
    vtkPolyDataMapper,
    vtkTexture,
)


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
        self.polydata = vtkPolyData()
        self.polydata.SetPoints(points)
        self.polydata.SetPolys(cells)
        self.polydata.GetPointData().SetTCoords(tcoords)
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
        """Put the quad's corners (texture (0,0), (1,0), (1,1), (0,1)) at ``corners_lps`` (4, 3) LPS mm."""
        points = self.polydata.GetPoints()
        for i, corner in enumerate(np.asarray(corners_lps, float)):
            points.SetPoint(i, *corner)
        points.Modified()
        self.polydata.Modified()

    def close(self) -> None:
        """Remove the actor from the renderer."""
        self._renderer.RemoveActor(self.actor)
