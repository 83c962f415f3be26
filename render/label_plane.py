"""``LabelPlaneLayer``: one label slice drawn as a textured quad coloured by a fragment shader.

A slice view on a native index plane shows labels this way (:class:`~render.label_visual.LabelSliceVisual`):
the displayed 2-D label slice (256 KB for 512×512 uint8; read in place when its bytes already have
the texture's layout, as an axial slice does, else copied into a buffer first) is uploaded as a
texture, unchanged: label ids, not colours (packed 4 uint8 or 2 uint16 ids per RGBA8
texel, the format software GL uploads fastest: ~0.06 ms vs ~0.4 ms for one-channel bytes). The fragment shader looks
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

from render._vtk import vtkImageData
from render.index_plane import PlaneCorners
from render.shader_quad import ShaderQuad, SliceTexels, image_2d, raw_texture

#: Distance (mm) the quad sits in front of the image slice, towards the camera.
DEPTH_OFFSET_MM = 0.01

#: Colour-table texture width: ids ``v`` sit at texel ``(v % 256, v // 256)``.
LUT_WIDTH = 256

_FRAGMENT = """//VTK::Light::Impl
  // Ids are packed into RGBA8 texels (4 uint8 or 2 little-endian uint16 ids per texel: the one
  // texture format software GL uploads without converting). Integer texel fetches, no loops or
  // arrays: this runs for every pixel of the view (llvmpipe: on the CPU).
#define LABEL_TEXEL(p) texelFetch(labelIds, ivec2((p).x / idsPerTexel, (p).y), 0)
#define LABEL_BYTE(t, c) floor(dot(t, vec4(equal(ivec4(c), ivec4(0, 1, 2, 3)))) * 255.0 + 0.5)
#define LABEL_ID(p) (idsPerTexel == 4 ? LABEL_BYTE(LABEL_TEXEL(p), (p).x % 4) \
    : LABEL_BYTE(LABEL_TEXEL(p), 2 * ((p).x % 2)) + 256.0 * LABEL_BYTE(LABEL_TEXEL(p), 2 * ((p).x % 2) + 1))
  ivec2 size = ivec2(sliceSize);
  ivec2 ij = clamp(ivec2(tcoordVCVSOutput * sliceSize), ivec2(0), size - 1);
  float idv = LABEL_ID(ij);
  if (idv < 0.5) { discard; }
  vec4 rgba = texelFetch(labelColors, ivec2(int(mod(idv, 256.0)), int(idv / 256.0)), 0);
  if (rgba.a <= 0.0) { discard; }
  float edge = 0.0;
  if (outlineOpacity > 0.0) {
    ivec2 hi = size - 1;
    bool differs = LABEL_ID(max(ij - ivec2(1, 0), ivec2(0))) != idv || LABEL_ID(min(ij + ivec2(1, 0), hi)) != idv
        || LABEL_ID(max(ij - ivec2(0, 1), ivec2(0))) != idv || LABEL_ID(min(ij + ivec2(0, 1), hi)) != idv;
    bool border = ij.x == 0 || ij.y == 0 || ij.x == hi.x || ij.y == hi.y;
    edge = (differs || border) ? 1.0 : 0.0;
  }
  float aOutline = edge * outlineOpacity * rgba.a;
  float aFill = fillOpacity * rgba.a;
  float alpha = aOutline + aFill * (1.0 - aOutline);
  if (alpha <= 0.0) { discard; }
  gl_FragData[0] = vec4(rgba.rgb, alpha);
"""


class LabelPlaneLayer:
    """Fill and outline of one index-plane label slice, coloured on the GL side.

    Parameters
    ----------
    renderer
        The slice view's renderer; one blended actor is added (hidden until :meth:`show_plane`), after
        the image quad so that it is drawn over it.
    """

    def __init__(self, renderer) -> None:
        self._quad = ShaderQuad(renderer, _FRAGMENT, blended=True)  # blended over the image quad, drawn before
        self.actor = self._quad.actor
        self._uniforms = self._quad.uniforms
        self.fill_opacity = 0.5
        self.outline_opacity = 1.0
        self._ids_texture = raw_texture(vtkImageData())
        self._texels = SliceTexels(self._ids_texture, np.uint8)  # the displayed slice's ids, as uploaded
        # the grid, axis and camera side the quad's points are for, and their first corner (LPS mm floats)
        self._placed: tuple[PlaneCorners, int, tuple[float, float, float]] | None = None
        self._corner0 = (0.0, 0.0, 0.0)
        self._set_uniforms()
        self.colors = np.zeros((1, LUT_WIDTH, 4), np.uint8)
        self._colors_data = image_2d(self.colors)
        self._colors_texture = raw_texture(self._colors_data)
        self._quad.set_texture("labelIds", self._ids_texture)
        self._quad.set_texture("labelColors", self._colors_texture)

    # ----------------------------------------------------------------- style
    def set_colors(self, rgba: np.ndarray) -> None:
        """Colour table: ``rgba[v]`` (uint8 0–255, alpha 0 = transparent) for label id ``v``."""
        rgba = np.asarray(rgba, np.uint8).reshape(-1, 4)
        rows = max(1, -(-len(rgba) // LUT_WIDTH))
        table = np.zeros((rows, LUT_WIDTH, 4), np.uint8)
        table.reshape(-1, 4)[:len(rgba)] = rgba
        if table.shape != self.colors.shape:
            self.colors = table
            self._colors_data = image_2d(self.colors)
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
        self._uniforms.SetUniformi("idsPerTexel", 4 // self.ids.itemsize)
        self._uniforms.SetUniform2f("sliceSize", [float(self.ids.shape[1]), float(self.ids.shape[0])])

    @property
    def ids(self) -> np.ndarray:
        """The displayed slice's ids (``(rows, cols)``): the labelmap's own slice when the texture
        reads it in place (an axial slice of 4k uint8 / 2k uint16 columns), else the packed copy."""
        return self._texels.values

    # ----------------------------------------------------------------- slice
    def show_plane(self, labels: np.ndarray, axis: int, index: int, planes: PlaneCorners,
                   toward_camera: tuple[float, float, float],
                   focal_lps: tuple[float, float, float] | None = None) -> None:
        """Show plane ``index`` along ``zyx`` axis ``axis`` of the uint8/uint16 id volume ``labels`` on
        its quad (corners from ``planes``); see :meth:`place` for ``toward_camera`` and ``focal_lps``.

        An axial slice is uploaded from the labelmap itself; others are copied into the texture's buffer.
        """
        retyped = labels.dtype != self._texels.dtype
        if retyped:
            self._texels = SliceTexels(self._ids_texture, labels.dtype)
        if self._texels.show_plane(labels, axis, index) or retyped:
            self._set_uniforms()
        self.place(axis, index, planes, toward_camera, focal_lps)

    def place(self, axis: int, index: int, planes: PlaneCorners, toward_camera: tuple[float, float, float],
              focal_lps: tuple[float, float, float] | None = None) -> None:
        """Put the quad on plane ``index`` along ``axis`` (corners from ``planes``), or, given the camera's
        ``focal_lps``, on the parallel plane through it; ``DEPTH_OFFSET_MM`` towards the camera
        (``toward_camera``: unit LPS vector from the plane to the camera).

        Labels on their image's grid lie on the displayed plane already; labels on a coarser grid
        show their nearest slice, which is moved onto the displayed plane so the image never hides it.
        Plain floats per call: the quad's points are set once per grid, axis and camera side.
        """
        tx, ty, tz = (float(v) for v in toward_camera)
        placed = (planes, axis, (tx, ty, tz))
        if self._placed is None or self._placed[0] is not placed[0] or self._placed[1:] != placed[1:]:
            base = planes.base(axis)
            self._quad.set_base_corners(base + np.array((tx, ty, tz)) * DEPTH_OFFSET_MM)
            self._corner0 = tuple(float(v) for v in base[0])
            self._placed = placed
        sx, sy, sz = planes.steps[axis]
        x, y, z = index * sx, index * sy, index * sz
        if focal_lps is not None:
            (fx, fy, fz), (cx, cy, cz) = focal_lps, self._corner0
            along = (fx - cx - x) * tx + (fy - cy - y) * ty + (fz - cz - z) * tz
            x, y, z = x + along * tx, y + along * ty, z + along * tz
        self._quad.translate(x, y, z)

    def refresh(self, slice_2d: np.ndarray, window: tuple[slice, slice]) -> None:
        """The ``(rows, cols)`` ``window`` of ``slice_2d`` (the displayed slice) was edited: copy it
        again (unless the texture reads the slice in place) and re-upload."""
        if not np.may_share_memory(self._texels.values, slice_2d):
            np.copyto(self._texels.values[window], slice_2d[window])
        self._texels.modified()

    def release(self) -> None:
        """Forget the displayed slice (its labelmap is going away)."""
        self._texels.release()
        self._placed = None

    def close(self) -> None:
        """Remove the actor from the renderer."""
        self._quad.close()
