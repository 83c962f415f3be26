"""``LabelSliceVisual``: a segmentation drawn over the image in one slice view (fill and outline).

On a native index plane — every slice view unless its crosshair was rotated — the labels are
drawn by a :class:`~render.label_plane.LabelPlaneLayer`: the displayed 2-D label slice (a numpy
view of ``labels.array``) is copied into a one-slice buffer and uploaded as a texture of ids; a
fragment shader colours it from the label table and draws fill and outline (3D Slicer's display
defaults: fill 0.5, outline 1.0). At the start of each render the visual finds the displayed
plane from the camera; a new plane is one copy + upload, an edit (``labels.changed(box)``)
re-copies only the box's window of the displayed slice, and only when the box crosses it.

On an oblique plane (rotated crosshair) the fill reslices the label volume with the same
``vtkImageResliceMapper`` set-up as :class:`~render.slice_visual.ImageSliceVisual` (slice through
the camera focal point, facing the camera, nearest neighbour), coloured by a ``vtkLookupTable``
built from the :class:`~app.model.labels.LabelTable`; outlines need an index plane and are not
drawn there. Either way no per-view copy of the volume is made.

Everything here runs on the GUI thread (the VTK objects are attached to a window).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from render._vtk import (
    numpy_to_vtk,
    vtkCommand,
    vtkImageData,
    vtkImageProperty,
    vtkImageResliceMapper,
    vtkImageSlice,
    vtkLookupTable,
)
from render.index_plane import PlaneCorners, PlaneFinder, plane_index
from render.label_plane import LabelPlaneLayer

if TYPE_CHECKING:
    from app.model.geometry import Geometry
    from app.model.labels import Box, LabelTable, LabelVolume
    from render._vtk import vtkRenderer

#: Default fill and outline opacities (3D Slicer's segmentation display defaults).
DEFAULT_FILL_OPACITY = 0.5
DEFAULT_OUTLINE_OPACITY = 1.0


def wrap_label_array(array: np.ndarray, geometry: Geometry) -> tuple[vtkImageData, np.ndarray]:
    """Wrap a ``(z, y, x)`` label array as ``vtkImageData`` in LPS mm, sharing memory when possible.

    Parameters
    ----------
    array
        uint8 or uint16 labels, shape ``geometry.shape_zyx``.
    geometry
        Spacing, origin and direction (LPS mm) set on the image data.

    Returns
    -------
    data, flat
        The image data and the flat ``x``-fastest array VTK points at. ``flat`` shares memory with
        ``array`` when it is C-contiguous (the caller must keep ``flat`` referenced as long as
        ``data`` lives); otherwise it is one contiguous copy.

    Notes
    -----
    Any thread may call this for a new, detached image (no window attached).
    """
    flat = np.ascontiguousarray(array).reshape(-1)
    scalars = numpy_to_vtk(flat, deep=False)
    scalars.SetName("labels")
    nz, ny, nx = geometry.shape_zyx
    sz, sy, sx = geometry.spacing_zyx_mm
    data = vtkImageData()
    data.SetDimensions(nx, ny, nz)
    data.SetSpacing(sx, sy, sz)
    data.SetOrigin(*geometry.origin_lps_mm)
    data.SetDirectionMatrix(*geometry.direction)
    data.GetPointData().SetScalars(scalars)
    return data, flat


def label_lookup_table(table: LabelTable, n_values: int | None = None) -> vtkLookupTable:
    """Return an indexed-by-value lookup table: id → segment RGBA (0–1), id 0 and hidden → alpha 0.

    Parameters
    ----------
    table
        Segment colours (0–255) and visibility.
    n_values
        Number of entries (at least ``table.max_id() + 1``); pass ``256`` or ``65536`` to cover
        every value of the array dtype so voxels with ids missing from the table stay transparent.
    """
    lut = vtkLookupTable()
    fill_label_lookup_table(lut, table, n_values)
    return lut


def label_rgba(table: LabelTable, n_values: int | None = None) -> np.ndarray:
    """``(n, 4)`` RGBA in 0–1 indexed by label id: segment colour, alpha 1 (visible) or 0 (hidden, id 0,
    ids missing from ``table``); ``n = max(n_values, table.max_id() + 1, 2)``."""
    n = max(int(n_values or 0), table.max_id() + 1, 2)
    rgba = np.zeros((n, 4), np.float64)
    for seg in table:
        rgba[seg.id, :3] = np.asarray(seg.color_rgb, float) / 255.0
        rgba[seg.id, 3] = 1.0 if seg.visible else 0.0
    return rgba


def fill_label_lookup_table(lut: vtkLookupTable, table: LabelTable, n_values: int | None = None) -> None:
    """Refill ``lut`` in place from ``table`` (see :func:`label_lookup_table`)."""
    rgba = label_rgba(table, n_values)
    n = len(rgba)
    lut.SetNumberOfTableValues(n)
    # Value v lands in entry v: VTK maps [lo, hi] onto n bins of width (hi - lo) / n.
    lut.SetTableRange(-0.5, n - 0.5)
    lut.SetRampToLinear()
    for i in range(n):
        lut.SetTableValue(i, *rgba[i])
    lut.SetNanColor(0.0, 0.0, 0.0, 0.0)
    lut.UseBelowRangeColorOn()  # ids outside the table stay transparent instead of clamping
    lut.SetBelowRangeColor(0.0, 0.0, 0.0, 0.0)
    lut.UseAboveRangeColorOn()
    lut.SetAboveRangeColor(0.0, 0.0, 0.0, 0.0)
    lut.Modified()


def outline_2d(slice_2d: np.ndarray, out: np.ndarray, window: tuple[slice, slice] | None = None) -> None:
    """Write the 1-pixel boundary of every label of ``slice_2d`` into ``out`` (other pixels 0).

    A pixel of label ``L != 0`` is on the outline when one of its 4 in-plane neighbours has another
    value or lies outside the slice. Pure numpy, any thread.

    Parameters
    ----------
    slice_2d
        ``(rows, cols)`` labels.
    out
        ``(rows, cols)`` array of the same dtype, written in place.
    window
        Only recompute this ``(rows, cols)`` window (it is widened by one pixel so neighbours of a
        change are refreshed); None for the whole slice.
    """
    rows, cols = slice_2d.shape
    if window is None:
        r0, r1, c0, c1 = 0, rows, 0, cols
    else:
        r0, r1 = max(0, window[0].start - 1), min(rows, window[0].stop + 1)
        c0, c1 = max(0, window[1].start - 1), min(cols, window[1].stop + 1)
    if r1 <= r0 or c1 <= c0:
        return
    # neighbours one pixel beyond the window; edges of the slice count as "different"
    e0, e1, f0, f1 = max(0, r0 - 1), min(rows, r1 + 1), max(0, c0 - 1), min(cols, c1 + 1)
    s = slice_2d[e0:e1, f0:f1]
    edge = np.zeros(s.shape, bool)
    d = s[1:, :] != s[:-1, :]
    edge[1:, :] |= d
    edge[:-1, :] |= d
    d = s[:, 1:] != s[:, :-1]
    edge[:, 1:] |= d
    edge[:, :-1] |= d
    if e0 == 0:
        edge[0, :] = True
    if e1 == rows:
        edge[-1, :] = True
    if f0 == 0:
        edge[:, 0] = True
    if f1 == cols:
        edge[:, -1] = True
    inner = (slice(r0 - e0, r1 - e0), slice(c0 - f0, c1 - f0))
    out[r0:r1, c0:c1] = np.where(edge[inner], s[inner], 0)


def _reslice_prop(lut: vtkLookupTable, opacity: float) -> tuple[vtkImageResliceMapper, vtkImageProperty,
                                                                   vtkImageSlice]:
    # Same slicing as render/slice_visual.py so the label slice lies exactly on the image slice.
    mapper = vtkImageResliceMapper()
    mapper.SliceFacesCameraOn()
    mapper.SliceAtFocalPointOn()
    mapper.JumpToNearestSliceOn()
    mapper.BorderOn()
    mapper.SetNumberOfThreads(1)  # one slice per frame: threads cost more than they save (slice_visual.py)
    prop = vtkImageProperty()
    prop.SetInterpolationTypeToNearest()
    prop.SetLookupTable(lut)
    prop.UseLookupTableScalarRangeOn()
    prop.SetOpacity(opacity)
    actor = vtkImageSlice()
    actor.SetMapper(mapper)
    actor.SetProperty(prop)
    actor.VisibilityOff()
    return mapper, prop, actor


class LabelSliceVisual:
    """One :class:`~app.model.labels.LabelVolume` over the image of a slice view.

    Create it after the view's :class:`~render.slice_scene.SliceScene`: its props (id 0 transparent)
    are drawn after the image slice's and blended over them (the index-plane quad in the opaque
    pass, in the order the props were added; the oblique fill in the translucent pass). Display
    settings (fill, outline, opacities) live here; per-segment colour and visibility come from
    ``labels.table``.

    Parameters
    ----------
    renderer
        The slice view's renderer (camera driven by :class:`~render.slice_scene.SliceScene`).
    request_render
        Called after every change; the widget coalesces calls into one ``Render()``.

    Notes
    -----
    GUI thread only. The oblique fill shares memory with ``labels.array`` (no copy) and keeps a
    reference to it; the index-plane layer copies one slice. :meth:`close` (or
    ``set_labels(None)``) disconnects from the model.
    """

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None]) -> None:
        self._renderer = renderer
        self._request_render = request_render
        self.lut = vtkLookupTable()
        self.fill_mapper, self.fill_property, self.fill_actor = _reslice_prop(self.lut, DEFAULT_FILL_OPACITY)
        renderer.AddViewProp(self.fill_actor)
        self.plane = LabelPlaneLayer(renderer)
        self.labels: LabelVolume | None = None
        self.data: vtkImageData | None = None
        self._flat: np.ndarray | None = None
        self._wrapped_array: np.ndarray | None = None  # the model array ``data`` was made from
        self._shares_memory = False
        self.visible = True
        self.fill_visible = True
        self.outline_visible = True
        self._outline_opacity = DEFAULT_OUTLINE_OPACITY
        # the index plane the layer shows: (slice axis zyx, index), and edited windows to copy again
        self._plane_key: tuple[int, int] | None = None
        self._plane_dirty: list[tuple[slice, slice]] = []
        self._finder: PlaneFinder | None = None
        self._planes: PlaneCorners | None = None
        self._displayed: tuple[int, int] | None = None  # displayed_slice() for camera MTime + labels
        self._displayed_stamp: tuple[int, int] | None = None
        self._placed_for = -1  # camera MTime the quad was placed for
        self._update_plane_opacities()
        self._observer = renderer.AddObserver(vtkCommand.StartEvent, self._on_renderer_start)

    # ------------------------------------------------------------------ model
    def set_labels(self, labels: LabelVolume | None) -> None:
        """Show ``labels`` (shared, not copied) or nothing when None; reconnects model signals."""
        self._disconnect()
        self.labels = labels
        self._plane_key = None
        self.plane.release()  # the texture may read the previous labelmap's slice in place
        if labels is None:
            self.data = self._flat = None
            self.fill_mapper.RemoveAllInputConnections(0)
            self._update_visibility()
            self._request_render()
            return
        self._wrap()
        self._finder = PlaneFinder(labels.geometry)
        self._planes = PlaneCorners(labels.geometry)
        self._refill_lut()
        labels.changed.connect(self._on_labels_changed)
        labels.table.changed.connect(self._on_table_changed)
        self._update_visibility()
        self._request_render()

    def _wrap(self) -> None:
        assert self.labels is not None
        arr = self.labels.array
        self.data, self._flat = wrap_label_array(arr, self.labels.geometry)
        self._wrapped_array = arr
        self._shares_memory = bool(np.shares_memory(self._flat, arr))
        self.fill_mapper.SetInputData(self.data)
        self._plane_key = None  # copy the displayed slice again on the next render

    def _disconnect(self) -> None:
        if self.labels is not None:
            self.labels.changed.disconnect(self._on_labels_changed)
            self.labels.table.changed.disconnect(self._on_table_changed)

    def _refill_lut(self) -> None:
        assert self.labels is not None
        n_values = 256 if self.labels.array.dtype == np.uint8 else self.labels.table.max_id() + 1
        fill_label_lookup_table(self.lut, self.labels.table, n_values)
        self.plane.set_colors(np.rint(label_rgba(self.labels.table, n_values) * 255).astype(np.uint8))

    def _on_labels_changed(self, box: Box) -> None:
        """Partial update: mark the shared scalars modified; re-copy the box's window of the shown slice."""
        labels = self.labels
        if labels is None:
            return
        if labels.array is not self._wrapped_array:  # uint8 → uint16 promotion replaced the array
            self._wrap()
            self._refill_lut()
        elif not self._shares_memory:  # a non-contiguous model array: refresh our copy in the box
            assert self._flat is not None
            self._flat.reshape(labels.array.shape)[box] = labels.array[box]
        assert self.data is not None
        self.data.GetPointData().GetScalars().Modified()
        self.data.Modified()
        if self._plane_key is not None:
            axis, index = self._plane_key
            if box[axis].start <= index < box[axis].stop:
                self._plane_dirty.append(tuple(b for a, b in enumerate(box) if a != axis))  # type: ignore[arg-type]
        if not self._change_misses_view(box):
            self._request_render()

    def _change_misses_view(self, box: Box) -> bool:
        """True when the view shows one index plane and ``box`` does not cross it (no render needed).

        A paint stroke in one view then redraws only the views whose plane it touches. Oblique
        views (camera not along an index axis) always redraw.
        """
        key = self.displayed_slice()  # None on an oblique view
        if key is None:
            return False
        axis, index = key
        return not box[axis].start <= index < box[axis].stop

    def _on_table_changed(self, label_id: int) -> None:
        if self.labels is None:
            return
        self._refill_lut()
        self._request_render()

    # --------------------------------------------------------------- display
    def set_visible(self, visible: bool) -> None:
        """Show or hide the whole segmentation in this view."""
        self.visible = bool(visible)
        self._update_visibility()
        self._request_render()

    def set_fill(self, visible: bool, opacity: float | None = None) -> None:
        """Show or hide the filled label area; ``opacity`` in 0–1 (None keeps the current one)."""
        self.fill_visible = bool(visible)
        if opacity is not None:
            self.fill_property.SetOpacity(float(np.clip(opacity, 0.0, 1.0)))
        self._update_visibility()
        self._request_render()

    def set_outline(self, visible: bool, opacity: float | None = None) -> None:
        """Show or hide the 1-voxel segment outlines (index planes only); ``opacity`` in 0–1 (None keeps it)."""
        self.outline_visible = bool(visible)
        if opacity is not None:
            self._outline_opacity = float(np.clip(opacity, 0.0, 1.0))
        self._update_visibility()
        self._request_render()

    @property
    def fill_opacity(self) -> float:
        """Opacity (0–1) of the fill."""
        return float(self.fill_property.GetOpacity())

    @property
    def outline_opacity(self) -> float:
        """Opacity (0–1) of the outline."""
        return self._outline_opacity

    @property
    def on_index_plane(self) -> bool:
        """True when the last render drew the labels on an index plane (shader layer, with outlines)."""
        return self._plane_key is not None

    @property
    def drawn(self) -> bool:
        """True when the last render drew something of this segmentation (fill or outline)."""
        return bool(self.fill_actor.GetVisibility() or self.plane.actor.GetVisibility())

    def _update_plane_opacities(self) -> None:
        self.plane.set_opacities(self.fill_opacity if self.fill_visible else 0.0,
                                 self._outline_opacity if self.outline_visible else 0.0)

    def _update_visibility(self) -> None:
        shown = self.visible and self.labels is not None
        if not shown:
            self._plane_key = None  # not kept up to date while hidden: copied again when shown
        self._update_plane_opacities()
        on_plane = self._plane_key is not None
        self.fill_actor.SetVisibility(shown and self.fill_visible and not on_plane)
        self.plane.actor.SetVisibility(shown and on_plane and (self.fill_visible or self.outline_visible))

    # ------------------------------------------------------------ index plane
    def displayed_slice(self) -> tuple[int, int] | None:
        """Return ``(slice axis zyx, index)`` of the index plane the camera shows, or None.

        None when no labels are set, the focal point lies outside the volume along the view
        direction, or the view is oblique (camera not along an index-plane normal: a rotated
        crosshair). The axis is the index axis whose plane normal is closest to the view direction.
        The fill follows oblique planes (it is resliced); the outline is drawn on index planes only.
        """
        if self.labels is None or self._finder is None:
            return None
        camera = self._renderer.GetActiveCamera()
        stamp = (camera.GetMTime(), id(self.labels))
        if stamp != self._displayed_stamp:  # asked several times per paint dab: once per camera move
            self._displayed = self._finder(camera.GetDirectionOfProjection(), camera.GetFocalPoint())
            self._displayed_stamp = stamp
        return self._displayed

    def _on_renderer_start(self, _caller: object, _event: str) -> None:
        """Bring the index-plane layer up to date with the displayed plane (renderer StartEvent, GUI thread)."""
        if not self.visible or self.labels is None:
            return
        key = self.displayed_slice()
        if key is None:
            self._plane_key = None
        elif key != self._plane_key:
            self._show_plane(key)
        else:
            if self._plane_dirty:
                slice_2d = self.labels.array[plane_index(*key)]
                for window in self._plane_dirty:
                    self.plane.refresh(slice_2d, window)
                self._plane_dirty = []
            camera = self._renderer.GetActiveCamera()
            if camera.GetMTime() != self._placed_for:  # same label slice, another image plane (coarser labels)
                self._place(camera)
        self._update_visibility()

    def _show_plane(self, key: tuple[int, int]) -> None:
        assert self.labels is not None and self._planes is not None
        camera = self._renderer.GetActiveCamera()
        dx, dy, dz = camera.GetDirectionOfProjection()
        self.plane.show_plane(self.labels.array, key[0], key[1], self._planes, (-dx, -dy, -dz),
                              camera.GetFocalPoint())
        self._placed_for = camera.GetMTime()
        self._plane_key = key
        self._plane_dirty = []

    def _place(self, camera) -> None:
        assert self._planes is not None and self._plane_key is not None
        dx, dy, dz = camera.GetDirectionOfProjection()
        self.plane.place(*self._plane_key, self._planes, (-dx, -dy, -dz), camera.GetFocalPoint())
        self._placed_for = camera.GetMTime()

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Disconnect from the model, remove the props and the render observer."""
        self._disconnect()
        self._renderer.RemoveObserver(self._observer)
        self._renderer.RemoveViewProp(self.fill_actor)
        self.plane.close()
        self.fill_mapper.RemoveAllInputConnections(0)
        self.labels = None
        self.data = self._flat = self._wrapped_array = None
