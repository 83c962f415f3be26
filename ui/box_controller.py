"""Boxes in the slice views: Box mode, the per-view visuals and routers, hover tooltips, the Boxes menu.

:class:`BoxController` owns the :class:`~app.tools.box.BoxTool` (active in *Box mode*), one
:class:`~render.box_visual.BoxSliceVisual` per slice view, the 3D
:class:`~render.box_visual.BoxWireframeVisual` and one :class:`BoxRouter` (event filter) per slice
view. Box mode, the Segment Editor tools and the measurement tools exclude each other.

Mouse and keys in a slice view while Box mode is on (plain left button; modified clicks and the
other buttons keep their viewer meaning):

=====================  ====================================================================
left-drag on nothing   draw a new box (3D: default depth = its smaller side; 2D: this slice)
click / drag inside    select / move the box
drag a handle or edge  resize (corner: two faces; edge: one face; a 3D box's depth in an
                       orthogonal view)
Delete / Backspace     delete the selected box
← → ↑ ↓ (Shift ×10)    nudge the selected box one voxel (ten)
Ctrl+↑ / Ctrl+↓        copy the selected 2D box to the next / previous slice (and go there)
Esc                    cancel the drag, else clear the selection, else leave Box mode
=====================  ====================================================================

Hovering a box in any mode shows its label, confidence, size in mm and review status. Other code
selects a box and centres every view on it with :meth:`BoxController.select` (``centre=True``);
``window.box_tool`` is this controller. GUI thread only.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QToolTip

from app.model.annotation_history import AnnotationHistory
from app.model.annotations import box_name
from app.tools.box import BoxPlane, BoxTool
from render.box_visual import BoxSliceVisual, BoxWireframeVisual, default_color

if TYPE_CHECKING:
    from app.model.annotations import Box
    from app.model.session import Session
    from render.image_data import VtkImage
    from render.orientation import ViewKind
    from ui.view_grid import ViewGrid
    from ui.viewer_state import ViewerState
    from ui.viewport import SliceViewport

log = logging.getLogger(__name__)

#: Grab distance (logical px) of a handle or an edge.
GRAB_PX = 6.0
_ARROWS = {Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Up: (0, 1), Qt.Key.Key_Down: (0, -1)}
_MODS = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier


def box_tooltip(box: Box, name: str) -> str:
    """Hover text of a box: label (and note), confidence, size in mm along L × P × S, status and source."""
    lines = [box_name(box, name)]
    if box.confidence is not None:
        lines.append(f"confidence {box.confidence:.2f}")
    size = " × ".join(f"{v:.1f}" for v in box.size_mm)
    lines.append(f"{box.kind.upper()} box {size} mm (L × P × S)")
    prov = box.provenance
    lines.append(prov.status if prov.source == "manual" else f"{prov.status} — {prov.source}")
    return "\n".join(lines)


class BoxController(QObject):
    """Box mode, the box visuals of every view, the selection and the box commands.

    Parameters
    ----------
    session, state, grid
        The window's session (``session.boxes`` is edited), viewer state and view grid.
    history
        The session's annotation history (each drag/command is one step).
    centre
        Callable moving every view to an LPS point (the window's ``centre_views_on``); default:
        move the linked cursor.

    Signals
    -------
    mode_changed(bool)
        Box mode switched on/off.
    selection_changed(object)
        The selected box id (str) or None.
    failed(str)
        A one-line message for the status bar.
    """

    mode_changed = Signal(bool)
    selection_changed = Signal(object)
    failed = Signal(str)

    def __init__(self, session: Session, state: ViewerState, grid: ViewGrid, history: AnnotationHistory,
                 centre: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.state = state
        self.grid = grid
        self.history = history
        self.centre = centre or state.set_cursor
        self.tool = BoxTool(session.boxes, None, history)
        self.active = False
        self.exclusive: list[Any] = []  # controllers with set_tool(None) to switch off in Box mode
        self._selected: str | None = None
        self.visuals: dict[ViewKind, BoxSliceVisual] = {}
        self.routers: list[BoxRouter] = []
        self._slots: list[tuple[Any, Any]] = []
        for kind, view in grid.slice_views.items():
            visual = BoxSliceVisual(view.renderer, view.request_render)
            visual.set_labels(self.color_of, self.name_of)
            visual.set_boxes(session.boxes)
            self.visuals[kind] = visual
            slot = partial(self._on_view_slice_changed, view)
            view.slice_changed.connect(slot)
            self._slots.append((view.slice_changed, slot))
            self.routers.append(BoxRouter(view, self))
        volume_view = grid.volume_view
        self.wireframe = BoxWireframeVisual(volume_view.renderer, volume_view.request_render)
        self.wireframe.set_labels(self.color_of, self.name_of)
        self.wireframe.set_boxes(session.boxes)
        state.image_changed.connect(self._on_state_image_changed)
        session.boxes.removed.connect(self._on_boxes_removed)
        session.segmentation_added.connect(self._on_session_segmentation_added)
        for labels in session.segmentations:
            labels.table.changed.connect(self._on_table_changed)
        self._on_state_image_changed(state.image)

    # ----------------------------------------------------------------- labels
    def _tables(self) -> list[Any]:
        return [labels.table for labels in self.session.segmentations]

    def color_of(self, label_id: int) -> tuple[float, float, float]:
        """Colour (0–1 RGB) of a label id: the first segmentation's table that has it, else the palette."""
        for table in self._tables():
            if label_id in table:
                return tuple(c / 255.0 for c in table[label_id].color_rgb)  # type: ignore[return-value]
        return default_color(label_id)

    def name_of(self, label_id: int) -> str:
        """Name of a label id from the segmentations' tables ("" when none has it)."""
        for table in self._tables():
            if label_id in table:
                return table[label_id].name
        return ""

    def _on_session_segmentation_added(self, labels: Any) -> None:
        labels.table.changed.connect(self._on_table_changed)
        self._on_table_changed()

    def _on_table_changed(self, *_: object) -> None:
        for visual in (*self.visuals.values(), self.wireframe):
            visual.rebuild()

    # ------------------------------------------------------------------ views
    def _on_view_slice_changed(self, view: SliceViewport, *_: object) -> None:
        self._sync_view(view)

    def _sync_view(self, view: SliceViewport) -> None:
        visual = self.visuals[view.kind]
        scene = view.scene
        if scene.axes is None:
            visual.set_plane(None, None, 0)
            return
        oblique = None
        if getattr(scene, "oblique", False):
            oblique = (scene.focal_lps, scene.axes.view_direction_lps)
        visual.set_plane(view.kind.value, scene.axes.slice_axis_zyx, scene.slice_index, oblique)

    def _on_state_image_changed(self, image: VtkImage | None) -> None:
        self.tool.cancel()
        geometry = image.image.geometry if image is not None else None
        self.tool.geometry = geometry
        for view in self.grid.slice_views.values():
            self.visuals[view.kind].set_geometry(geometry)
            self._sync_view(view)

    def plane_of(self, view: SliceViewport) -> BoxPlane | None:
        """The index plane ``view`` shows (None without an image or on a rotated, oblique view)."""
        scene = view.scene
        if scene.axes is None or scene.image is None or getattr(scene, "oblique", False):
            return None
        return BoxPlane(view.kind.value, scene.axes.slice_axis_zyx, scene.slice_index)

    def shown_in(self, view: SliceViewport, plane: BoxPlane) -> dict[str, np.ndarray] | None:
        """The polygons ``view``'s visual draws when it shows ``plane`` (None: stale, recompute)."""
        visual = self.visuals.get(view.kind)
        if visual is None or (visual.axis_zyx, visual.slice_index, visual.oblique_plane) != (
                plane.axis_zyx, plane.slice_index, None) or visual.geometry is not self.tool.geometry:
            return None
        return visual.shown

    @staticmethod
    def mm_per_px(view: SliceViewport) -> float:
        """Millimetres per logical pixel of ``view`` at its current zoom."""
        ratio = view.devicePixelRatioF()
        a = view.scene.display_to_lps((0.0, 0.0))
        b = view.scene.display_to_lps((ratio, 0.0))
        return float(np.linalg.norm(b - a))

    # ------------------------------------------------------------------ mode
    def set_active(self, on: bool) -> None:
        """Switch Box mode on (other editing tools off) or off (review mode)."""
        on = bool(on)
        if on == self.active:
            return
        if not on:
            self.tool.cancel()
        self.active = on
        if on:
            for other in self.exclusive:
                other.set_tool(None)
            editor = next((o for o in self.exclusive if hasattr(o, "label_id")), None)
            if editor is not None and getattr(editor, "labels", None) is not None:
                self.tool.label_id = int(editor.label_id) or 1
        for router in self.routers:
            router.pressed = False
            router.view.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)
        self.mode_changed.emit(on)

    def _on_other_tool_changed(self, tool: str) -> None:
        if tool:
            self.set_active(False)

    def watch_exclusive(self, controller: Any) -> None:
        """Make ``controller`` (``set_tool`` + ``tool_changed(str)``) and Box mode exclude each other."""
        self.exclusive.append(controller)
        controller.tool_changed.connect(self._on_other_tool_changed)
        self._slots.append((controller.tool_changed, self._on_other_tool_changed))

    def set_kind(self, kind: str) -> None:
        """Kind of new boxes: "3d" or "2d"."""
        if kind not in ("3d", "2d"):
            raise ValueError(f"box kind must be '3d' or '2d', got {kind!r}")
        self.tool.kind = kind

    def set_show_rejected(self, show: bool) -> None:
        """Draw rejected boxes dimmed (True) or hide them (False) in every view."""
        for visual in (*self.visuals.values(), self.wireframe):
            visual.set_show_rejected(show)

    # -------------------------------------------------------------- selection
    @property
    def selected_id(self) -> str | None:
        """The selected box id (None: none)."""
        return self.tool.selected_id

    def select(self, box_id: str | None, *, centre: bool = False) -> None:
        """Select a box (None clears) and optionally centre every view on it.

        Raises KeyError for an id not in ``session.boxes``.
        """
        box = self.tool.select(box_id)
        self.sync_selection()
        if centre and box is not None:
            self.centre(np.add(box.lps_min, box.lps_max) / 2.0)

    def sync_selection(self) -> None:
        """Push the tool's selection to the visuals; emit ``selection_changed`` when it changed."""
        selected = self.tool.selected_id
        for visual in (*self.visuals.values(), self.wireframe):
            visual.set_selected(selected)
        if selected != self._selected:
            self._selected = selected
            self.selection_changed.emit(selected)

    def _on_boxes_removed(self, box: Box) -> None:
        if box.id == self.tool.selected_id:
            self.tool.selected_id = None
            self.sync_selection()

    # -------------------------------------------------------------- commands
    def delete_selected(self) -> bool:
        """Delete the selected box (one undo step)."""
        done = self.tool.delete()
        self.sync_selection()
        return done

    def nudge(self, view: SliceViewport, right: int, up: int) -> bool:
        """Move the selected box ``right`` / ``up`` voxels along ``view``'s screen axes."""
        axes = view.scene.axes
        if self.tool.selected() is None or axes is None:
            return False
        with self.history.transaction("Nudge box"):
            if right:
                self.tool.nudge(axes.right_lps * np.sign(right), abs(right))
            if up:
                self.tool.nudge(axes.up_lps * np.sign(up), abs(up))
        return True

    def copy_to_adjacent(self, view: SliceViewport, delta: int) -> bool:
        """Copy the selected 2D box ``delta`` slices along ``view``'s axis and show that slice."""
        plane = self.plane_of(view)
        if plane is None or self.tool.selected() is None:
            return False
        try:
            self.tool.copy_to_slice(plane, delta)
        except ValueError as exc:
            self.failed.emit(str(exc))
            return False
        view.step_slice(delta)
        self.sync_selection()
        return True

    def set_bounds(self, lps_min: Any, lps_max: Any, label_id: int | None = None, note: str | None = None) -> None:
        """Numeric entry for the selected box: corners (LPS mm), label and note, as one undo step."""
        box = self.tool.selected()
        if box is None:
            raise ValueError("no box selected")
        with self.history.transaction("Edit box"):
            self.tool.set_bounds(lps_min, lps_max)
            changes: dict[str, Any] = {}
            if label_id is not None and int(label_id) != box.label_id:
                changes["label_id"] = int(label_id)
            if note is not None and note != box.note:
                changes["note"] = note
            if changes:
                from app.tools.box import stamp_edited

                current = self.session.boxes[box.id]
                self.session.boxes.update(box.id, provenance=stamp_edited(current.provenance, self.tool.reader),
                                          **changes)

    def hover_text(self, view: SliceViewport, lps_mm: np.ndarray) -> str:
        """Tooltip for the box under ``lps_mm`` in ``view`` ("" when none)."""
        plane = self.plane_of(view)
        if plane is None or self.tool.geometry is None:
            return ""
        hit = self.tool.hit(plane, lps_mm, GRAB_PX * self.mm_per_px(view), self.shown_in(view, plane))
        if hit is None:
            return ""
        box = self.session.boxes[hit[0]]
        return box_tooltip(box, self.name_of(box.label_id))

    def close(self) -> None:
        """Disconnect and remove the visuals (before the views close)."""
        self.tool.cancel()
        for signal, slot in self._slots:
            signal.disconnect(slot)
        self._slots.clear()
        self.state.image_changed.disconnect(self._on_state_image_changed)
        self.session.boxes.removed.disconnect(self._on_boxes_removed)
        self.session.segmentation_added.disconnect(self._on_session_segmentation_added)
        for labels in self.session.segmentations:
            labels.table.changed.disconnect(self._on_table_changed, missing_ok=True)
        for router in self.routers:
            router.close()
        self.routers.clear()
        for visual in self.visuals.values():
            visual.close()
        self.visuals.clear()
        self.wireframe.close()


class BoxRouter(QObject):
    """Event filter: a slice view's plain left button and keys drive the box tool in Box mode; hover tooltips."""

    def __init__(self, view: SliceViewport, controller: BoxController) -> None:
        super().__init__(view)
        self.view = view
        self.controller = controller
        self.pressed = False
        self._tip = False
        view.installEventFilter(self)

    def _lps(self, event: Any) -> np.ndarray:
        return self.view.scene.display_to_lps(self.view.display_xy(event.position()))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Route mouse and keys to the box tool (see module docstring)."""
        etype = event.type()
        c = self.controller
        if (etype == QEvent.Type.MouseMove and not self.pressed and event.buttons() == Qt.MouseButton.NoButton
                and len(c.session.boxes)):
            self._hover(event)  # plain hover over boxes only: not while another tool drags (a paint stroke)
        if not c.active:
            return False
        tool = c.tool
        if etype == QEvent.Type.MouseButtonPress:
            if event.button() != Qt.MouseButton.LeftButton or event.modifiers() & _MODS:
                return False
            plane = c.plane_of(self.view)
            if plane is None:
                if self.view.scene.image is not None:
                    c.failed.emit("boxes are drawn on axis-aligned views (r resets a rotated view)")
                return False
            self.view.setFocus()
            tool.press(plane, self._lps(event), GRAB_PX * c.mm_per_px(self.view), c.shown_in(self.view, plane))
            self.pressed = True
            c.sync_selection()
            return True
        if etype == QEvent.Type.MouseMove and self.pressed:
            plane = c.plane_of(self.view)
            if plane is not None:
                tool.drag(plane, self._lps(event))
            return True
        if etype == QEvent.Type.MouseButtonRelease and self.pressed and event.button() == Qt.MouseButton.LeftButton:
            self.pressed = False
            plane = c.plane_of(self.view)
            if plane is not None:
                tool.release(plane, self._lps(event))
            else:
                tool.cancel()
            c.sync_selection()
            return True
        if etype == QEvent.Type.MouseButtonDblClick and event.button() == Qt.MouseButton.LeftButton:
            return True  # no maximise while drawing boxes
        if etype == QEvent.Type.KeyPress:
            return self._key(event)
        return False

    def _key(self, event: Any) -> bool:
        c, key, mods = self.controller, event.key(), event.modifiers()
        if key == Qt.Key.Key_Escape:
            if c.tool.busy:
                c.tool.cancel()
                self.pressed = False
            elif c.tool.selected_id is not None:
                c.select(None)
            else:
                c.set_active(False)
            c.sync_selection()
            return True
        if c.tool.selected() is None:
            return False
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            return c.delete_selected()
        if key in _ARROWS:
            right, up = _ARROWS[key]
            if mods & Qt.KeyboardModifier.ControlModifier:
                return up != 0 and c.copy_to_adjacent(self.view, up)
            n = 10 if mods & Qt.KeyboardModifier.ShiftModifier else 1
            return c.nudge(self.view, right * n, up * n)
        return False

    def _hover(self, event: Any) -> None:
        if self.view.scene.image is None:
            return
        try:
            text = self.controller.hover_text(self.view, self._lps(event))
        except Exception:  # noqa: BLE001 - a tooltip must never break the event loop
            log.debug("box hover failed", exc_info=True)
            text = ""
        if text:
            QToolTip.showText(self.view.mapToGlobal(event.position().toPoint()), text, self.view)
            self._tip = True
        elif self._tip:
            QToolTip.hideText()
            self._tip = False

    def close(self) -> None:
        """Stop filtering the view's events."""
        self.view.removeEventFilter(self)
