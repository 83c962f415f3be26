"""``ShaderQuad``: a textured quad whose fragment colour comes from our own GLSL (slice-view layers).

The GL-side slice layers (:mod:`render.image_plane`, :mod:`render.label_plane`) are each one quad
over an index plane: texture coordinates (0, 0)…(1, 1) across the slice, lighting off, VTK's own
texture blending replaced by the layer's fragment code, and raw-byte textures sampled with
``texelFetch``. GUI thread only.
"""

from __future__ import annotations

import sys

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
from render.index_plane import plane_index


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


def in_place_texels(slice_2d: np.ndarray) -> np.ndarray | None:
    """The ``(texels, 4)`` uint8 view of ``slice_2d``'s own bytes laid out as :func:`packed_texels`
    lays out a copy, or None when the slice's memory does not have that layout.

    It has it for a C-contiguous, little-endian 1- or 2-byte slice whose row length is a multiple of
    the values per texel (4 or 2): an axial slice of a CT (512 int16 per row) or of its labelmap.
    A texture over this view uploads straight from the volume, without the copy into a buffer.
    """
    itemsize = slice_2d.dtype.itemsize
    if (itemsize not in (1, 2) or slice_2d.ndim != 2 or not slice_2d.flags.c_contiguous or not slice_2d.size
            or not slice_2d.dtype.isnative or sys.byteorder != "little" or slice_2d.shape[1] % (4 // itemsize)):
        return None
    return slice_2d.view(np.uint8).reshape(-1, 4)


def _read_in_place(scalars, buffer, n_bytes: int) -> None:
    """Make the uint8 ``scalars`` read ``buffer``'s ``n_bytes`` bytes themselves: no copy, and VTK
    never frees them; the array keeps ``buffer`` alive while it reads it (as ``numpy_to_vtk`` does)."""
    scalars.SetVoidArray(buffer, n_bytes, 1)
    scalars._numpy_reference = buffer


class SliceTexels:
    """The bytes a raw texture uploads: a volume slice read in place, or a packed copy of it.

    ``show(slice_2d)`` points :attr:`data` (the texture's input, :func:`raw_texture`) at the slice's
    own memory when :func:`in_place_texels` allows, else copies the values into an owned
    :func:`packed_texels` buffer (``convert`` maps them first, e.g. to int16 codes); either way the
    texture re-uploads at the next frame. :attr:`values` is the ``(rows, cols)`` array drawn.
    GUI thread only.
    """

    def __init__(self, texture: vtkTexture, dtype: np.dtype) -> None:
        self._texture = texture
        self.dtype = np.dtype(dtype)
        self._values, self._owned_data = packed_texels((1, 1), self.dtype)
        self._owned_values = self._values
        self._in_place_data: vtkImageData | None = None  # reused while the slice shape stays
        self.data = self._owned_data
        # show_plane's scrolling path: the volume whose axial slices the texture reads in place, its
        # bytes, one slice's byte count, and the slice shown (None: ``_values`` is what is shown)
        self._volume: np.ndarray | None = None
        self._volume_bytes: memoryview | None = None
        self._slice_nbytes = 0
        self._volume_index: int | None = None
        texture.SetInputData(self.data)

    @property
    def values(self) -> np.ndarray:
        """The ``(rows, cols)`` array drawn: a slice of the volume itself, or the packed copy."""
        if self._volume_index is not None:
            return self._volume[self._volume_index]
        return self._values

    def show_plane(self, volume: np.ndarray, axis: int, index: int, convert=None) -> bool:
        """As :meth:`show` for plane ``index`` along ``zyx`` axis ``axis`` of the 3-D ``volume``.

        Once an axial slice of ``volume`` has been shown in place, the next ones of the same volume
        only re-point the texture's scalars at a slice of the volume's bytes (a memoryview slice: no
        numpy on the scrolling path, which runs with cold caches right after a frame).
        """
        if volume is self._volume and axis == 0 and convert is None:
            nbytes = self._slice_nbytes
            _read_in_place(self.data.GetPointData().GetScalars(),
                           self._volume_bytes[index * nbytes:(index + 1) * nbytes], nbytes)
            self._volume_index = index
            self.modified()
            return False
        reshaped = self.show(volume[plane_index(axis, index)], convert)
        if axis == 0 and convert is None and self.data is self._in_place_data and volume.flags.c_contiguous:
            self._volume, self._volume_index = volume, index
            self._volume_bytes = memoryview(volume.reshape(-1).view(np.uint8))
            self._slice_nbytes = volume[0].nbytes
        return reshaped

    def show(self, slice_2d: np.ndarray, convert=None) -> bool:
        """Make ``slice_2d`` the texture's content; True when its shape changed (uniforms to update)."""
        reshaped = slice_2d.shape != self.values.shape
        self._volume = self._volume_bytes = self._volume_index = None
        texels = in_place_texels(slice_2d) if convert is None and slice_2d.dtype == self.dtype else None
        if texels is not None:
            rows = slice_2d.shape[0]
            if self._in_place_data is None or self._in_place_data.GetDimensions()[:2] != (len(texels) // rows, rows):
                self._in_place_data = image_2d(texels.reshape(rows, -1, 4))
            else:
                _read_in_place(self._in_place_data.GetPointData().GetScalars(), texels, texels.size)
            self.data, self._values = self._in_place_data, slice_2d
        else:
            if slice_2d.shape != self._owned_values.shape:
                self._owned_values, self._owned_data = packed_texels(slice_2d.shape, self.dtype)
            if convert is None:
                np.copyto(self._owned_values, slice_2d, casting="unsafe")
            else:
                convert(slice_2d, self._owned_values)
            self.data, self._values = self._owned_data, self._owned_values
        if self._texture.GetInput() is not self.data:
            self._texture.SetInputData(self.data)
        self.modified()
        return reshaped

    def modified(self) -> None:
        """The values changed in place (an edit of the shown slice): upload them again."""
        self.data.GetPointData().GetScalars().Modified()
        self.data.Modified()

    def release(self) -> None:
        """Stop referring to a volume's slice (the image or labels are going away)."""
        self._in_place_data = None
        self._volume = self._volume_bytes = self._volume_index = None
        self.data, self._values = self._owned_data, self._owned_values
        self._texture.SetInputData(self.data)


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

    ``actor`` starts hidden; ``uniforms`` holds the custom fragment uniforms. A ``blended`` quad's
    fragments (alpha < 1, or discarded) are blended over what was drawn before it, yet it is drawn
    in VTK's opaque pass, in the order the props were added (a label quad added after the image
    quad lies over it): VTK's translucent pass would make the renderer run order-independent
    translucency on every frame (float accumulation buffers cleared, filled and composited: the
    slice view's frame went from 5.1 to 3.4 ms in software GL without it). The render window's
    blending (source alpha over) is on in the opaque pass too.
    """

    def __init__(self, renderer, fragment_impl: str, *, blended: bool = False) -> None:
        self._renderer = renderer
        self._base_corners = np.zeros((4, 3))  # the points' LPS mm; the actor is translated from them
        self.polydata = textured_quad()
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(self.polydata)
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        if blended:  # see the class docstring: blended in the opaque pass, never the translucent one
            self.actor.ForceOpaqueOn()
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

    def set_base_corners(self, corners_lps: np.ndarray) -> None:
        """Put the quad's corners (texture (0,0), (1,0), (1,1), (0,1)) at ``corners_lps`` (4, 3) LPS mm,
        with the actor back at the origin; :meth:`translate` then moves it from there.

        The points are rebuilt only when they differ from the current ones: a modified polydata
        makes VTK regenerate the layer's shader source before the next frame (~1 ms in software
        GL), a moved actor costs nothing. So a layer sets them once per grid and axis and scrolls
        by translating.
        """
        corners = np.asarray(corners_lps, float)
        if not np.array_equal(corners, self._base_corners):
            points = self.polydata.GetPoints()
            for i, corner in enumerate(corners):
                points.SetPoint(i, *corner)
            points.Modified()
            self.polydata.Modified()
            self._base_corners = corners.copy()
        self.actor.SetPosition(0.0, 0.0, 0.0)

    def translate(self, x: float, y: float, z: float) -> None:
        """Draw the quad at its points shifted by (x, y, z) LPS mm: the actor moves, the polydata stays
        (plain floats: this runs per scrolled slice)."""
        self.actor.SetPosition(x, y, z)

    @property
    def corners_lps(self) -> np.ndarray:
        """The quad's corners as drawn, (4, 3) LPS mm."""
        return self._base_corners + np.array(self.actor.GetPosition())

    def close(self) -> None:
        """Remove the actor from the renderer."""
        self._renderer.RemoveActor(self.actor)
