"""``ImagePlaneLayer``: one grey-scale image slice as a textured quad, windowed by a fragment shader.

A slice view on a native index plane draws its image this way
(:class:`~render.slice_visual.ImageSliceVisual`): the displayed 2-D slice is copied into an int16
buffer and uploaded as raw bytes, two voxels per RGBA8 texel, and the fragment shader decodes the exact values
with ``texelFetch``, interpolates (bilinear or nearest, like ``vtkImageProperty``) and maps
``level ± window / 2`` to black…white. int16 (CT), (u)int8 and uint16 voxels travel exactly
(uint16 shifted by −32768); other types are stored as ``round((v − offset) / scale)`` over the
image's value range (65,536 levels, far below what a display shows) and the shader applies
``scale``/``offset`` back (:func:`value_mapping`).

A slice change is one upload of the raw slice (512 KB for a 512×512 CT slice; straight from the
volume when the slice's bytes already have the texture's layout, else after a copy);
window/level, interpolation and every redraw are per-pixel work on the GL side (llvmpipe in
software), with no CPU reslice or colour mapping per slice. Tests compare it with VTK's reslice
mapper pixel for pixel.

The quad covers the slice's voxels edge to edge (:func:`render.index_plane.plane_corners_lps`), so
voxel ``(row i, col j)`` of the slice is texel ``(i, j)`` and its centre is where VTK's reslice
mapper draws it. GUI thread only.
"""

from __future__ import annotations

import numpy as np

from render._vtk import vtkImageData
from render.index_plane import PlaneCorners
from render.shader_quad import ShaderQuad, SliceTexels, raw_texture

_FRAGMENT = """//VTK::Light::Impl
  // int16 codes packed two per RGBA8 texel (little-endian bytes: the one texture format software GL
  // uploads without converting); voxel (row i, col j) is texel (j / 2, i), bytes 2(j % 2) and 2(j % 2)+1.
#define IMAGE_BYTE(t, c) floor(dot(t, vec4(equal(ivec4(c), ivec4(0, 1, 2, 3)))) * 255.0 + 0.5)
#define IMAGE_CODE(t, c) (IMAGE_BYTE(t, c) + 256.0 * IMAGE_BYTE(t, c + 1))
  ivec2 size = ivec2(sliceSize);
  vec2 p = tcoordVCVSOutput * sliceSize - 0.5;  // voxel space, centres at integers
  ivec2 i0 = linearInterpolation > 0.5 ? ivec2(floor(p)) : ivec2(floor(p + 0.5));
  vec2 f = linearInterpolation > 0.5 ? p - floor(p) : vec2(0.0);
  ivec2 q00 = clamp(i0, ivec2(0), size - 1);
  ivec2 q11 = clamp(i0 + ivec2(1), ivec2(0), size - 1);
  vec4 t0 = texelFetch(imageBytes, ivec2(q00.x / 2, q00.y), 0);
  vec4 t1 = texelFetch(imageBytes, ivec2(q11.x / 2, q00.y), 0);
  vec4 t2 = texelFetch(imageBytes, ivec2(q00.x / 2, q11.y), 0);
  vec4 t3 = texelFetch(imageBytes, ivec2(q11.x / 2, q11.y), 0);
  int c0 = 2 * (q00.x % 2);
  int c1 = 2 * (q11.x % 2);
  vec4 u = vec4(IMAGE_CODE(t0, c0), IMAGE_CODE(t1, c1), IMAGE_CODE(t2, c0), IMAGE_CODE(t3, c1));
  vec4 v = (u - 65536.0 * step(32768.0, u)) * valueMapping.x + valueMapping.y;
  float value = mix(mix(v.x, v.y, f.x), mix(v.z, v.w, f.x), f.y);
  float grey = clamp((value - (windowLevel.y - 0.5 * windowLevel.x)) / windowLevel.x, 0.0, 1.0);
  gl_FragData[0] = vec4(vec3(grey), 1.0);
"""


def value_mapping(array: np.ndarray) -> tuple[float, float]:
    """``(scale, offset)`` with which int16 codes ``c`` stand for the voxel values ``c * scale + offset``.

    (1, 0) for int16, (u)int8; (1, 32768) for uint16; for other types (1, shift) when their integer
    values span at most 65,536, else the value range spread over the int16 codes. Any thread.
    """
    if array.dtype in (np.int16, np.uint8, np.int8):
        return 1.0, 0.0
    if array.dtype == np.uint16:
        return 1.0, 32768.0
    if not array.size:
        return 1.0, 0.0
    lo, hi = float(np.nanmin(array)), float(np.nanmax(array))
    if np.issubdtype(array.dtype, np.integer) and hi - lo <= 65535:
        return 1.0, lo + 32768.0
    scale = max(hi - lo, 1e-12) / 65535.0
    return scale, lo + 32768.0 * scale


class ImagePlaneLayer:
    """The image slice of an index plane, windowed on the GL side.

    Parameters
    ----------
    renderer
        The slice view's renderer; one opaque actor is added (hidden until :meth:`show_plane`).
    """

    def __init__(self, renderer) -> None:
        self._quad = ShaderQuad(renderer, _FRAGMENT)
        self.actor = self._quad.actor
        self._uniforms = self._quad.uniforms
        self.mapping = (1.0, 0.0)  # (scale, offset): value = code * scale + offset
        self._texture = raw_texture(vtkImageData())
        self._texels = SliceTexels(self._texture, np.int16)  # the displayed slice's int16 codes, as uploaded
        self._quad.set_texture("imageBytes", self._texture)
        self.window_level = (400.0, 40.0)
        self.linear = True
        self._convert = None  # how show_plane turns voxel values into int16 codes (None: they are the codes)
        self._placed: tuple[PlaneCorners, int] | None = None  # the grid and axis the quad's points are for
        self._set_uniforms()

    def set_window_level(self, width: float, level: float) -> None:
        """Map ``level ± width / 2`` (image units) to black…white."""
        self.window_level = (max(float(width), 1e-3), float(level))
        self._set_uniforms()

    def set_interpolation(self, linear: bool) -> None:
        """Bilinear (True) or nearest-neighbour in-plane sampling."""
        self.linear = bool(linear)
        self._set_uniforms()

    def set_value_mapping(self, mapping: tuple[float, float], dtype: np.typing.DTypeLike = np.int16) -> None:
        """``(scale, offset)`` of the image's int16 codes (see :func:`value_mapping`) for voxels of ``dtype``."""
        self.mapping = (float(mapping[0]), float(mapping[1]))
        scale, offset = self.mapping
        dtype = np.dtype(dtype)
        if scale == 1.0 and offset == 0.0 and dtype.itemsize <= 2 and dtype != np.uint16:
            self._convert = None  # int16 / (u)int8: the values themselves
        else:
            def convert(values: np.ndarray, codes: np.ndarray) -> None:
                scaled = (np.asarray(values, np.float64) - offset) / scale
                np.copyto(codes, np.clip(np.rint(np.nan_to_num(scaled, nan=-32768.0)), -32768, 32767),
                          casting="unsafe")
            self._convert = convert
        self._set_uniforms()

    def _set_uniforms(self) -> None:
        self._uniforms.SetUniform2f("windowLevel", list(self.window_level))
        self._uniforms.SetUniformf("linearInterpolation", 1.0 if self.linear else 0.0)
        self._uniforms.SetUniform2f("valueMapping", list(self.mapping))
        self._uniforms.SetUniform2f("sliceSize", [float(self.values.shape[1]), float(self.values.shape[0])])

    @property
    def values(self) -> np.ndarray:
        """The displayed slice as int16 codes (``(rows, cols)``): the volume's own slice when the
        texture reads it in place, else the packed copy."""
        return self._texels.values

    def show_plane(self, volume: np.ndarray, axis: int, index: int, planes: PlaneCorners) -> None:
        """Show plane ``index`` along ``zyx`` axis ``axis`` of ``volume`` (voxel values of the dtype
        given to :meth:`set_value_mapping`) on its quad, whose corners ``planes`` gives.

        An int16 axial slice (a CT's) is uploaded from the volume itself; others are copied (and
        converted) into the texture's buffer first. Scrolling within one axis only moves the quad's
        actor (plain floats); its points are set once per grid and axis.
        """
        if self._texels.show_plane(volume, axis, index, self._convert):
            self._set_uniforms()
        if self._placed is None or self._placed[0] is not planes or self._placed[1] != axis:
            self._quad.set_base_corners(planes.base(axis))
            self._placed = (planes, axis)
        sx, sy, sz = planes.steps[axis]
        self._quad.translate(index * sx, index * sy, index * sz)

    def release(self) -> None:
        """Forget the displayed slice (its image is going away)."""
        self._texels.release()
        self._placed = None

    def close(self) -> None:
        """Remove the actor from the renderer."""
        self._quad.close()
