"""Glue between slice viewports and the editing tools (Segment Editor behaviour).

:class:`EditorController` owns the editor state the panel and the views share: the active
segmentation, the active segment, the shared masking options, one instance per registered tool
(so options persist while switching) and the active tool (None = review mode: the left button
does window/level, as before).

:class:`SliceToolRouter` is an event filter on one :class:`~ui.viewport.SliceViewport`: while a
tool is active, a plain left press/drag/release becomes ``tool.press/drag/release(view_state, zyx)``
(mouse → VTK display → LPS on the slice plane → nearest ``zyx`` voxel of the segmentation);
modified clicks (Shift crosshair, Ctrl zoom, Alt pan) and the other buttons keep their viewer
meaning. It also draws the brush circle (:class:`~render.brush_cursor.BrushCursorVisual`) and maps
Shift+wheel to the brush size. Heavy one-shot tools run as ``Job(tool.compute, view.snapshot())``
and are committed on the GUI thread. GUI thread only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal

from analysis.segment_ops import mask_box
from app.controllers.jobs import Job
from app.model.image import ImageVolume
from app.model.labels import LabelTable, LabelVolume, Segment
from app.model.masking import EditOptions
from app.tools import TOOLS, Tool, ViewState, load_builtin_tools
from render.brush_cursor import BrushCursorVisual, PolylineVisual
from render.label_visual import LabelSliceVisual

if TYPE_CHECKING:
    from app.model.geometry import Geometry
    from app.model.session import Session
    from ui.view_grid import ViewGrid
    from ui.viewport import SliceViewport

log = logging.getLogger(__name__)

ZYX = tuple[int, int, int]

#: Tools driven by the mouse in a slice view (the others are applied with a button).
INTERACTIVE_TOOLS = ("paint", "draw", "erase", "level_trace", "scissors", "flood_fill", "islands")
#: Brush size step of ``-``/``+`` and Shift+wheel (Slicer: ±20 %).
BRUSH_STEP = 1.2
#: Tools whose ``preview(view, index)`` is shown live on the displayed slices (Slicer's threshold preview).
PREVIEW_TOOLS = ("threshold",)
#: Tools previewed under the resting mouse (Slicer's level-tracing outline), after HOVER_PREVIEW_MS.
HOVER_PREVIEW_TOOLS = ("level_trace",)
HOVER_PREVIEW_MS = 40
PREVIEW_OPACITY = 0.45


def pick_zyx(view: SliceViewport, geometry: Geometry, display_xy: tuple[float, float]) -> ZYX | None:
    """Return the ``zyx`` voxel of a grid under a VTK display position of ``view`` (may lie outside).

    ``geometry`` is the grid of the segmentation (or image) being edited, the displayed image's grid.

    The index along the view's slice axis is the displayed slice, so rounding never paints on a
    neighbouring slice. None when the view shows no image.
    """
    scene = view.scene
    if scene.image is None or scene.axes is None:
        return None
    lps = scene.display_to_lps(display_xy)
    zyx = np.rint(geometry.lps_to_index_zyx(lps)).astype(int)
    zyx[scene.axes.slice_axis_zyx] = scene.slice_index
    return int(zyx[0]), int(zyx[1]), int(zyx[2])


class EditorController(QObject):
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
        self._hover_timer = QTimer(self)
        self._hover_timer.setSingleShot(True)
        self._hover_timer.setInterval(HOVER_PREVIEW_MS)
        self._hover_timer.timeout.connect(self._on_hover_timer_timeout)
        self.routers = [SliceToolRouter(view, self) for view in grid.slice_views.values()]
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
        if self.active_tool is not None and self.labels is not None:
            self.active_tool.cancel(self._state(self.last_view))
        for router in self.routers:
            router.pressed = False
        self.update_polylines()

    # --------------------------------------------------------------- preview
    def _on_preview_params_changed(self, *_: object) -> None:
        self.update_preview()

    def _ensure_preview(self) -> LabelVolume | None:
        """Return the preview volume on the active image's grid (created as needed), tinted like the segment."""
        image = self.session.active_image
        if image is None:
            self._drop_preview()
            return None
        preview = self._preview
        if preview is None or not preview.geometry.same_grid(image.geometry):
            self._drop_preview()
            preview = LabelVolume(image.geometry, LabelTable([Segment(1, "preview", (255, 255, 0))]),
                                  name="preview")
            self._preview = preview
            for router in self.routers:
                router.show_preview(preview)
        if self.labels is not None and self.label_id in self.labels.table:
            # lighter than the segment itself, so the preview stands apart from what is already painted
            color = tuple((int(v) + 255) // 2 for v in self.labels.table[self.label_id].color_rgb)
            if preview.table[1].color_rgb != color:
                preview.table.update(1, color_rgb=color)
        return preview

    def _show_preview_regions(self, regions: list[tuple[tuple[slice, slice, slice], np.ndarray]]) -> None:
        """Replace what the preview shows by ``regions`` (absolute ``zyx`` box, mask of its shape)."""
        preview = self._preview
        if preview is None:
            return
        old, self._preview_boxes = self._preview_boxes, []
        for box in old:
            preview.array[box] = 0
        for box, mask in regions:
            preview.array[box] = mask
            self._preview_boxes.append(box)
        for box in old + self._preview_boxes:
            preview.changed.emit(box)

    def update_preview(self) -> None:
        """Show the active tool's live preview on the displayed slices, or drop it.

        Threshold: the thresholded displayed slices, recomputed when the range or a slice changes.
        Level tracing: the region a click would add, under the resting mouse (see
        :meth:`request_hover_preview`). Computed on the GUI thread (milliseconds per slice); the
        preview is a display-only label volume, never part of the session or its undo history.
        """
        tool = self.active_tool
        if tool is None or tool.id not in PREVIEW_TOOLS + HOVER_PREVIEW_TOOLS:
            self._drop_preview()
            return
        preview = self._ensure_preview()
        if preview is None or tool.id in HOVER_PREVIEW_TOOLS:
            self._show_preview_regions([])
            return
        image = self.session.active_image
        regions = []
        try:
            for router in self.routers:
                scene = router.view.scene
                if scene.image is None or scene.axes is None:
                    continue
                state = ViewState(preview, image, 1, scene.axes.slice_axis_zyx, scene.slice_index)
                regions.append((state.slice_box(), tool.preview(state, scene.slice_index)))  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - a preview error must not break the event loop
            self._report(exc)
        self._show_preview_regions(regions)

    def request_hover_preview(self, router: SliceToolRouter | None, zyx: ZYX | None = None) -> None:
        """Preview the active hover tool at ``zyx`` of ``router``'s view once the mouse rests (None clears)."""
        self._hover = (router, zyx) if router is not None and zyx is not None else None
        if self._hover is None:
            self._hover_timer.stop()
            self._show_preview_regions([])
        else:
            self._hover_timer.start()

    def _on_hover_timer_timeout(self) -> None:
        tool, hover = self.active_tool, self._hover
        if tool is None or tool.id not in HOVER_PREVIEW_TOOLS or hover is None:
            return
        preview = self._ensure_preview()
        router, zyx = hover
        scene = router.view.scene
        if preview is None or scene.axes is None:
            return
        state = ViewState(preview, self.session.active_image, 1, scene.axes.slice_axis_zyx, scene.slice_index)
        try:
            region = tool.preview(state, zyx)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - as above
            self._report(exc)
            region = None
        self._show_preview_regions([region] if region is not None else [])

    def _drop_preview(self) -> None:
        if self._preview is None:
            return
        self._preview = None
        self._preview_boxes = []
        for router in self.routers:
            router.show_preview(None)

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
        self.labels = labels
        if labels is not None:
            labels.changed.connect(self._on_labels_changed)
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
        """Erase a segment's voxels (one undo step) and remove it from the table."""
        labels = self.labels
        if labels is None or label_id not in labels.table:
            return
        box = mask_box(labels.array == label_id)
        if box is not None:
            with labels.transaction(f"Remove segment {labels.table[label_id].name}"):
                labels.paint(box, labels.array[box] == label_id, 0)
        labels.table.remove(label_id)
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
        self.history_changed.emit()

    def close(self) -> None:
        """Disconnect from the session and the labels; remove the brush cursors (before the views close)."""
        self.cancel_interaction()
        for job in list(self._jobs):
            job.cancel()
        self.session.segmentation_added.disconnect(self._on_session_segmentation_added)
        if self.labels is not None:
            self.labels.changed.disconnect(self._on_labels_changed)
        self._hover_timer.stop()
        self._hover = None
        self._drop_preview()
        for tool_id in PREVIEW_TOOLS:
            if tool_id in self.tools:
                events = self.tools[tool_id].params.events
                for name in ("lower", "upper"):
                    if hasattr(events, name):
                        getattr(events, name).disconnect(self._on_preview_params_changed)
        for router in self.routers:
            router.close()
        self.routers.clear()


class SliceToolRouter(QObject):
    """Event filter routing a slice view's left button to the active tool (see module docs)."""

    def __init__(self, view: SliceViewport, controller: EditorController) -> None:
        super().__init__(view)
        self.view = view
        self.controller = controller
        self.pressed = False
        self.cursor = BrushCursorVisual(view.renderer, view.request_render)
        self.polyline = PolylineVisual(view.renderer, view.request_render)
        self.preview_visual: LabelSliceVisual | None = None
        view.slice_changed.connect(self._on_view_slice_changed)
        self._hover_xy: tuple[float, float] | None = None
        view.installEventFilter(self)

    def _tool_event(self, tool: Tool, method: str, xy: tuple[float, float]) -> bool:
        controller = self.controller
        if method == "press" and not controller.ensure_target():
            return False
        labels = controller.labels
        if labels is None:
            return False
        shown = self.view.scene.image
        if shown is None or not labels.geometry.same_grid(shown.image.geometry):
            if method == "press":
                controller._report(f"{labels.name} is not on the grid of the displayed image")
            return False
        zyx = pick_zyx(self.view, labels.geometry, xy)
        if zyx is None:
            return False
        controller.last_view = self.view
        try:
            getattr(tool, method)(controller._state(self.view), zyx)
        except Exception as exc:  # noqa: BLE001 - a tool error must not break the event loop
            self.pressed = False
            tool.cancel(controller._state(self.view))
            controller._report(exc)
        controller.update_polylines()
        return True

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Route left-button events to the active tool; everything else goes to the viewport."""
        etype = event.type()
        if self.cursor is None:
            return False
        if etype == QEvent.Type.Close:
            self.close()
            return False
        tool = self.controller.active_tool
        if tool is None:
            if etype == QEvent.Type.Leave or self.cursor.visible:
                self.cursor.set_visible(False)
            return False
        if etype == QEvent.Type.MouseButtonPress:
            mods = event.modifiers() & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier
                                        | Qt.KeyboardModifier.AltModifier)
            if event.button() != Qt.MouseButton.LeftButton or mods:
                return False
            self.view.setFocus()
            xy = self.view.display_xy(event.position())
            self.pressed = self._tool_event(tool, "press", xy)
            return self.pressed
        if etype == QEvent.Type.MouseMove:
            xy = self.view.display_xy(event.position())
            if self._hover_xy is None:  # entered this view: one brush circle at a time
                for router in self.controller.routers:
                    if router is not self:
                        router.hide_cursor()
            self._hover_xy = xy
            self.update_cursor()
            if self.pressed:
                self._tool_event(tool, "drag", xy)
                return True
            if tool.id in HOVER_PREVIEW_TOOLS:
                self._request_hover(xy)
            return False
        if etype == QEvent.Type.MouseButtonRelease and self.pressed and event.button() == Qt.MouseButton.LeftButton:
            self.pressed = False
            self._tool_event(tool, "release", self.view.display_xy(event.position()))
            self.controller.history_changed.emit()
            return True
        if etype == QEvent.Type.MouseButtonDblClick and event.button() == Qt.MouseButton.LeftButton:
            if tool.id == "draw":
                self.controller.apply(self.view)
            return True  # no maximise while editing
        if etype == QEvent.Type.Wheel and event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            delta = event.angleDelta().y() or event.angleDelta().x()  # Shift turns the wheel sideways on some systems
            if hasattr(tool.params, "radius_mm") and delta:
                self.controller.scale_brush(BRUSH_STEP if delta > 0 else 1 / BRUSH_STEP)
                return True
            return False
        if etype == QEvent.Type.KeyPress and tool.id == "draw":
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.controller.apply(self.view)
                return True
            if event.key() == Qt.Key.Key_X:
                tool.remove_last_point()  # type: ignore[attr-defined]
                return True
        if etype == QEvent.Type.Leave:
            self._hover_xy = None
            self.cursor.set_visible(False)
            if tool.id in HOVER_PREVIEW_TOOLS:
                self.controller.request_hover_preview(None)
        return False

    def update_polyline(self) -> None:
        """Show the Draw polygon / Scissors shape being drawn in this view (hidden otherwise)."""
        if self.cursor is None:
            return
        tool, labels = self.controller.active_tool, self.controller.labels
        points_rc = list(getattr(tool, "points_rc", None) or [])
        index = getattr(tool, "_index", None)
        axes = self.view.scene.axes
        if (not points_rc or index is None or labels is None or axes is None
                or self.controller.last_view is not self.view):
            self.polyline.set_visible(False)
            return
        rc = np.asarray(points_rc, float)
        closed = tool.id == "draw"
        if tool.id == "scissors":
            closed = True
            if getattr(tool.params, "shape", None) == "rectangle" and len(rc) >= 2:
                (r0, c0), (r1, c1) = rc[0], rc[-1]
                rc = np.array([(r0, c0), (r0, c1), (r1, c1), (r1, c0)], float)
        zyx = np.insert(rc, axes.slice_axis_zyx, float(index), axis=1)
        rgb = None
        if self.controller.label_id in labels.table:
            rgb = tuple(v / 255.0 for v in labels.table[self.controller.label_id].color_rgb)
        self.polyline.set_points(labels.geometry.index_zyx_to_lps(zyx), closed=closed, rgb=rgb)  # type: ignore[arg-type]

    def _request_hover(self, xy: tuple[float, float]) -> None:
        shown = self.view.scene.image
        if shown is None:
            return
        zyx = pick_zyx(self.view, shown.image.geometry, xy)
        self.controller.request_hover_preview(self, zyx)

    def show_preview(self, preview: LabelVolume | None) -> None:
        """Overlay the controller's preview volume in this view (None removes it)."""
        if self.cursor is None:
            return
        if preview is None:
            if self.preview_visual is not None:
                self.preview_visual.close()
                self.preview_visual = None
                self.view.request_render()
            return
        if self.preview_visual is None:
            self.preview_visual = LabelSliceVisual(self.view.renderer, self.view.request_render)
        self.preview_visual.set_labels(preview)
        self.preview_visual.set_fill(True, PREVIEW_OPACITY)

    def _on_view_slice_changed(self, *_: object) -> None:
        if self.preview_visual is not None:
            self.controller.update_preview()

    def hide_cursor(self) -> None:
        """Forget the hover point and hide the brush circle (the mouse is in another view)."""
        self._hover_xy = None
        if self.cursor is not None:
            self.cursor.set_visible(False)

    def update_cursor(self) -> None:
        """Draw the brush circle at the mouse for tools with a radius (hidden otherwise)."""
        if self.cursor is None:
            return
        tool = self.controller.active_tool
        scene = self.view.scene
        radius = getattr(tool.params, "radius_mm", None) if tool is not None else None
        if radius is None or self._hover_xy is None or scene.image is None or scene.axes is None:
            self.cursor.set_visible(False)
            return
        labels = self.controller.labels
        rgb = None
        if labels is not None and self.controller.label_id in labels.table:
            rgb = tuple(c / 255.0 for c in labels.table[self.controller.label_id].color_rgb)
        if tool is not None and tool.id == "erase":
            rgb = (1.0, 1.0, 1.0)
        self.cursor.set_circle(scene.display_to_lps(self._hover_xy), scene.axes.right_lps, scene.axes.up_lps,
                               float(radius), rgb)  # type: ignore[arg-type]
        self.cursor.set_visible(True)

    def close(self) -> None:
        """Stop filtering and remove the brush cursor from the view."""
        if self.cursor is not None:
            self.view.removeEventFilter(self)
            self.view.slice_changed.disconnect(self._on_view_slice_changed)
            self.show_preview(None)
            self.cursor.close()
            self.polyline.close()
            self.cursor = None  # type: ignore[assignment]
