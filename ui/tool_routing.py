"""Glue between slice viewports and the editing tools (Segment Editor behaviour).

:class:`~ui.editor_controller.EditorController` owns the editor state the panel and the views
share: the active segmentation, the active segment, the shared masking options, one instance per
registered tool (so options persist while switching) and the active tool (None = review mode: the
left button does window/level, as before).

:class:`SliceToolRouter` is an event filter on one :class:`~ui.viewport.SliceViewport`: while a
tool is active, a plain left press/drag/release becomes ``tool.press/drag/release(view_state, zyx)``
(mouse → VTK display → LPS on the slice plane → nearest ``zyx`` voxel of the segmentation);
modified clicks (Shift crosshair, Ctrl zoom, Alt pan) and the other buttons keep their viewer
meaning. It also draws the brush circle (:class:`~render.brush_cursor.BrushCursorVisual`) and maps
Shift+wheel to the brush size. Heavy one-shot tools run as ``Job(tool.compute, view.snapshot())``
and are committed on the GUI thread. GUI thread only.

This module holds the router, the editor constants and :func:`pick_zyx`; the controller lives in
:mod:`ui.editor_controller` (re-exported here as ``EditorController``) and its live previews in
:mod:`ui.tool_preview`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt

from app.tools import Tool
from render.brush_cursor import BrushCursorVisual, PolylineVisual
from render.label_visual import LabelSliceVisual

if TYPE_CHECKING:
    from app.model.geometry import Geometry
    from app.model.labels import LabelVolume
    from ui.editor_controller import EditorController
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
        if self.view.scene.oblique:  # tools edit index planes; a rotated view shows none
            if method == "press":
                controller._report("Editing works on axis-aligned views: press r to reset the rotation")
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


def __getattr__(name: str) -> Any:
    """Resolve ``EditorController`` lazily (it imports this module; see :mod:`ui.editor_controller`)."""
    if name == "EditorController":
        from ui.editor_controller import EditorController

        return EditorController
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
