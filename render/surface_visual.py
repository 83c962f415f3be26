"""3D surface models of segments: ``vtkSurfaceNets3D`` off the GUI thread, actors on it.

Two halves, split by thread:

* :func:`build_surfaces` is pure: label array + :class:`~app.model.geometry.Geometry` in, one new
  *detached* ``vtkPolyData`` per label out (LPS mm, outward point normals). Any thread may call it;
  it touches no window. Pipeline: :func:`occupied_grid` (the z-slab holding labels, a zero-copy
  view; padded where a label reaches the grid edge) → ``vtkSurfaceNets3D`` (all labels at once, shared boundaries,
  built-in constrained smoothing, STDThread SMP back-end) → ``vtkSurfaceNetsAtlas`` (one closed
  region per label, outward winding) → ``vtkTriangleMeshPointNormals``.
* :class:`SegmentSurfaces` is the visual: one actor per segment, coloured and shown from the
  :class:`~app.model.labels.LabelTable`. ``labels.changed`` only marks it dirty (counter bump and a
  call to ``request_rebuild``: the widget's debounce timer). When the timer fires, the widget takes
  :meth:`SegmentSurfaces.build_request`, runs its ``run`` in a ``Job`` and hands the result to
  :meth:`SegmentSurfaces.attach` on the GUI thread; stale results are dropped by generation.

Meshes are built with the label grid's spacing, origin and direction matrix, so every point is in
LPS millimetres (gantry-tilt shear included), the world space of every MedWS view.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from render import _vtk
from render._vtk import (
    vtkActor,
    vtkPolyData,
    vtkPolyDataMapper,
)
from render.label_visual import wrap_label_array

if TYPE_CHECKING:
    from app.model.geometry import Geometry
    from app.model.labels import Box, LabelVolume
    from render._vtk import vtkRenderer

log = logging.getLogger(__name__)


def _step(ctx: object | None, fraction: float, message: str) -> None:
    if ctx is not None:
        ctx.step(fraction, message)  # type: ignore[attr-defined]


#: SurfaceNets smoothing iterations on near-isotropic grids (VTK's default) and the most used on
#: thick-slice grids, where 16 iterations leave visible slice terraces (checked on lung1, 5 mm slices
#: of 0.57 mm pixels: 64 iterations smooth the ribs; 160 look the same as 64 at 2x the cost).
SMOOTHING_ITERATIONS = 16
MAX_SMOOTHING_ITERATIONS = 64


def smoothing_iterations(geometry: Geometry) -> int:
    """Return the SurfaceNets smoothing iterations for a grid: 16, scaled up for thick slices.

    ``16 * clip(anisotropy / 2, 1, 4)`` with ``anisotropy = max spacing / min spacing``: 16 up to a
    2:1 ratio (typical thin-slice CT/MR), 64 from 8:1 (5 mm slices of 0.6 mm pixels).
    """
    spacing = np.asarray(geometry.spacing_zyx_mm, float)
    scale = float(np.clip(spacing.max() / spacing.min() / 2.0, 1.0, MAX_SMOOTHING_ITERATIONS / SMOOTHING_ITERATIONS))
    return int(round(SMOOTHING_ITERATIONS * scale))


def occupied_grid(labels_array: np.ndarray, geometry: Geometry) -> tuple[np.ndarray, Geometry] | None:
    """Return the part of the grid SurfaceNets must see, or None when every voxel is 0.

    The slab of ``z`` slices holding non-zero voxels, plus one background slice on each side, is a
    zero-copy view (rows of a C-contiguous array are contiguous); SurfaceNets then scans only that
    slab (a segmentation rarely fills the whole stack). Where a label reaches the edge of the grid,
    the slab is padded with one background voxel instead (one copy of the slab), which closes the
    surfaces there, as 3D Slicer does. Any thread; reads the array once (a max-reduction) plus the
    slab's four side faces.

    Returns
    -------
    array, geometry
        The (possibly padded) slab and its grid: same spacing and direction, origin moved to its
        first voxel (LPS mm).
    """
    nz = labels_array.shape[0]
    occupied = np.flatnonzero(labels_array.reshape(nz, -1).max(axis=1))
    if occupied.size == 0:
        return None
    z0, z1 = int(occupied[0]), int(occupied[-1]) + 1
    lo, hi = max(z0 - 1, 0), min(z1 + 1, nz)
    slab = labels_array[lo:hi]
    pad_z = (int(z0 == 0), int(z1 == nz))
    touches_yx = any(bool(slab[(slice(None),) * axis + (end,)].any()) for axis in (1, 2) for end in (0, -1))
    pad_yx = (1, 1) if touches_yx else (0, 0)
    if pad_z != (0, 0) or touches_yx:
        slab = np.pad(slab, (pad_z, pad_yx, pad_yx))
    start_zyx = (lo - pad_z[0], -pad_yx[0], -pad_yx[0])
    return slab, geometry.cropped(start_zyx, slab.shape)


def surface_nets(labels_array: np.ndarray, geometry: Geometry, label_ids: Sequence[int], *,
                 smoothing: bool = True, iterations: int | None = None) -> vtkPolyData:
    """Run ``vtkSurfaceNets3D`` once over every label (the shared multi-label mesh, LPS mm).

    This is the bare SurfaceNets floor of ``bench/surface.py``. Any thread; the output is new.
    ``iterations`` None picks :func:`smoothing_iterations` for the grid. Bare: labels reaching the
    grid edge stay open there (:func:`build_surfaces` crops and pads with :func:`occupied_grid`).
    Voxels of other non-zero values are treated as further regions: faces between a listed label
    and them are kept (the listed label's surface stays closed), faces among them are not made.
    """
    image, _flat = wrap_label_array(labels_array, geometry)  # _flat keeps the buffer alive
    nets = _vtk.vtkSurfaceNets3D()
    nets.SetInputData(image)
    nets.SetNumberOfLabels(len(label_ids))
    for i, label_id in enumerate(label_ids):
        nets.SetLabel(i, float(label_id))
    nets.SetBackgroundLabel(0.0)
    nets.SetOutputMeshTypeToTriangles()
    nets.SetSmoothing(bool(smoothing))
    nets.SetNumberOfIterations(int(iterations) if iterations is not None else smoothing_iterations(geometry))
    nets.Update()
    out = vtkPolyData()
    out.ShallowCopy(nets.GetOutput())
    del _flat
    return out


def build_surfaces(labels_array: np.ndarray, geometry: Geometry, label_ids: Sequence[int], *,
                   smoothing: bool = True, iterations: int | None = None, normals: bool = True,
                   ctx: object | None = None) -> dict[int, vtkPolyData]:
    """Extract one closed surface per label, in LPS mm, as new detached ``vtkPolyData``.

    Parameters
    ----------
    labels_array
        ``(z, y, x)`` uint8/uint16 labels on ``geometry``'s grid. Read, never written, and not
        referenced after the call. A worker may be handed the live model array: a paint racing the
        build can tear one mesh, but that paint also marks the surfaces dirty, so the next debounced
        build replaces it.
    geometry
        Spacing, origin and direction of the grid (LPS mm).
    label_ids
        Labels to extract. Labels with no voxels are left out; other values are not extracted but
        still bound the listed labels' surfaces (see :func:`surface_nets`).
    smoothing
        Apply SurfaceNets' constrained smoothing (points stay within about a voxel).
    iterations
        Smoothing iterations; None: :func:`smoothing_iterations` (16, more for thick slices).
    normals
        Add outward point normals ("Normals") for smooth shading.
    ctx
        Optional progress/cancel context with ``step(fraction, message)`` (``TaskContext``).

    Returns
    -------
    dict
        label id → triangle mesh, points in LPS mm (float32), triangles wound outward. The meshes
        own their memory and belong to no pipeline: attach them on the GUI thread.

    Notes
    -----
    Any thread (no window is touched). SMP filters use the STDThread back-end set by
    :mod:`render._vtk`.
    """
    ids = [int(i) for i in dict.fromkeys(label_ids) if int(i) != 0]
    if not ids:
        return {}
    _step(ctx, 0.0, "surface nets")
    t0 = time.perf_counter()
    grid = occupied_grid(labels_array, geometry)
    if grid is None:
        return {}
    if iterations is None:
        iterations = smoothing_iterations(geometry)
    mesh = surface_nets(*grid, ids, smoothing=smoothing, iterations=iterations)
    _step(ctx, 0.7, "splitting segments")
    if mesh.GetNumberOfCells() == 0:
        return {}
    atlas = _vtk.vtkSurfaceNetsAtlas()
    atlas.SetInputDataObject(0, mesh)
    atlas.SetGenerateRegions(True)
    atlas.SetGeneratePatches(False)
    atlas.SetBackgroundLabel(0)
    atlas.SetOutputStyleToAll()  # the default (boundary) drops faces shared by two labels
    atlas.Update()
    regions = atlas.GetOutput()
    out: dict[int, vtkPolyData] = {}
    for i in range(regions.GetNumberOfPartitionedDataSets()):
        for j in range(regions.GetNumberOfPartitions(i)):
            part = regions.GetPartition(i, j)
            if part is None or part.GetNumberOfCells() == 0:
                continue
            label_id = int(part.GetCellData().GetArray("Label").GetTuple1(0))
            if label_id in ids:
                out[label_id] = _detach(part, normals)
    _step(ctx, 1.0, "surfaces done")
    log.debug("built %d surfaces in %.3f s", len(out), time.perf_counter() - t0)
    return out


def _detach(part: vtkPolyData, normals: bool) -> vtkPolyData:
    """Return a new polydata with the part's points and triangles (plus normals), no other arrays."""
    poly = vtkPolyData()
    poly.SetPoints(part.GetPoints())
    poly.SetPolys(part.GetPolys())
    if normals:
        filt = _vtk.vtkTriangleMeshPointNormals()
        filt.SetInputData(poly)
        filt.Update()
        poly = vtkPolyData()
        poly.ShallowCopy(filt.GetOutput())
    return poly


@dataclass(frozen=True)
class SurfaceBuildRequest:
    """A snapshot of what to build, safe to hand to a worker (no model object inside).

    ``run`` is the Job function: ``Job(request.run).start()``; its result goes to
    :meth:`SegmentSurfaces.attach` on the GUI thread.
    """

    array: np.ndarray
    geometry: Geometry
    label_ids: tuple[int, ...]
    smoothing: bool
    generation: int

    def run(self, ctx: object | None = None) -> SurfaceBuildResult:
        """Build the surfaces (worker thread; see :func:`build_surfaces`)."""
        surfaces = build_surfaces(self.array, self.geometry, self.label_ids, smoothing=self.smoothing, ctx=ctx)
        return SurfaceBuildResult(self.generation, surfaces)


@dataclass(frozen=True)
class SurfaceBuildResult:
    """Detached meshes of one build, tagged with the dirty generation they reflect."""

    generation: int
    surfaces: dict[int, vtkPolyData] = field(default_factory=dict)


class SegmentSurfaces:
    """Surface models of one :class:`~app.model.labels.LabelVolume` in the 3D view.

    Parameters
    ----------
    renderer
        The 3D view's renderer (world = LPS mm); one ``vtkActor`` per segment is added to it.
    request_render
        Coalescing render request from the widget.
    request_rebuild
        Called on every :meth:`mark_dirty`; the widget restarts a single-shot debounce timer
        (about 300 ms) whose timeout runs ``build_request().run`` in a ``Job`` and passes the
        result to :meth:`attach`. None: nothing is rebuilt until :meth:`rebuild_now`.

    Notes
    -----
    GUI thread only, except :meth:`SurfaceBuildRequest.run`. Surfaces are rebuilt only when dirty;
    colour, visibility and opacity changes just update actor properties.
    """

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None],
                 request_rebuild: Callable[[], None] | None = None) -> None:
        self._renderer = renderer
        self._request_render = request_render
        self._request_rebuild = request_rebuild
        self.labels: LabelVolume | None = None
        self.actors: dict[int, vtkActor] = {}
        self.polydata: dict[int, vtkPolyData] = {}
        self.smoothing = True
        self.visible = True
        self.opacity = 1.0
        self.segment_opacity: dict[int, float] = {}  # label id → 0–1, multiplies ``opacity``
        self.generation = 0  # bumped by every mark_dirty
        self.shown_generation = 0  # generation of the meshes attached now
        self._built_ids: set[int] = set()

    # ------------------------------------------------------------------ model
    def set_labels(self, labels: LabelVolume | None) -> None:
        """Show the surfaces of ``labels`` (marks them dirty) or nothing when None."""
        self._disconnect()
        self.labels = labels
        self._clear_actors()
        if labels is not None:
            labels.changed.connect(self._on_labels_changed)
            labels.table.changed.connect(self._on_table_changed)
            self.mark_dirty()
        self._request_render()

    def _disconnect(self) -> None:
        if self.labels is not None:
            self.labels.changed.disconnect(self._on_labels_changed)
            self.labels.table.changed.disconnect(self._on_table_changed)

    def _on_labels_changed(self, _box: Box) -> None:
        self.mark_dirty()

    def _on_table_changed(self, label_id: int) -> None:
        if self.labels is None:
            return
        table = self.labels.table
        if label_id in table and label_id not in self._built_ids:
            self.mark_dirty()  # a segment the last build did not ask for
        self._style_actors()
        self._request_render()

    # -------------------------------------------------------------- rebuilds
    @property
    def dirty(self) -> bool:
        """True while the attached meshes are older than the labels."""
        return self.labels is not None and self.shown_generation < self.generation

    def mark_dirty(self) -> None:
        """Note that the meshes are out of date and ask the widget for a (debounced) rebuild."""
        self.generation += 1
        if self._request_rebuild is not None:
            self._request_rebuild()

    def build_request(self) -> SurfaceBuildRequest | None:
        """Snapshot what a rebuild needs, or None when nothing is dirty (GUI thread).

        The request holds the live label array (read-only use, not copied: see
        :func:`build_surfaces`), the geometry, every segment id of the table and the generation.
        """
        if not self.dirty:
            return None
        assert self.labels is not None
        ids = tuple(seg.id for seg in self.labels.table)
        self._built_ids = set(ids)
        return SurfaceBuildRequest(self.labels.array, self.labels.geometry, ids, self.smoothing, self.generation)

    def attach(self, result: SurfaceBuildResult) -> bool:
        """Show the meshes of a finished build (GUI thread). Returns False for a stale result.

        A result older than the meshes on screen is dropped; a result older than the latest
        :meth:`mark_dirty` is shown anyway (it is closer than what is shown) and the visual stays
        dirty, the rebuild for the newer generation having been requested already.
        """
        if self.labels is None or result.generation <= self.shown_generation:
            return False
        self.shown_generation = result.generation
        for label_id in list(self.actors):
            if label_id not in result.surfaces:
                self._renderer.RemoveActor(self.actors.pop(label_id))
                self.polydata.pop(label_id, None)
        for label_id, poly in result.surfaces.items():
            actor = self.actors.get(label_id)
            if actor is None:
                actor = self._new_actor()
                self.actors[label_id] = actor
                self._renderer.AddActor(actor)
            actor.GetMapper().SetInputData(poly)
            self.polydata[label_id] = poly
        self._style_actors()
        self._request_render()
        return True

    def rebuild_now(self) -> bool:
        """Build and attach on the calling (GUI) thread, e.g. for tests, export or batch use."""
        request = self.build_request()
        return request is not None and self.attach(request.run())

    # --------------------------------------------------------------- display
    def set_smoothing(self, smoothing: bool) -> None:
        """Turn SurfaceNets smoothing on or off (marks the surfaces dirty)."""
        if bool(smoothing) != self.smoothing:
            self.smoothing = bool(smoothing)
            self.mark_dirty()

    def set_visible(self, visible: bool) -> None:
        """Show or hide every surface of this segmentation."""
        self.visible = bool(visible)
        self._style_actors()
        self._request_render()

    def set_opacity(self, opacity: float) -> None:
        """Set the surfaces' opacity (0–1)."""
        self.opacity = float(np.clip(opacity, 0.0, 1.0))
        self._style_actors()
        self._request_render()

    def set_segment_opacity(self, label_id: int, opacity: float) -> None:
        """Set one segment's 3D opacity (0–1; multiplies :meth:`set_opacity`), e.g. a translucent skin."""
        self.segment_opacity[int(label_id)] = float(np.clip(opacity, 0.0, 1.0))
        self._style_actors()
        self._request_render()

    def _new_actor(self) -> vtkActor:
        mapper = vtkPolyDataMapper()
        mapper.ScalarVisibilityOff()  # colour from the table, never from a stray scalar array
        actor = vtkActor()
        actor.SetMapper(mapper)
        prop = actor.GetProperty()
        prop.SetInterpolationToGouraud()
        # Neighbouring segments share their interface triangles (wound outward from each side):
        # culling back faces draws exactly one copy, the colour of the segment behind the
        # interface, and avoids z-fighting between coincident surfaces.
        prop.BackfaceCullingOn()
        prop.SetDiffuse(0.9)
        prop.SetAmbient(0.1)
        prop.SetSpecular(0.2)
        prop.SetSpecularPower(30.0)
        return actor

    def _style_actors(self) -> None:
        if self.labels is None:
            return
        table = self.labels.table
        for label_id, actor in self.actors.items():
            seg = table[label_id] if label_id in table else None
            actor.SetVisibility(bool(self.visible and seg is not None and seg.visible))
            if seg is not None:
                actor.GetProperty().SetColor(*(c / 255.0 for c in seg.color_rgb))
            actor.GetProperty().SetOpacity(self.opacity * self.segment_opacity.get(label_id, 1.0))

    def _clear_actors(self) -> None:
        for actor in self.actors.values():
            self._renderer.RemoveActor(actor)
        self.actors.clear()
        self.polydata.clear()
        self._built_ids = set()
        self.shown_generation = self.generation

    def bounds_lps_mm(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Return the (min, max) LPS corners around every visible surface, or None."""
        boxes = [np.array(self.polydata[i].GetBounds()).reshape(3, 2)
                 for i, a in self.actors.items() if a.GetVisibility() and self.polydata[i].GetNumberOfPoints()]
        if not boxes:
            return None
        stacked = np.stack(boxes)
        return stacked[:, :, 0].min(axis=0), stacked[:, :, 1].max(axis=0)

    def close(self) -> None:
        """Disconnect from the model and remove every actor; later results are dropped."""
        self._disconnect()
        self._clear_actors()
        self.labels = None
