"""Editor state shared by the Segment Editor panel and the slice-view routers.

:class:`EditorController` owns the active segmentation, the active segment, the shared masking
options, one instance per registered tool (so options persist while switching) and the active tool
(None = review mode: the left button does window/level, as before). It creates one
:class:`~ui.tool_routing.SliceToolRouter` per slice view; its live previews (threshold, level
tracing) come from :class:`~ui.tool_preview.ToolPreviewMixin`. Heavy one-shot tools run as
``Job(tool.compute, view.snapshot())`` and are committed on the GUI thread. GUI thread only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.controllers.jobs import Job
from app.model.image import ImageVolume
from app.model.labels import LabelTable, LabelVolume
from app.model.masking import EditOptions
from app.tools import TOOLS, Tool, ViewState, load_builtin_tools
from render.label_visual import LabelSliceVisual
from ui.grow_preview import GrowPreview
from ui.timers import at_turn_end, cancel_at_turn_end, single_shot_timer
from ui.tool_preview import ToolPreviewMixin
from ui.tool_routing import HOVER_PREVIEW_MS, INTERACTIVE_TOOLS, PREVIEW_TOOLS, ZYX, SliceToolRouter

if TYPE_CHECKING:
    from app.model.session import Session
    from ui.view_grid import ViewGrid
    from ui.viewport import SliceViewport

log = logging.getLogger(__name__)


class EditorController(ToolPreviewMixin, QObject):
    """Editor state shared by the Segment Editor panel and the slice-view routers.

    Signals
    -------
    tool_changed(str)
        Id of the active tool, "" for none (review mode).
    labels_changed(object)
        The active :class:`~app.model.labels.LabelVolume` (or None).
    segment_changed(int)
        The active segment id (0 when none).
    history_changed()
        Undo/redo availability may have changed.
    failed(str)
        A tool raised; the message is for the user.
    """

    tool_changed = Signal(str)
    labels_changed = Signal(object)
    segment_changed = Signal(int)
    history_changed = Signal()
    failed = Signal(str)

    def __init__(self, session: Session, grid: ViewGrid, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.grid = grid
        self.options = EditOptions()
        load_builtin_tools()
        self.tools: dict[str, Tool] = {tool_id: cls() for tool_id, cls in TOOLS.items()}
        self.active_tool: Tool | None = None
        self.labels: LabelVolume | None = None
        self.label_id = 0
        self.last_view: SliceViewport | None = None
        self._jobs: set[Job] = set()
        self._preview: LabelVolume | None = None  # display-only scratch volume (never in the session)
        self._preview_boxes: list[tuple[slice, slice, slice]] = []
        self._hover: tuple[SliceToolRouter, ZYX] | None = None
        self._hover_timer = single_shot_timer(self, self._on_hover_timer_timeout, HOVER_PREVIEW_MS)
        self.routers = [SliceToolRouter(view, self) for view in grid.slice_views.values()]
        self.grow_preview = GrowPreview(self)  # after the routers: it draws in their views
        session.segmentation_added.connect(self._on_session_segmentation_added)
        for tool_id in PREVIEW_TOOLS:
            if tool_id in self.tools:
                events = self.tools[tool_id].params.events
                for name in ("lower", "upper"):
                    if hasattr(events, name):
                        getattr(events, name).connect(self._on_preview_params_changed)

    # ------------------------------------------------------------------ state
    def set_tool(self, tool_id: str | None) -> None:
        """Activate a tool by id; "" or None returns to review mode (W/L on the left button)."""
        tool = self.tools.get(tool_id) if tool_id else None
        if tool is self.active_tool:
            return
        self.cancel_interaction()
        self.active_tool = tool
        for router in self.routers:
            router.update_cursor()
        self.update_polylines()
        self.update_preview()
        self.tool_changed.emit(tool.id if tool is not None else "")

    def cancel_interaction(self) -> None:
        """Abandon the active tool's interaction (open stroke, polygon, preview)."""
        self.grow_preview.stop()
        if self.active_tool is not None and self.labels is not None:
            self.active_tool.cancel(self._state(self.last_view))
        for router in self.routers:
            router.pressed = False
        self.update_polylines()

    def update_polylines(self) -> None:
        """Redraw the Draw/Scissors feedback of every slice view."""
        for router in self.routers:
            router.update_polyline()

    def set_labels(self, labels: LabelVolume | None) -> None:
        """Edit ``labels`` (one of the session's segmentations); selects its first segment."""
        if labels is self.labels:
            return
        self.cancel_interaction()
        if self.labels is not None:
            self.labels.changed.disconnect(self._on_labels_changed)
            self.labels.history.changed.disconnect(self._on_history_changed)
        self.labels = labels
        if labels is not None:
            labels.changed.connect(self._on_labels_changed)
            labels.history.changed.connect(self._on_history_changed)  # table edits are steps too
        self.labels_changed.emit(labels)
        first = next(iter(labels.table), None) if labels is not None else None
        self.set_label_id(first.id if first is not None else 0)
        self.history_changed.emit()

    def set_label_id(self, label_id: int) -> None:
        """Make ``label_id`` the segment that tools paint."""
        label_id = int(label_id)
        if label_id != self.label_id:
            self.label_id = label_id
            self.segment_changed.emit(label_id)
            for router in self.routers:
                router.update_cursor()
            if self._preview is not None:
                self.update_preview()

    def step_segment(self, delta: int) -> None:
        """Select the previous (-1) or next (+1) segment (``q`` / ``w``), wrapping around."""
        if self.labels is None:
            return
        ids = [s.id for s in self.labels.table]
        if not ids:
            return
        i = ids.index(self.label_id) if self.label_id in ids else -1
        self.set_label_id(ids[(i + delta) % len(ids)])

    def ensure_target(self) -> bool:
        """Make sure there is a segmentation and a segment to edit (created as needed); False without an image."""
        if self.labels is None:
            if self.session.active_image is None:
                return False
            self.session.new_segmentation()  # → _on_session_segmentation_added selects it
        assert self.labels is not None
        if self.label_id not in self.labels.table:
            seg = self.labels.table.new_segment()
            self.set_label_id(seg.id)
        return True

    def _image_for(self, labels: LabelVolume) -> ImageVolume | None:
        image = self.session.active_image
        if image is not None and image.geometry.same_grid(labels.geometry):
            return image
        return next((i for i in self.session.images if i.geometry.same_grid(labels.geometry)), None)

    def _state(self, view: SliceViewport | None) -> ViewState:
        assert self.labels is not None
        axis, index = 0, self.labels.array.shape[0] // 2
        if view is not None and view.scene.axes is not None:
            axis, index = view.scene.axes.slice_axis_zyx, view.scene.slice_index
        return ViewState(self.labels, self._image_for(self.labels), self.label_id, axis, index, self.options)

    def view_state(self, view: SliceViewport | None = None) -> ViewState | None:
        """Return what a tool needs about ``view`` (default: the last view used), or None without labels."""
        if self.labels is None:
            return None
        return self._state(view or self.last_view or self.grid.slice_views[next(iter(self.grid.slice_views))])

    # -------------------------------------------------------------- commands
    def undo(self) -> bool:
        """Undo the last step of the active segmentation."""
        done = self.labels is not None and self.labels.undo()
        self.history_changed.emit()
        return done

    def redo(self) -> bool:
        """Redo the last undone step of the active segmentation."""
        done = self.labels is not None and self.labels.redo()
        self.history_changed.emit()
        return done

    def scale_brush(self, factor: float) -> None:
        """Multiply the active tool's brush radius (if it has one) by ``factor``."""
        params = self.active_tool.params if self.active_tool is not None else None
        if params is not None and hasattr(params, "radius_mm"):
            params.radius_mm = float(np.clip(params.radius_mm * factor, 0.1, 200.0))
            for router in self.routers:
                router.update_cursor()

    def toggle_intensity_masking(self) -> None:
        """Switch the editable intensity range on or off (``i``)."""
        self.options.intensity_enabled = not self.options.intensity_enabled

    def set_segmentation_visible(self, visible: bool | None = None) -> bool:
        """Show or hide the active segmentation in every view (None toggles, ``g``); returns the new state."""
        if self.labels is None:
            return False
        visuals = [v for view in self.grid.slice_views.values() for v in view.label_visuals
                   if v.labels is self.labels]
        if visible is None:
            visible = not any(v.visible for v in visuals)
        for v in visuals:
            v.set_visible(visible)
        for surfaces in self.grid.volume_view.surfaces:
            if surfaces.labels is self.labels:
                surfaces.set_visible(visible)
        return bool(visible)

    def label_visuals(self) -> list[LabelSliceVisual]:
        """The slice overlays of the active segmentation (one per slice view)."""
        return [v for view in self.grid.slice_views.values() for v in view.label_visuals
                if self.labels is not None and v.labels is self.labels]

    def set_overlay(self, *, opacity: float | None = None, outline: bool | None = None) -> None:
        """Set the fill opacity (0–1) and/or outline display of the active segmentation in every slice view."""
        for v in self.label_visuals():
            if opacity is not None:
                v.set_fill(v.fill_visible, opacity)
            if outline is not None:
                v.set_outline(outline)

    def set_surfaces_visible(self, visible: bool) -> None:
        """Show or hide the active segmentation's 3D surfaces (Slicer's "Show 3D")."""
        for surfaces in self.grid.volume_view.surfaces:
            if self.labels is not None and surfaces.labels is self.labels:
                surfaces.set_visible(visible)

    def auto_threshold(self) -> None:
        """Set the threshold range from the image (Otsu / percentiles), updating the preview."""
        tool = self.active_tool
        image = self.session.active_image
        if tool is None or not hasattr(tool, "auto_range") or image is None:
            return
        scratch = self._preview or LabelVolume(image.geometry, LabelTable(), name="scratch")
        try:
            tool.auto_range(ViewState(scratch, image))  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - reaches the user
            self._report(exc)

    def remove_segment(self, label_id: int) -> None:
        """Erase a segment's voxels and remove its table row as one undo step (both come back with Undo)."""
        labels = self.labels
        if labels is None or label_id not in labels.table:
            return
        labels.remove_segment(label_id)
        if self.label_id == label_id:
            nxt = next(iter(labels.table), None)
            self.set_label_id(nxt.id if nxt is not None else 0)
        self.history_changed.emit()

    def apply(self, view: SliceViewport | None = None) -> Job | None:
        """Apply the active one-shot tool (threshold, margin, ...) or finish a drawing (Draw: Enter).

        Heavy tools run ``tool.compute`` on a snapshot in a :class:`Job`; the result is committed
        as one undo step on the GUI thread. Returns the job, or None when applied at once.
        """
        tool = self.active_tool
        if tool is None or not self.ensure_target():
            return None
        if tool.id == "grow_seeds":  # Slicer's Initialize, then Apply of the live preview
            if not self.grow_preview.active:
                self.grow_preview.start()
            elif not self.grow_preview.apply():
                self._report("the grow-from-seeds preview is still being computed")
            self.history_changed.emit()
            return None
        state = self.view_state(view)
        assert state is not None
        try:
            if tool.id in INTERACTIVE_TOOLS or tool.id == "mask_volume":
                result = tool.apply(state)
                if isinstance(result, ImageVolume):
                    self.session.add_image(result, activate=False)
                self.update_polylines()
                self.history_changed.emit()
                return None
        except Exception as exc:  # noqa: BLE001 - a tool error reaches the user, not the event loop
            self._report(exc)
            return None
        job = Job(tool.compute, state.snapshot())
        labels = self.labels

        def done(result: object) -> None:
            if self.labels is labels and labels is not None:
                try:
                    tool.commit(self._state(self.last_view), result)  # type: ignore[arg-type]
                except Exception as exc:  # noqa: BLE001 - as above
                    self._report(exc)
                self.history_changed.emit()

        job.signals.finished.connect(done)
        job.signals.failed.connect(self._report)
        self._jobs.add(job)
        for sig in (job.signals.finished, job.signals.failed, job.signals.cancelled):
            sig.connect(lambda *_: self._jobs.discard(job))
        return job.start()

    def _report(self, exc: object) -> None:
        log.warning("tool failed: %s", exc)
        self.failed.emit(str(exc))

    # ------------------------------------------------------------- signals
    def _on_session_segmentation_added(self, labels: LabelVolume) -> None:
        self.set_labels(labels)

    def _on_labels_changed(self, _box: object) -> None:
        at_turn_end(self._tell_history)  # a stroke changes the labels on every dab: told once per turn

    def _tell_history(self) -> None:
        self.history_changed.emit()

    def _on_history_changed(self) -> None:
        self.history_changed.emit()

    def close(self) -> None:
        """Disconnect from the session and the labels; remove the brush cursors (before the views close)."""
        self.cancel_interaction()
        cancel_at_turn_end(self._tell_history)
        for job in list(self._jobs):
            job.cancel()
        self.session.segmentation_added.disconnect(self._on_session_segmentation_added)
        if self.labels is not None:
            self.labels.changed.disconnect(self._on_labels_changed)
            self.labels.history.changed.disconnect(self._on_history_changed)
        self._hover_timer.stop()
        self._hover = None
        self._drop_preview()
        self.grow_preview.stop()
        for tool_id in PREVIEW_TOOLS:
            if tool_id in self.tools:
                events = self.tools[tool_id].params.events
                for name in ("lower", "upper"):
                    if hasattr(events, name):
                        getattr(events, name).disconnect(self._on_preview_params_changed)
        for router in self.routers:
            router.close()
        self.routers.clear()
