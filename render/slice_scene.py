"""``SliceScene``: the camera, visuals and mouse math of one 2-D slice view.

The scene owns a renderer's camera: a parallel projection whose focal point lies on the displayed
slice plane (``vtkImageResliceMapper`` slices there) and whose axes come from
:func:`render.orientation.slice_axes`. World coordinates are LPS mm. It never imports Qt; the
widget turns mouse and keys into the calls below. GUI thread only.

Oblique reslicing: :meth:`SliceScene.set_rotations` turns the view's screen axes by a 3×3 LPS
rotation (from crosshair rotation in another view) about the linked cursor. The camera, hence the
reslice plane of the shared volume, follows; no per-view copy is made. A rotated view steps
through planes normal to its view direction (:mod:`render.plane_geometry`), its crosshair lines
are the intersections with the other views' (possibly rotated) planes, and its letters follow the
rotated axes. ``axes.slice_axis_zyx`` still names the native index axis; check :attr:`oblique`
before treating the displayed plane as an index plane.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from render.index_plane import along_row, index_row
from render.orientation import VIEW_COLORS, SliceAxes, ViewKind, is_rotated, rotated_axes, slice_axes
from render.overlays import AnnotationVisual, CrosshairVisual
from render.plane_geometry import slice_range
from render.slice_visual import ImageSliceVisual

if TYPE_CHECKING:
    from render._vtk import vtkRenderer
    from render.image_data import VtkImage

# Which view's colour each crosshair line gets: (screen-horizontal line, screen-vertical line).
_CROSSHAIR_KINDS = {
    ViewKind.AXIAL: (ViewKind.CORONAL, ViewKind.SAGITTAL),
    ViewKind.CORONAL: (ViewKind.AXIAL, ViewKind.SAGITTAL),
    ViewKind.SAGITTAL: (ViewKind.AXIAL, ViewKind.CORONAL),
}

#: Shown on a rotated view: label fills follow the plane; outlines, measurements and edit tools need an index plane.
OBLIQUE_NOTE = "oblique: no outlines, measuring, editing (r resets)"

_TITLES = {ViewKind.AXIAL: "Axial", ViewKind.CORONAL: "Coronal", ViewKind.SAGITTAL: "Sagittal"}


class SliceScene:
    """One axial, coronal or sagittal view of the shared image.

    Parameters
    ----------
    renderer
        The view's renderer (its camera is taken over).
    request_render
        Coalescing render request from the widget.
    kind
        Which orientation this view shows.
    """

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None], kind: ViewKind) -> None:
        self.renderer = renderer
        self.kind = kind
        self._request_render = request_render
        renderer.SetBackground(0.0, 0.0, 0.0)
        self.camera = renderer.GetActiveCamera()
        self.camera.ParallelProjectionOn()
        self.image_visual = ImageSliceVisual(renderer, request_render)
        h_kind, v_kind = _CROSSHAIR_KINDS[kind]
        self.crosshair = CrosshairVisual(renderer, request_render, VIEW_COLORS[h_kind], VIEW_COLORS[v_kind])
        self.annotation = AnnotationVisual(renderer, request_render, VIEW_COLORS[kind])
        self.image: VtkImage | None = None
        self.axes: SliceAxes | None = None
        self._distance_mm = 1000.0
        self._cursor_lps: np.ndarray | None = None
        self.crosshair_visible = True
        self.rotations: dict[ViewKind, np.ndarray] = {k: np.eye(3) for k in _TITLES}
        self._oblique_for: dict | None = None  # the rotations dict ``_oblique_flag`` was computed for
        self._oblique_flag = False
        self._crosshair_dirs: list[np.ndarray] = []
        # (centre, directions, half length) the crosshair lines were last drawn with; they are a
        # world-coordinate 2-D overlay in a parallel projection, so depth along the view does not show
        self._crosshair_drawn: tuple[np.ndarray, list, float] | None = None
        self._oblique_range: tuple[float, float, int] | None = None
        self._index_row: tuple[tuple[float, float, float], float] = ((0.0, 0.0, 0.0), 0.0)
        self._index_stamp: tuple | None = None  # (camera MTime, oblique range) of ``_index``
        self._index_axes: SliceAxes | None = None  # and the axes it was computed with
        self._index = 0
        self.fitted = True  # the slice is fitted to the viewport (no zoom/pan since the last reset)
        self._aspect = 1.0  # viewport width / height when the framing was last set
        self.annotation.set_title(_TITLES[kind])

    # ------------------------------------------------------------------ image
    def set_image(self, image: VtkImage | None) -> None:
        """Show ``image`` centred on its middle slice, or nothing when None."""
        self.image = image
        self.image_visual.set_image(image)
        if image is None:
            self.axes = None
            self.crosshair.set_visible(False)
            self.annotation.set_letters({})
            self.annotation.set_note("")
            self._oblique_range = None
            self.annotation.set_title(_TITLES[self.kind])
            return
        geometry = image.image.geometry
        self.rotations = {k: np.eye(3) for k in _TITLES}
        self._set_axes()
        lo, hi = geometry.bounds_lps_mm()
        self._distance_mm = float(np.linalg.norm(hi - lo)) + 100.0
        center_zyx = (np.array(geometry.shape_zyx) - 1) / 2.0
        self._cursor_lps = geometry.index_zyx_to_lps(np.rint(center_zyx))
        self._place_camera(self._cursor_lps)
        self.reset_view()
        self.set_cursor(self._cursor_lps)
        self._update_title()

    def _set_axes(self) -> None:
        """Lay out this view and its crosshair directions from the geometry and ``self.rotations``."""
        assert self.image is not None
        geometry = self.image.image.geometry
        self.axes = rotated_axes(slice_axes(geometry, self.kind), self.rotations[self.kind])
        self._index_row = index_row(geometry, self.axes.slice_axis_zyx)
        direction = tuple(float(v) for v in self.axes.view_direction_lps)
        self._view_direction = direction
        along = sum(r * d for r, d in zip(self._index_row[0], direction, strict=True))  # slices per mm along it
        self._slice_pitch_mm = 1.0 / along if abs(along) > 1e-12 else 0.0
        # crosshair lines = intersections of the other two views' planes with this one
        n = self.axes.view_direction_lps
        self._crosshair_dirs = []
        for other in _CROSSHAIR_KINDS[self.kind]:
            other_n = self.rotations[other] @ slice_axes(geometry, other).view_direction_lps
            line = np.cross(n, other_n)
            self._crosshair_dirs.append(line / np.linalg.norm(line))
        self._oblique_range = slice_range(geometry, n) if self.oblique else None
        self.annotation.set_letters(self.axes.letters())
        self.annotation.set_note(OBLIQUE_NOTE if self.oblique else "")

    @property
    def oblique(self) -> bool:
        """True when this view's plane is rotated away from its native index plane."""
        if self._oblique_for is not self.rotations:  # cached per rotations dict: asked ~10× per slice change
            self._oblique_flag = is_rotated(self.rotations[self.kind])
            self._oblique_for = self.rotations
        return self._oblique_flag

    def set_rotations(self, rotations: dict[ViewKind, np.ndarray]) -> None:
        """Apply the slice views' plane rotations (3×3 LPS, identity = native index plane).

        This view's own rotation turns its plane and screen axes about the linked cursor (the
        crosshair centre keeps its place on screen); the other views' rotations turn the crosshair
        lines drawn here. Turning back to the identity shows the native slice through the cursor.
        """
        old = self.rotations[self.kind]
        self.rotations = {k: np.array(rotations.get(k, np.eye(3)), dtype=float) for k in _TITLES}
        if self.image is None or self.axes is None:
            return
        self._set_axes()
        centre = self._cursor_lps if self._cursor_lps is not None else self.focal_lps
        delta = self.rotations[self.kind] @ old.T
        focal = centre + delta @ (self.focal_lps - centre)
        self._place_camera(focal)
        if self.oblique:
            self._move_plane_to(centre)
        else:
            self.set_slice_through(centre)
        self._update_title()
        self._draw_crosshair()
        self._request_render()

    @property
    def crosshair_center_lps(self) -> np.ndarray | None:
        """The linked cursor projected on the displayed plane (LPS mm), or None without an image."""
        if self.axes is None or self._cursor_lps is None:
            return None
        return self.project_to_plane(self._cursor_lps)

    @property
    def crosshair_dirs_lps(self) -> list[np.ndarray]:
        """Unit LPS directions of the screen-horizontal and screen-vertical crosshair lines."""
        return list(self._crosshair_dirs)

    def _place_camera(self, focal_lps: np.ndarray) -> None:
        assert self.axes is not None
        focal = np.asarray(focal_lps, dtype=float)
        self.camera.SetFocalPoint(*focal)
        self.camera.SetPosition(*(focal - self.axes.view_direction_lps * self._distance_mm))
        self.camera.SetViewUp(*self.axes.up_lps)
        self.camera.SetClippingRange(1.0, 2.0 * self._distance_mm)

    @property
    def view_direction(self) -> tuple[float, float, float]:
        """Unit view direction (LPS, plain floats) of the displayed plane; set with the image."""
        return self._view_direction

    @property
    def focal_lps(self) -> np.ndarray:
        """The camera focal point in LPS mm (always on the displayed slice plane)."""
        return np.array(self.camera.GetFocalPoint())

    # ------------------------------------------------------------------ slices
    @property
    def n_slices(self) -> int:
        """Number of slices this view can show (0 without an image; oblique: planes across the volume)."""
        if self._oblique_range is not None:
            return self._oblique_range[2]
        return self.axes.n_slices if self.axes else 0

    @property
    def slice_index(self) -> int:
        """The displayed slice along ``axes.slice_axis_zyx`` (0-based; oblique: along the view normal)."""
        if self.image is None or self.axes is None:
            return 0
        stamp = (self.camera.GetMTime(), self._oblique_range)
        if stamp == self._index_stamp and self._index_axes is self.axes:  # asked ~10× per slice change
            return self._index
        if self._oblique_range is not None:
            first, step, n = self._oblique_range
            along = float(self.focal_lps @ self.axes.view_direction_lps)
            index = min(max(round((along - first) / step), 0), n - 1)
        else:
            index = self._index_of(self.focal_lps)
        self._index_stamp, self._index_axes, self._index = stamp, self.axes, index
        return index

    def _index_of(self, lps_mm) -> int:
        """The index-plane slice (clamped) nearest to the point ``lps_mm``: one row of the inverse
        index transform in plain floats (this runs for every view on every cursor move)."""
        assert self.image is not None and self.axes is not None
        return min(max(round(along_row(self._index_row, lps_mm)), 0), self.axes.n_slices - 1)

    def set_slice_index(self, index: int) -> int:
        """Show slice ``index``, clamped to ``[0, n_slices - 1]``; return the slice shown."""
        if self.image is None or self.axes is None:
            return 0
        index = min(max(int(index), 0), self.n_slices - 1)
        if self._oblique_range is not None:
            first, step, _ = self._oblique_range
            d = self.axes.view_direction_lps
            focal = self.focal_lps
            self._move_plane_to(focal + (first + index * step - float(focal @ d)) * d)
            return index
        # the focal point moves along the view direction onto plane ``index``: plain floats (per scrolled slice)
        self._shift_plane((index - along_row(self._index_row, self.camera.GetFocalPoint())) * self._slice_pitch_mm)
        return index

    def step_slice(self, delta: int) -> int:
        """Move ``delta`` slices (clamped); return the slice shown."""
        return self.set_slice_index(self.slice_index + int(delta))

    def set_slice_through(self, lps_mm: np.ndarray) -> int:
        """Show the slice nearest to the point ``lps_mm`` (oblique: the plane through it); return its index."""
        if self.image is None or self.axes is None:
            return 0
        if self._oblique_range is not None:
            self._move_plane_to(np.asarray(lps_mm, dtype=float))
            return self.slice_index
        zyx = self.image.image.geometry.lps_to_index_zyx(lps_mm)
        return self.set_slice_index(int(np.rint(zyx[self.axes.slice_axis_zyx])))

    def project_to_plane(self, lps_mm: np.ndarray) -> np.ndarray:
        """Return the point of the displayed slice plane nearest to ``lps_mm`` (LPS mm).

        Plain floats inside (asked per scrolled slice for the linked cursor)."""
        if self.axes is None:
            return np.asarray(lps_mm, dtype=float)
        px, py, pz = (float(v) for v in lps_mm)
        fx, fy, fz = self.camera.GetFocalPoint()
        dx, dy, dz = self._view_direction
        along = (fx - px) * dx + (fy - py) * dy + (fz - pz) * dz
        return np.array((px + along * dx, py + along * dy, pz + along * dz))

    def _move_plane_to(self, point_on_plane_lps: np.ndarray) -> None:
        assert self.axes is not None
        self._shift_plane(float((np.asarray(point_on_plane_lps) - self.focal_lps) @ self.axes.view_direction_lps))

    def _shift_plane(self, shift_mm: float) -> None:
        """Move the camera ``shift_mm`` along the view direction (the displayed plane with it)."""
        if abs(shift_mm) <= 1e-9:
            return  # the same plane: camera, title and crosshair stay (a camera MTime makes the layers re-check)
        camera, (dx, dy, dz) = self.camera, self._view_direction
        x, y, z = camera.GetFocalPoint()
        x, y, z = x + shift_mm * dx, y + shift_mm * dy, z + shift_mm * dz
        back = self._distance_mm
        camera.SetFocalPoint(x, y, z)  # the rest of _place_camera (view up, clipping) is unchanged
        camera.SetPosition(x - back * dx, y - back * dy, z - back * dz)
        self._update_title()
        if self._cursor_lps is not None and not self._crosshair_current():
            self._draw_crosshair()  # (drawn lines stay right: the plane moved along the view direction only)
        self._request_render()

    # -------------------------------------------------------------- zoom, pan
    def reset_view(self) -> None:
        """Fit the whole slice in the viewport, centred (keeps the slice index)."""
        if self.image is None or self.axes is None:
            return
        geometry = self.image.image.geometry
        z, y, x = (s - 1 for s in geometry.shape_zyx)
        corners = geometry.index_zyx_to_lps(
            np.array([[a, b, c] for a in (-0.5, z + 0.5) for b in (-0.5, y + 0.5) for c in (-0.5, x + 0.5)]))
        center = corners.mean(axis=0)
        r, u = self.axes.right_lps, self.axes.up_lps
        width = float(np.ptp(corners @ r))
        height = float(np.ptp(corners @ u))
        w_px, h_px = self._viewport_size_px()
        aspect = w_px / h_px if h_px > 0 else 1.0
        self.camera.SetParallelScale(0.5 * max(height, width / aspect) * 1.02)
        focal = self.focal_lps
        d = self.axes.view_direction_lps
        focal = center + float((focal - center) @ d) * d  # centre in-plane, keep the slice
        self._place_camera(focal)
        self.fitted, self._aspect = True, aspect
        self._request_render()

    def viewport_resized(self) -> None:
        """Keep a sensible framing after the viewport changed size (layout change, maximise).

        A fitted view is fitted again. A zoomed or panned view keeps its centre and the whole
        region it showed (the parallel scale grows only when the view got relatively narrower),
        so maximising a zoomed view magnifies the same region instead of throwing the zoom away.
        """
        if self.image is None or self.axes is None:
            return
        if self.fitted:
            self.reset_view()
            return
        w_px, h_px = self._viewport_size_px()
        aspect = w_px / h_px if h_px > 0 else 1.0
        scale = self.camera.GetParallelScale()
        self.camera.SetParallelScale(max(scale, scale * self._aspect / aspect))
        self._aspect = aspect
        self._request_render()

    def _viewport_size_px(self) -> tuple[int, int]:
        window = self.renderer.GetRenderWindow()
        if window is None:
            return 1, 1
        w, h = window.GetSize()
        vx0, vy0, vx1, vy1 = self.renderer.GetViewport()
        return max(1, round(w * (vx1 - vx0))), max(1, round(h * (vy1 - vy0)))

    def zoom(self, factor: float) -> None:
        """Magnify by ``factor`` (> 1 zooms in) about the viewport centre."""
        if factor > 0:
            self.camera.SetParallelScale(self.camera.GetParallelScale() / factor)
            self._user_framed()
            self._request_render()

    def _user_framed(self) -> None:
        w_px, h_px = self._viewport_size_px()
        self.fitted, self._aspect = False, (w_px / h_px if h_px > 0 else 1.0)

    def pan(self, display_dx: float, display_dy: float) -> None:
        """Move the image by a display-pixel offset (VTK display coordinates, y up)."""
        if self.axes is None:
            return
        mm_per_px = 2.0 * self.camera.GetParallelScale() / self._viewport_size_px()[1]
        shift = (display_dx * self.axes.right_lps + display_dy * self.axes.up_lps) * mm_per_px
        self._place_camera(self.focal_lps - shift)
        self._user_framed()
        self._request_render()

    def centre_on(self, lps_mm: np.ndarray) -> None:
        """Pan (zoom unchanged) so that ``lps_mm``, projected onto the displayed plane, is in the centre."""
        if self.axes is None:
            return
        self._place_camera(self.project_to_plane(np.asarray(lps_mm, dtype=float)))
        self._user_framed()
        self._request_render()

    # ------------------------------------------------------------- picking
    def display_to_lps(self, display_xy: tuple[float, float]) -> np.ndarray:
        """Return the LPS point on the slice plane under a display pixel (VTK display, y up)."""
        ren = self.renderer
        focal = self.focal_lps
        ren.SetWorldPoint(*focal, 1.0)
        ren.WorldToDisplay()
        depth = ren.GetDisplayPoint()[2]
        ren.SetDisplayPoint(float(display_xy[0]), float(display_xy[1]), depth)
        ren.DisplayToWorld()
        wx, wy, wz, ww = ren.GetWorldPoint()
        point = np.array([wx, wy, wz]) / (ww if ww else 1.0)
        if self.axes is not None:
            d = self.axes.view_direction_lps
            point = point - float((point - focal) @ d) * d
        return point

    def lps_to_display(self, lps_mm: np.ndarray) -> tuple[float, float]:
        """Return the VTK display position (y up) of an LPS point."""
        self.renderer.SetWorldPoint(*np.asarray(lps_mm, dtype=float), 1.0)
        self.renderer.WorldToDisplay()
        x, y, _ = self.renderer.GetDisplayPoint()
        return float(x), float(y)

    # ---------------------------------------------------------- cursor, W/L
    def set_cursor(self, lps_mm: np.ndarray, *, move_slice: bool = True) -> bool:
        """Move the linked cursor; optionally show the slice through it. Return False when the displayed
        plane certainly stayed where it was (the cursor lies on it), True when it may have moved."""
        self._cursor_lps = np.asarray(lps_mm, dtype=float)
        moved = move_slice and not (self._oblique_range is None and self.axes is not None and self.image is not None
                                    and self._index_of(self._cursor_lps) == self.slice_index)
        if moved:
            self.set_slice_through(self._cursor_lps)  # not on the displayed index plane
        self._draw_crosshair()
        return moved

    def set_crosshair_visible(self, visible: bool) -> None:
        """Show or hide the crosshair lines (the linked cursor keeps moving)."""
        self.crosshair_visible = bool(visible)
        self.crosshair.set_visible(self.crosshair_visible and self.axes is not None)
        if self.crosshair_visible:
            self._draw_crosshair()

    def _draw_crosshair(self) -> None:
        if self.axes is None or self._cursor_lps is None or not self.crosshair_visible:
            return
        d = self.axes.view_direction_lps
        on_plane = self._cursor_lps - float((self._cursor_lps - self.focal_lps) @ d) * d
        drawn = self._crosshair_drawn
        if self._crosshair_current():
            step = on_plane - drawn[0]
            if float(np.abs(step - float(step @ d) * d).max()) <= 1e-9:
                return  # moved along the view direction only (this view scrolled): the same lines on screen
        self._crosshair_drawn = (on_plane, self._crosshair_dirs, self._distance_mm)
        self.crosshair.set_lines(on_plane, *self._crosshair_dirs, self._distance_mm)

    def _crosshair_current(self) -> bool:
        """True when the crosshair lines drawn are for this view's layout and zoom (then only a cursor
        move across the view direction changes them)."""
        drawn = self._crosshair_drawn
        return (drawn is not None and drawn[1] is self._crosshair_dirs and drawn[2] == self._distance_mm
                and bool(self.crosshair.actor.GetVisibility()))

    def set_window_level(self, width: float, level: float) -> None:
        """Set the grey-scale window (width, level) in image units."""
        self.image_visual.set_window_level(width, level)
        self.annotation.set_footer(f"W {width:.0f}  L {level:.0f}")

    def _update_title(self) -> None:
        if self.axes is not None:
            name = f"{_TITLES[self.kind]} (oblique)" if self.oblique else _TITLES[self.kind]
            self.annotation.set_title(f"{name}  {self.slice_index + 1}/{self.n_slices}")

    def close(self) -> None:
        """Remove every visual from the renderer."""
        self.image_visual.close()
        self.crosshair.close()
        self.annotation.close()
        self.image = None
