"""``VolumeViewport``: the 3D view (volume rendering, slice-plane outlines, segment surfaces).

Left-drag rotates, right-drag zooms, middle-drag pans (VTK trackball camera; the mappers coarsen
their sampling while dragging), ``r`` resets to the anterior view, double-click maximises. Plane
outlines re-render lazily and segment surfaces are rebuilt in a :class:`~app.controllers.jobs.Job`
after edits pause. GUI thread only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer

from app.controllers.jobs import Job
from render._vtk import vtkInteractorStyleTrackballCamera
from render.orientation import ViewKind, is_rotated, slice_axes
from render.plane_geometry import plane_box_polygon
from render.surface_visual import SegmentSurfaces
from render.volume_scene import VolumeScene
from ui.timers import at_turn_end, cancel_at_turn_end, single_shot_timer
from ui.viewport import VtkViewport

if TYPE_CHECKING:
    from PySide6.QtGui import QKeyEvent, QMouseEvent

    from app.model.labels import LabelVolume
    from ui.viewer_state import ViewerState

log = logging.getLogger(__name__)

LAZY_3D_RENDER_MS = 150
SURFACE_REBUILD_MS = 300  # debounce of segment-surface rebuilds after label edits


class VolumeViewport(VtkViewport):
    """The 3D view: trackball camera (left rotate, right zoom, middle pan), ``r`` reset."""

    def __init__(self, state: ViewerState, parent=None, mapper_kind: str | None = None, *,
                 dormant: bool = False) -> None:
        super().__init__(ViewKind.VOLUME, parent, dormant=dormant)
        style = vtkInteractorStyleTrackballCamera()
        self.SetInteractorStyle(style)
        # Still frames stay full quality (VTK's still rate 0.0001): a frame budget there lets the
        # first frame, which also computes gradients, make the next still frame very blocky.
        # While dragging, the interactor's 15 fps budget coarsens the sampling (LOD).
        self.state = state
        self.scene = VolumeScene(self.renderer, self.request_render, mapper_kind)
        if not dormant:  # a dormant view gets its cube when woken (fast start: after the first slice frame)
            self.scene.attach_orientation_cube(self._Iren)
        # Plane outlines follow the slice views once their own frames are drawn (one update per
        # event-loop turn, however many slices were scrolled).
        self._pending_planes: dict[ViewKind, int] = {}
        self._surfaces: list[tuple[SegmentSurfaces, QTimer]] = []
        self._surface_jobs: set[Job] = set()
        # Slice-plane outlines re-render the 3D view after scrolling pauses, so a CPU-rendered
        # 3D frame (0.1-0.3 s) never slows down slice scrolling in the 2-D views.
        self._lazy_timer = single_shot_timer(self, self.request_render, LAZY_3D_RENDER_MS)
        self._held = False
        state.image_changed.connect(self._on_state_image_changed)

    def hold(self) -> None:
        """Leave the 3D view empty until :meth:`release` (fast start: the slice views draw first)."""
        self._held = True

    def release(self) -> None:
        """Show the state's image (if any) and the slice-plane outlines; no-op unless held."""
        if not self._held or self._closed:
            return
        self._held = False
        if self.state.image is not None:
            self._on_state_image_changed(self.state.image)

    def _on_state_image_changed(self, image) -> None:
        if self._held:
            return
        default = image.image.default_window() if image is not None else None
        self.scene.set_image(image, default)
        self._show_matching_surfaces()

    def add_labels(self, labels: LabelVolume) -> SegmentSurfaces:
        """Show a segmentation as surface models, rebuilt in a Job 300 ms after its last change."""
        timer = single_shot_timer(self, lambda: self._rebuild_surfaces(surfaces), SURFACE_REBUILD_MS)
        surfaces = SegmentSurfaces(self.renderer, self.request_render, timer.start)
        self._surfaces.append((surfaces, timer))
        surfaces.set_labels(labels)
        self._show_matching_surfaces()
        return surfaces

    @property
    def surfaces(self) -> list[SegmentSurfaces]:
        """The segmentations shown as surfaces."""
        return [s for s, _ in self._surfaces]

    def _rebuild_surfaces(self, surfaces: SegmentSurfaces) -> None:
        request = surfaces.build_request()
        if request is None or self._closed:
            return
        job = Job(request.run)
        job.signals.finished.connect(surfaces.attach)
        job.signals.failed.connect(lambda exc: log.warning("surface build failed: %s", exc))
        self._surface_jobs.add(job)
        for signal in (job.signals.finished, job.signals.failed, job.signals.cancelled):
            signal.connect(lambda *_: self._surface_jobs.discard(job))
        job.start()

    def _show_matching_surfaces(self) -> None:
        image = self.state.volume
        for surfaces, _ in self._surfaces:
            labels = surfaces.labels
            surfaces.set_visible(image is not None and labels is not None
                                 and labels.geometry.same_grid(image.geometry))

    def wake(self) -> None:
        """Create the GL context (see :meth:`VtkViewport.wake`) and the orientation cube."""
        was_dormant = self.dormant
        super().wake()
        if was_dormant and not self._closed:
            self.scene.attach_orientation_cube(self._Iren)

    def on_slice_changed(self, kind: str, index: int, n_slices: int) -> None:
        """Move the outline of a slice view's plane (slot for ``SliceViewport.slice_changed``).

        Applied when control returns to the event loop (:meth:`_update_planes`), after the slice
        view's own frame: scrolling pays nothing here. A rotated view's plane (see
        :meth:`ui.viewer_state.ViewerState.rotate_views`) passes through the linked cursor; it is
        outlined by its polygon across the volume box.
        """
        self._pending_planes[ViewKind(kind)] = index
        at_turn_end(self._update_planes)

    def _update_planes(self) -> None:
        pending, self._pending_planes = self._pending_planes, {}
        image = self.scene.image
        if image is None or self._closed:
            return
        geometry = image.image.geometry
        self._lazy = True
        try:
            for view, index in pending.items():
                if is_rotated(self.state.rotations[view]):  # oblique plane through the linked cursor
                    normal = self.state.view_normal_lps(view)
                    self.scene.planes.set_polygon(view, plane_box_polygon(geometry, self.state.cursor_lps, normal))
                else:
                    self.scene.planes.set_plane(view, image, slice_axes(geometry, view).slice_axis_zyx, index)
        finally:
            self._lazy = False

    def request_render(self) -> None:
        """Render soon; plane-outline updates wait until the slices stop moving."""
        if self._closed:
            return
        if getattr(self, "_lazy", False):
            self._lazy_timer.start()
        else:
            self._lazy_timer.stop()
            super().request_render()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Maximise this view or restore the layout."""
        if event.button() == Qt.MouseButton.LeftButton:
            self.maximize_requested.emit()
        else:
            super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """``r`` resets to the anterior view. Other keys are not forwarded: VTK's default style
        binds e/q (exit), w/s (wireframe), 3 (stereo) and f/p (fly/pick)."""
        if event.key() == Qt.Key.Key_R:
            self.scene.reset_view()
            event.accept()
        else:
            event.ignore()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """Not forwarded to VTK (see :meth:`keyPressEvent`)."""
        event.ignore()

    def close_scene(self) -> None:
        """Disconnect from the state and remove the visuals."""
        self._lazy_timer.stop()
        cancel_at_turn_end(self._update_planes)
        self.state.image_changed.disconnect(self._on_state_image_changed)
        for job in list(self._surface_jobs):
            job.cancel()
        for surfaces, timer in self._surfaces:
            timer.stop()
            surfaces.close()
        self._surfaces.clear()
        self.scene.close()
