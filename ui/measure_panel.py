"""Measurements in the slice views: the tool routing, the per-view visuals and the list panel.

:class:`MeasureController` owns the active measurement tool (:class:`~app.tools.measure.MeasureTool`,
None = review mode), one :class:`~render.measurement_visual.MeasurementVisual` per slice view and
one :class:`MeasureRouter` per view. The router is an event filter on the
:class:`~ui.viewport.SliceViewport` with the same contract as the Segment Editor's
:class:`~ui.tool_routing.SliceToolRouter`: while a tool is active a plain left press/drag/release
goes to the tool (mouse → VTK display → LPS on the slice plane; a press on a handle of a shown
measurement drags that point instead); modified clicks (Shift crosshair,
Ctrl zoom, Alt pan) and the other buttons keep their viewer meaning. Measurement tools and
Segment Editor tools exclude each other (picking one puts the other back in review mode).
The label tools' router cannot drive measurements (it maps to ``zyx`` of a segmentation and
creates one on the first press), hence this small parallel router.

:class:`MeasurePanel` lists the measurements with their values; Del (in the list or a slice view)
removes the selected ones, double-click jumps the linked cursor to one. GUI thread only.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import qtawesome as qta
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.model.measurements import MEASUREMENT_TYPES, SlicePlane, describe, image_key
from app.tools.measure import MeasureTool
from render.measurement_visual import MeasurementVisual

if TYPE_CHECKING:
    from app.model.measurements import MeasurementSet
    from app.model.session import Session
    from render.image_data import VtkImage
    from render.orientation import ViewKind
    from ui.main_window import MainWindow
    from ui.view_grid import ViewGrid
    from ui.viewer_state import ViewerState
    from ui.viewport import SliceViewport

log = logging.getLogger(__name__)

#: kind → (title, qtawesome icon).
TOOL_LOOK = {"ruler": ("Ruler", "mdi6.ruler"), "angle": ("Angle", "mdi6.angle-acute"),
             "ellipse": ("Ellipse ROI", "mdi6.ellipse-outline"),
             "rectangle": ("Rectangle ROI", "mdi6.rectangle-outline")}
_ID_ROLE = Qt.ItemDataRole.UserRole
#: Grab distance (logical px) of a measurement's handle.
HANDLE_GRAB_PX = 6.0


def _icon(name: str) -> QIcon:
    try:
        return qta.icon(name)
    except Exception:  # noqa: BLE001 - a missing glyph must not stop the window
        return QIcon()


class MeasureController(QObject):
    """The active measurement tool, the visuals of every slice view and the selection.

    Parameters
    ----------
    session, state, grid
        The window's session (its ``measurement_set`` is edited), viewer state and view grid.
    editor
        The Segment Editor's controller (anything with ``tool_changed(str)`` and ``set_tool``), or
        None; its tools and the measurement tools exclude each other.

    Signals
    -------
    tool_changed(str)
        Kind of the active measurement tool, "" for none.
    selection_changed(object)
        The selected measurement ids (a set).
    """

    tool_changed = Signal(str)
    selection_changed = Signal(object)

    def __init__(self, session: Session, state: ViewerState, grid: ViewGrid, editor: QObject | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.measurements: MeasurementSet = session.measurement_set
        self.state = state
        self.grid = grid
        self.editor = editor
        self.tool: MeasureTool | None = None
        self.selected: set[str] = set()
        self.visuals: dict[ViewKind, MeasurementVisual] = {}
        self.routers: list[MeasureRouter] = []
        self._slots: list[tuple[object, object]] = []
        for kind, view in grid.slice_views.items():
            visual = MeasurementVisual(view.renderer, view.request_render)
            visual.set_measurements(self.measurements)
            self.visuals[kind] = visual
            slot = partial(self._on_view_slice_changed, view, visual)
            view.slice_changed.connect(slot)
            self._slots.append((view.slice_changed, slot))
            self.routers.append(MeasureRouter(view, self))
        state.image_changed.connect(self._on_state_image_changed)
        if editor is not None and hasattr(editor, "tool_changed"):
            editor.tool_changed.connect(self._on_editor_tool_changed)
        self._on_state_image_changed(state.image)

    # ------------------------------------------------------------------ views
    def _on_view_slice_changed(self, view: SliceViewport, visual: MeasurementVisual, *_: object) -> None:
        self._sync_view(view, visual)

    def _sync_view(self, view: SliceViewport, visual: MeasurementVisual) -> None:
        axes = view.scene.axes  # an oblique (rotated) view shows no index plane: its measurements are hidden
        visual.set_plane(axes.slice_axis_zyx if axes is not None and not view.scene.oblique else None,
                         view.scene.slice_index)

    def _on_state_image_changed(self, image: VtkImage | None) -> None:
        volume = image.image if image is not None else None
        if self.tool is not None:
            self.tool.cancel()
            self.tool.image_key = image_key(volume) if volume is not None else ""
        for kind, visual in self.visuals.items():
            view = self.grid.slice_views[kind]
            if view.scene.axes is not None:
                visual.set_screen_axes(view.scene.axes.right_lps, view.scene.axes.up_lps)
            visual.set_image(volume)
            self._sync_view(view, visual)

    def hit_handle(self, view: SliceViewport, display_xy: tuple[float, float]) -> tuple[str, int] | None:
        """Return (measurement id, point index) of the handle under a display position of ``view``, or None."""
        visual = self.visuals.get(view.kind)
        if visual is None or view.scene.image is None:
            return None
        best: tuple[float, str, int] | None = None
        for item_id in visual.shown_ids:
            for i, p in enumerate(self.measurements[item_id].points):
                x, y = view.scene.lps_to_display(p)
                d = float(np.hypot(x - display_xy[0], y - display_xy[1]))
                if d <= HANDLE_GRAB_PX * view.devicePixelRatioF() and (best is None or d < best[0]):
                    best = (d, item_id, i)
        return (best[1], best[2]) if best is not None else None

    def move_handle(self, item_id: str, index: int, lps_mm: np.ndarray) -> None:
        """Move point ``index`` of a measurement to ``lps_mm`` (LPS mm)."""
        if item_id in self.measurements:
            points = self.measurements[item_id].points
            points[index] = lps_mm
            self.measurements.set_points(item_id, points)

    def plane_of(self, view: SliceViewport) -> SlicePlane | None:
        """The plane ``view`` shows now (None without an image)."""
        axes = view.scene.axes
        if axes is None or view.scene.image is None or view.scene.oblique:
            return None
        return SlicePlane(view.kind.value, axes.slice_axis_zyx, view.scene.slice_index)

    # ------------------------------------------------------------------ tools
    def set_tool(self, kind: str | None) -> None:
        """Activate the measurement tool ``kind`` ("ruler", "angle", "ellipse", "rectangle"); None/"" = review mode."""
        kind = kind or ""
        if kind and kind not in MEASUREMENT_TYPES:
            raise ValueError(f"unknown measurement tool {kind!r}")
        if kind == (self.tool.kind if self.tool is not None else ""):
            return
        if self.tool is not None:
            self.tool.cancel()
        volume = self.state.volume
        self.tool = MeasureTool(self.measurements, kind, image_key(volume) if volume is not None else "") \
            if kind else None
        if kind and self.editor is not None and hasattr(self.editor, "set_tool"):
            self.editor.set_tool(None)
        for router in self.routers:
            router.pressed = False
            router.view.setCursor(Qt.CursorShape.CrossCursor if kind else Qt.CursorShape.ArrowCursor)
        self.tool_changed.emit(kind)

    def _on_editor_tool_changed(self, tool_id: str) -> None:
        if tool_id:
            self.set_tool(None)

    # -------------------------------------------------------------- commands
    def select(self, ids: set[str] | list[str]) -> None:
        """Highlight these measurements in every view."""
        self.selected = {i for i in ids if i in self.measurements}
        for visual in self.visuals.values():
            visual.set_selected(self.selected)
        self.selection_changed.emit(set(self.selected))

    def delete(self, ids: set[str] | list[str]) -> int:
        """Remove measurements by id; return how many were removed."""
        n = 0
        for item_id in list(ids):
            if item_id in self.measurements:
                if self.tool is not None and self.tool.current_id == item_id:
                    self.tool.current_id = None
                self.measurements.remove(item_id)
                n += 1
        self.select(self.selected)
        return n

    def jump_to(self, item_id: str) -> None:
        """Move the linked cursor to a measurement: every view shows the slice through it."""
        if item_id in self.measurements:
            self.state.set_cursor(self.measurements[item_id].centre_lps_mm)

    def close(self) -> None:
        """Disconnect and remove the visuals (call before the views close)."""
        if self.tool is not None:
            self.tool.cancel()
        for signal, slot in self._slots:
            signal.disconnect(slot)
        self._slots.clear()
        self.state.image_changed.disconnect(self._on_state_image_changed)
        if self.editor is not None and hasattr(self.editor, "tool_changed"):
            try:
                self.editor.tool_changed.disconnect(self._on_editor_tool_changed)
            except (RuntimeError, TypeError):  # already gone with the editor
                pass
        for router in self.routers:
            router.close()
        self.routers.clear()
        for visual in self.visuals.values():
            visual.close()
        self.visuals.clear()


class MeasureRouter(QObject):
    """Event filter: a slice view's plain left button drives the active measurement tool."""

    def __init__(self, view: SliceViewport, controller: MeasureController) -> None:
        super().__init__(view)
        self.view = view
        self.controller = controller
        self.pressed = False
        self.handle: tuple[str, int] | None = None  # (id, point index) being dragged
        view.installEventFilter(self)

    def _lps(self, event) -> object:
        return self.view.scene.display_to_lps(self.view.display_xy(event.position()))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Route left-button events to the measurement tool (see module docs)."""
        etype = event.type()
        if (etype == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
                and self.controller.selected):
            self.controller.delete(self.controller.selected)  # Del in a view deletes the selected measurements
            return True
        tool = self.controller.tool
        if tool is None:
            return False
        if etype == QEvent.Type.MouseButtonPress:
            mods = event.modifiers() & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier
                                        | Qt.KeyboardModifier.AltModifier)
            plane = self.controller.plane_of(self.view)
            if event.button() != Qt.MouseButton.LeftButton or mods or plane is None:
                return False
            self.view.setFocus()
            self.handle = None if tool.drawing else \
                self.controller.hit_handle(self.view, self.view.display_xy(event.position()))
            if self.handle is not None:  # a press on a handle edits that point
                self.controller.select({self.handle[0]})
            else:
                tool.press(plane, self._lps(event))
            self.pressed = True
            return True
        if etype == QEvent.Type.MouseMove and self.pressed and self.handle is not None:
            self.controller.move_handle(*self.handle, self._lps(event))
            return True
        if etype == QEvent.Type.MouseMove and (self.pressed or tool.drawing):
            plane = self.controller.plane_of(self.view)
            if plane is not None:
                tool.drag(plane, self._lps(event))  # also the rubber band between clicks
            return self.pressed
        if etype == QEvent.Type.MouseButtonRelease and self.pressed and event.button() == Qt.MouseButton.LeftButton:
            self.pressed = False
            if self.handle is not None:
                self.controller.move_handle(*self.handle, self._lps(event))
                self.handle = None
                return True
            plane = self.controller.plane_of(self.view)
            if plane is not None:
                done = tool.release(plane, self._lps(event))
                if done is not None:
                    self.controller.select({done.id})
            return True
        if etype == QEvent.Type.MouseButtonDblClick and event.button() == Qt.MouseButton.LeftButton:
            return True  # no maximise while measuring
        if etype == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Escape:
            if tool.drawing:
                tool.cancel()
            else:
                self.controller.set_tool(None)
            return True
        return False

    def close(self) -> None:
        """Stop filtering the view's events."""
        self.view.removeEventFilter(self)


class MeasurePanel(QWidget):
    """Tool buttons and the list of measurements (type, slice, value); Delete, double-click = jump to."""

    def __init__(self, controller: MeasureController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.measurements = controller.measurements
        self.tool_buttons: dict[str, QToolButton] = {}
        tools = QHBoxLayout()
        tools.setSpacing(2)
        for kind, (title, icon) in TOOL_LOOK.items():
            button = QToolButton()
            button.setIcon(_icon(icon))
            button.setText(title)
            button.setToolTip(f"{title}: left-drag (or click the points) in a slice view; Esc ends")
            button.setCheckable(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            button.clicked.connect(lambda checked, k=kind: controller.set_tool(k if checked else None))
            tools.addWidget(button)
            self.tool_buttons[kind] = button
        tools.addStretch(1)
        self.delete_button = QToolButton()
        self.delete_button.setIcon(_icon("fa5s.trash-alt"))
        self.delete_button.setToolTip("Delete the selected measurements (Del)")
        self.delete_button.clicked.connect(self.delete_selected)
        tools.addWidget(self.delete_button)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["#", "Type", "Slice", "Value"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setWordWrap(True)
        self.tree.itemSelectionChanged.connect(self._on_tree_selection_changed)
        self.tree.itemDoubleClicked.connect(self._on_tree_item_double_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(tools)
        layout.addWidget(self.tree)
        self._connections = [(self.measurements.added, self.refresh), (self.measurements.removed, self.refresh),
                             (self.measurements.changed, self.refresh),
                             (controller.state.image_changed, self.refresh)]
        for signal, slot in self._connections:
            signal.connect(slot)
        controller.tool_changed.connect(self._on_controller_tool_changed)
        controller.selection_changed.connect(self._on_controller_selection_changed)
        self.refresh()

    def refresh(self, *_: object) -> None:
        """Rebuild the rows from the measurement set (values from the displayed image)."""
        image = self.controller.state.volume
        selected = set(self.controller.selected)
        self.tree.blockSignals(True)
        self.tree.clear()
        for i, m in enumerate(self.measurements, start=1):
            try:
                value = describe(m, image) if m.belongs_to(image) else "(other image)"
            except Exception:  # noqa: BLE001 - a value that cannot be computed must not break the list
                log.debug("cannot describe %s", m.id, exc_info=True)
                value = ""
            plane = m.plane
            item = QTreeWidgetItem([str(i), m.title, f"{plane.orientation} {plane.slice_index + 1}", value])
            item.setToolTip(3, value)
            item.setData(0, _ID_ROLE, m.id)
            self.tree.addTopLevelItem(item)
            item.setSelected(m.id in selected)
        self.tree.blockSignals(False)
        for col in (0, 1, 2):
            self.tree.resizeColumnToContents(col)

    def row_ids(self) -> list[str]:
        """Measurement ids in row order."""
        return [self.tree.topLevelItem(i).data(0, _ID_ROLE) for i in range(self.tree.topLevelItemCount())]

    def selected_ids(self) -> list[str]:
        """Ids of the selected rows."""
        return [item.data(0, _ID_ROLE) for item in self.tree.selectedItems()]

    def delete_selected(self) -> int:
        """Delete the selected measurements; return how many."""
        return self.controller.delete(self.selected_ids())

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Del / Backspace delete the selected rows."""
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selected()
            event.accept()
            return
        super().keyPressEvent(event)

    def _on_tree_selection_changed(self) -> None:
        self.controller.select(self.selected_ids())

    def _on_tree_item_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        self.controller.jump_to(item.data(0, _ID_ROLE))

    def _on_controller_tool_changed(self, kind: str) -> None:
        for k, button in self.tool_buttons.items():
            button.setChecked(k == kind)

    def _on_controller_selection_changed(self, ids: set[str]) -> None:
        self.tree.blockSignals(True)
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            item.setSelected(item.data(0, _ID_ROLE) in ids)
        self.tree.blockSignals(False)

    def close_panel(self) -> None:
        """Disconnect from the model, then close the controller (before the views close)."""
        for signal, slot in self._connections:
            signal.disconnect(slot)
        self._connections.clear()
        self.controller.close()


def install_measurements(window: MainWindow) -> MeasurePanel:
    """Add the Measurements dock (right side), a Measure menu and the slice-view routing to ``window``."""
    editor_panel = getattr(window, "segment_editor", None)
    editor = getattr(editor_panel, "controller", None)
    controller = MeasureController(window.session, window.state, window.grid, editor, window)
    panel = MeasurePanel(controller)
    dock = QDockWidget("Measurements", window)
    dock.setObjectName("dock_measurements")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    menu = window.menuBar().addMenu("&Measure")
    group = QActionGroup(window)
    group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
    actions: dict[str, QAction] = {}
    for kind, (title, icon) in TOOL_LOOK.items():
        action = QAction(_icon(icon), title, window)
        action.setCheckable(True)
        action.triggered.connect(lambda checked, k=kind: controller.set_tool(k if checked else None))
        group.addAction(action)
        menu.addAction(action)
        actions[kind] = action
    controller.tool_changed.connect(lambda kind: [a.setChecked(k == kind) for k, a in actions.items()])
    menu.addSeparator()
    delete = QAction(_icon("fa5s.trash-alt"), "Delete selected measurements", window)
    delete.setShortcut(QKeySequence("Ctrl+Del"))
    delete.triggered.connect(panel.delete_selected)
    menu.addAction(delete)
    menu.addAction(dock.toggleViewAction())
    panel.dock = dock  # type: ignore[attr-defined]
    return panel


__all__ = ["TOOL_LOOK", "MeasureController", "MeasurePanel", "MeasureRouter", "install_measurements"]
