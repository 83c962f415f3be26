"""``LabelSliceVisual``: a segmentation drawn over the image in one slice view (fill and outline).

The fill reslices the label volume with the same ``vtkImageResliceMapper`` set-up as
:class:`~render.slice_visual.ImageSliceVisual` (slice through the camera focal point, facing the
camera, nearest native slice, half-voxel border), so labels and image share one geometry: a
slice change is a camera move and no per-view copy of the volume is made. Colours come from a
``vtkLookupTable`` built from the :class:`~app.model.labels.LabelTable` (id 0 and hidden segments
are transparent).

The outline is computed per displayed slice: slice views always show a native index plane
(:mod:`render.orientation`), so the displayed label slice is a numpy view of ``labels.array``. At
the start of each render the visual finds the displayed plane from the camera, and if the plane or
the labels on it changed, it recomputes the 1-voxel in-plane boundary of every segment into a
one-slice ``vtkImageData`` placed on that plane, drawn by a second reslice mapper.

Updates on ``labels.changed(box)`` are partial: the shared scalars are marked ``Modified()`` (the
mapper reslices only the displayed plane), the outline is recomputed only inside the box (plus a
1-voxel margin) and only when the box crosses the displayed slice, and one render is requested.

Everything here runs on the GUI thread (the VTK objects are attached to a window).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

# vtkLookupTable is not yet re-exported by render/_vtk.py (owned by the viewer engineer; move it
# there). Importing render._vtk below still registers the factory overrides and STDThread.
from vtkmodules.vtkCommonCore import vtkLookupTable

from render._vtk import (
    numpy_to_vtk,
    vtkCommand,
    vtkImageData,
    vtkImageProperty,
    vtkImageResliceMapper,
    vtkImageSlice,
)

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


def fill_label_lookup_table(lut: vtkLookupTable, table: LabelTable, n_values: int | None = None) -> None:
    """Refill ``lut`` in place from ``table`` (see :func:`label_lookup_table`)."""
    n = max(int(n_values or 0), table.max_id() + 1, 2)
    rgba = np.zeros((n, 4), np.float64)
    for seg in table:
        rgba[seg.id, :3] = np.asarray(seg.color_rgb, float) / 255.0
        rgba[seg.id, 3] = 1.0 if seg.visible else 0.0
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


def _plane_normals_zyx(geometry: Geometry) -> np.ndarray:
    """Return (3, 3): row ``a`` is the unit LPS normal of the index plane of constant ``zyx[a]``."""
    cols = geometry.direction_matrix.T  # rows: LPS directions of the x, y, z index axes
    normals = np.empty((3, 3))
    for a_xyz in range(3):
        b, c = (i for i in range(3) if i != a_xyz)
        n = np.cross(cols[b], cols[c])
        normals[2 - a_xyz] = n / np.linalg.norm(n)
    return normals


def _plane(axis: int, index: int) -> tuple[int | slice, ...]:
    """Return the index that takes plane ``index`` along ``zyx`` axis ``axis`` as a view."""
    return tuple(index if a == axis else slice(None) for a in range(3))


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

    Create it after the view's :class:`~render.slice_scene.SliceScene`. Its props are translucent
    (id 0 is transparent), so VTK draws them after the opaque image slice, over it. Display
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
    GUI thread only. The fill shares memory with ``labels.array`` (no copy) and keeps a reference
    to it; :meth:`close` (or ``set_labels(None)``) disconnects from the model.
    """

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None]) -> None:
        self._renderer = renderer
        self._request_render = request_render
        self.lut = vtkLookupTable()
        self.fill_mapper, self.fill_property, self.fill_actor = _reslice_prop(self.lut, DEFAULT_FILL_OPACITY)
        self.outline_mapper, self.outline_property, self.outline_actor = _reslice_prop(
            self.lut, DEFAULT_OUTLINE_OPACITY)
        renderer.AddViewProp(self.fill_actor)
        renderer.AddViewProp(self.outline_actor)
        self.labels: LabelVolume | None = None
        self.data: vtkImageData | None = None
        self._flat: np.ndarray | None = None
        self._wrapped_array: np.ndarray | None = None  # the model array ``data`` was made from
        self._shares_memory = False
        self.visible = True
        self.fill_visible = True
        self.outline_visible = True
        # outline of the displayed slice: (slice axis zyx, index) it shows, its buffer and image data
        self.outline_data = vtkImageData()
        self._outline: np.ndarray | None = None
        self._outline_shape: tuple[int, ...] = (0, 0, 0)
        self._outline_key: tuple[int, int] | None = None
        self._outline_dirty: list[tuple[slice, slice]] | None = None  # windows to redo; None = all
        self._normals_zyx: np.ndarray | None = None
        self._observer = renderer.AddObserver(vtkCommand.StartEvent, self._on_renderer_start)

    # ------------------------------------------------------------------ model
    def set_labels(self, labels: LabelVolume | None) -> None:
        """Show ``labels`` (shared, not copied) or nothing when None; reconnects model signals."""
        self._disconnect()
        self.labels = labels
        if labels is None:
            self.data = self._flat = None
            self.fill_mapper.RemoveAllInputConnections(0)
            self.outline_mapper.RemoveAllInputConnections(0)
            self._update_visibility()
            self._request_render()
            return
        self._wrap()
        self._normals_zyx = _plane_normals_zyx(labels.geometry)
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
        self._outline_key = None  # force a full outline on the next render

    def _disconnect(self) -> None:
        if self.labels is not None:
            self.labels.changed.disconnect(self._on_labels_changed)
            self.labels.table.changed.disconnect(self._on_table_changed)

    def _refill_lut(self) -> None:
        assert self.labels is not None
        n_values = 256 if self.labels.array.dtype == np.uint8 else self.labels.table.max_id() + 1
        fill_label_lookup_table(self.lut, self.labels.table, n_values)

    def _on_labels_changed(self, box: Box) -> None:
        """Partial update: mark the shared scalars modified; outline only inside ``box``."""
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
        if self._outline_key is not None and self._outline_dirty is not None:
            axis, index = self._outline_key
            if box[axis].start <= index < box[axis].stop:
                self._outline_dirty.append(tuple(b for a, b in enumerate(box) if a != axis))  # type: ignore[arg-type]
        if not self._change_misses_view(box):
            self._request_render()

    def _change_misses_view(self, box: Box) -> bool:
        """True when the view shows one index plane and ``box`` does not cross it (no render needed).

        A paint stroke in one view then redraws only the views whose plane it touches. Oblique
        views (camera not along an index axis) always redraw.
        """
        key = self.displayed_slice()
        if key is None or self._normals_zyx is None:
            return False
        axis, index = key
        dop = np.array(self._renderer.GetActiveCamera().GetDirectionOfProjection())
        if abs(float(self._normals_zyx[axis] @ dop)) < 0.9999 * float(np.linalg.norm(dop)):
            return False
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
        """Show or hide the 1-voxel segment outlines; ``opacity`` in 0–1 (None keeps the current one)."""
        self.outline_visible = bool(visible)
        if opacity is not None:
            self.outline_property.SetOpacity(float(np.clip(opacity, 0.0, 1.0)))
        self._update_visibility()
        self._request_render()

    @property
    def fill_opacity(self) -> float:
        """Opacity (0–1) of the fill."""
        return float(self.fill_property.GetOpacity())

    @property
    def outline_opacity(self) -> float:
        """Opacity (0–1) of the outline."""
        return float(self.outline_property.GetOpacity())

    def _update_visibility(self) -> None:
        shown = self.visible and self.labels is not None
        if not (shown and self.outline_visible):
            self._outline_key = None  # not kept up to date while hidden: rebuilt when shown again
        self.fill_actor.SetVisibility(shown and self.fill_visible)
        self.outline_actor.SetVisibility(shown and self.outline_visible and self._outline_key is not None)

    # --------------------------------------------------------------- outline
    def displayed_slice(self) -> tuple[int, int] | None:
        """Return ``(slice axis zyx, index)`` of the index plane the camera shows, or None.

        None when no labels are set, the focal point lies outside the volume along the view
        direction, or the view is oblique (camera not along an index-plane normal: a rotated
        crosshair). The axis is the index axis whose plane normal is closest to the view direction.
        The fill follows oblique planes (it is resliced); the outline is drawn on index planes only.
        """
        if self.labels is None or self._normals_zyx is None:
            return None
        camera = self._renderer.GetActiveCamera()
        dop = np.array(camera.GetDirectionOfProjection())
        dots = np.abs(self._normals_zyx @ dop)
        axis = int(np.argmax(dots))
        if dots[axis] < 0.9999 * float(np.linalg.norm(dop)):
            return None
        zyx = self.labels.geometry.lps_to_index_zyx(np.array(camera.GetFocalPoint()))
        index = int(np.rint(zyx[axis]))
        if not 0 <= index < self.labels.array.shape[axis]:
            return None
        return axis, index

    def _on_renderer_start(self, _caller: object, _event: str) -> None:
        """Bring the outline up to date with the displayed plane (renderer StartEvent, GUI thread)."""
        if not (self.visible and self.outline_visible) or self.labels is None:
            return
        key = self.displayed_slice()
        if key is None:
            self._outline_key = None
        elif key != self._outline_key:
            self._rebuild_outline(key)
        elif self._outline_dirty:
            axis, index = key
            slice_2d = self.labels.array[_plane(axis, index)]
            assert self._outline is not None
            out_2d = self._outline.reshape(self._outline_shape)[_plane(axis, 0)]
            for window in self._outline_dirty:
                outline_2d(slice_2d, out_2d, window)
            self._outline_dirty = []
            self.outline_data.GetPointData().GetScalars().Modified()
            self.outline_data.Modified()
        self.outline_actor.SetVisibility(self.visible and self.outline_visible and self._outline_key is not None)

    def _rebuild_outline(self, key: tuple[int, int]) -> None:
        assert self.labels is not None
        axis, index = key
        geometry = self.labels.geometry
        shape = list(self.labels.array.shape)
        shape[axis] = 1
        start_zyx = [0.0, 0.0, 0.0]
        start_zyx[axis] = float(index)
        buffer = self._outline
        if (self._outline_key is not None and self._outline_key[0] == axis and buffer is not None
                and tuple(shape) == self._outline_shape and buffer.dtype == self.labels.array.dtype):
            # another slice along the same axis: refill the buffer VTK already wraps and move the plane
            outline_2d(self.labels.array[_plane(axis, index)], buffer.reshape(shape)[_plane(axis, 0)])
            self.outline_data.SetOrigin(*geometry.index_zyx_to_lps(np.array(start_zyx)))
            self.outline_data.GetPointData().GetScalars().Modified()
            self.outline_data.Modified()
            self._outline_key = key
            self._outline_dirty = []
            return
        self._outline_shape = tuple(shape)
        buffer = np.zeros(int(np.prod(shape)), self.labels.array.dtype)
        outline_2d(self.labels.array[_plane(axis, index)], buffer.reshape(shape)[_plane(axis, 0)])
        nz, ny, nx = shape
        sz, sy, sx = geometry.spacing_zyx_mm
        data = vtkImageData()
        data.SetDimensions(nx, ny, nz)
        data.SetSpacing(sx, sy, sz)
        data.SetOrigin(*geometry.index_zyx_to_lps(np.array(start_zyx)))
        data.SetDirectionMatrix(*geometry.direction)
        scalars = numpy_to_vtk(buffer, deep=False)
        scalars.SetName("outline")
        data.GetPointData().SetScalars(scalars)
        self.outline_data = data
        self._outline = buffer
        self._outline_key = key
        self._outline_dirty = []
        self.outline_mapper.SetInputData(data)

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Disconnect from the model, remove both props and the render observer."""
        self._disconnect()
        self._renderer.RemoveObserver(self._observer)
        self._renderer.RemoveViewProp(self.fill_actor)
        self._renderer.RemoveViewProp(self.outline_actor)
        self.fill_mapper.RemoveAllInputConnections(0)
        self.outline_mapper.RemoveAllInputConnections(0)
        self.labels = None
        self.data = self._flat = self._outline = self._wrapped_array = None
