"""The Segment Editor dock: segmentation selector, segment list, tool buttons, options, masking, undo.

A thin adapter over :class:`~ui.editor_controller.EditorController` (3D Slicer's Segment Editor
layout). Options panels are generated from a tool's ``params`` (:func:`~app.tools.param_specs`)
with one two-way :func:`bind` helper; the masking options (``EditOptions``) use the same
generator. Keyboard (CONVENTIONS §4.2), active while the dock is shown: ``1``–``0`` and
Shift+digit pick tools, Esc = no tool (W/L), Ctrl+Z / ``z`` undo, Ctrl+Y / ``y`` redo, ``q``/``w``
previous/next segment, ``g`` toggles the segmentation, ``-``/``+`` brush size, ``i`` intensity
masking, Space = the previous tool. While the dock is shown its keys win over other actions with the same shortcut (the
W/L presets ``1``–``5`` stay in their menu and get their keys back when the dock is hidden).
Edit ▸ Undo/Redo (Ctrl+Z / Ctrl+Y) work with the dock hidden; View ▸ Segment Editor (Ctrl+E)
shows it. GUI thread only.

This module keeps the panel, the dock and :func:`install_segment_editor`; the segment list is in
:mod:`ui.segment_list`, the tool actions and options forms (:func:`bind`, :func:`params_form`) in
:mod:`ui.tool_options` (their public names are re-exported here).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QTableWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.editor_controller import EditorController
from ui.segment_list import COL_COLOR, COL_LOCKED, COL_NAME, COL_STATUS, COL_VISIBLE, SegmentListMixin
from ui.tool_options import TOOL_ICONS, Binding, ToolOptionsMixin, _icon, bind, params_form

if TYPE_CHECKING:
    from app.model.labels import LabelVolume
    from ui.main_window import MainWindow

__all__ = [
    "COL_COLOR", "COL_LOCKED", "COL_NAME", "COL_STATUS", "COL_VISIBLE", "TOOL_ICONS", "Binding",
    "SegmentEditorPanel", "bind", "install_segment_editor", "params_form",
]

log = logging.getLogger(__name__)


# -------------------------------------------------------------------- panel
class SegmentEditorPanel(SegmentListMixin, ToolOptionsMixin, QWidget):
    """Segment Editor: pick a segmentation and segment, pick a tool, set its options, undo/redo."""

    def __init__(self, controller: EditorController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.session = controller.session
        self._table_labels: LabelVolume | None = None
        self._updating = False
        self._option_bindings: list[Binding] = []
        self._build()
        self._build_actions()
        controller.tool_changed.connect(self._on_controller_tool_changed)
        controller.labels_changed.connect(self._on_controller_labels_changed)
        controller.segment_changed.connect(self._on_controller_segment_changed)
        controller.history_changed.connect(self._update_history)
        controller.failed.connect(lambda text: self.message.setText(f"⚠ {text}"))
        self.session.segmentation_added.connect(self._on_session_segmentation_added)
        self._on_controller_tool_changed("")
        self._update_history()

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Segmentation:"))
        self.segmentation_combo = QComboBox()
        self.segmentation_combo.activated.connect(self._on_segmentation_combo_activated)
        row.addWidget(self.segmentation_combo, 1)
        self.new_segmentation_button = QToolButton()
        self.new_segmentation_button.setIcon(_icon("fa5s.plus-square"))
        self.new_segmentation_button.setToolTip("New segmentation on the active image")
        self.new_segmentation_button.clicked.connect(self._new_segmentation)
        row.addWidget(self.new_segmentation_button)
        layout.addLayout(row)

        row = QHBoxLayout()
        self.add_button = QPushButton(_icon("fa5s.plus"), "Add")
        self.add_button.clicked.connect(self.add_segment)
        self.remove_button = QPushButton(_icon("fa5s.minus"), "Remove")
        self.remove_button.clicked.connect(self.remove_segment)
        self.undo_button = QToolButton()
        self.redo_button = QToolButton()
        for b in (self.add_button, self.remove_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.undo_button)
        row.addWidget(self.redo_button)
        layout.addLayout(row)

        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(50)
        self.opacity_slider.setToolTip("Fill opacity of the segmentation in the slice views")
        self.opacity_slider.valueChanged.connect(lambda v: self.controller.set_overlay(opacity=v / 100.0))
        row.addWidget(self.opacity_slider, 1)
        self.outline_check = QCheckBox("Outline")
        self.outline_check.setChecked(True)
        self.outline_check.toggled.connect(lambda on: self.controller.set_overlay(outline=on))
        row.addWidget(self.outline_check)
        self.show_3d_check = QCheckBox("3D")
        self.show_3d_check.setChecked(True)
        self.show_3d_check.setToolTip("Show the segments as surfaces in the 3D view")
        self.show_3d_check.toggled.connect(self.controller.set_surfaces_visible)
        row.addWidget(self.show_3d_check)
        layout.addLayout(row)

        self.segment_table = QTableWidget(0, 5)
        self.segment_table.setHorizontalHeaderLabels(["", "Name", "Show", "Lock", "Status"])
        self.segment_table.verticalHeader().setVisible(False)
        self.segment_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.segment_table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        header = self.segment_table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_NAME, header.ResizeMode.Stretch)
        for col in (COL_COLOR, COL_VISIBLE, COL_LOCKED, COL_STATUS):
            header.setSectionResizeMode(col, header.ResizeMode.ResizeToContents)
        self.segment_table.itemChanged.connect(self._on_segment_item_changed)
        self.segment_table.currentCellChanged.connect(self._on_segment_current_cell_changed)
        self.segment_table.cellDoubleClicked.connect(self._on_segment_cell_double_clicked)
        self.segment_table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.segment_table.customContextMenuRequested.connect(self._on_segment_context_menu)
        self.segment_table.setMinimumHeight(130)
        layout.addWidget(self.segment_table, 1)

        self.tools_box = QGroupBox("Tools")
        self.tools_grid = QGridLayout(self.tools_box)
        self.tools_grid.setSpacing(2)
        layout.addWidget(self.tools_box)

        self.options_box = QGroupBox("Options")
        options_layout = QVBoxLayout(self.options_box)
        self.options_host = QVBoxLayout()
        options_layout.addLayout(self.options_host)
        row = QHBoxLayout()
        self.auto_button = QPushButton(_icon("fa5s.magic"), "Auto range")
        self.auto_button.setToolTip("Set the range from the image (Otsu or percentiles)")
        self.auto_button.clicked.connect(self.controller.auto_threshold)
        row.addWidget(self.auto_button)
        self.apply_button = QPushButton(_icon("fa5s.check"), "Apply")
        self.apply_button.clicked.connect(lambda: self.controller.apply())
        self.cancel_button = QPushButton(_icon("fa5s.times"), "Cancel")
        self.cancel_button.clicked.connect(self.controller.cancel_interaction)
        row.addWidget(self.apply_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        options_layout.addLayout(row)
        layout.addWidget(self.options_box)

        masking = QGroupBox("Masking")
        mlayout = QVBoxLayout(masking)
        self.masking_form, self._masking_bindings = params_form(self.controller.options, masking)
        mlayout.addWidget(self.masking_form)
        # "Area segment" is a segment, not a number: a combo of the segments drives the bound spin box
        self.area_segment_spin = self.masking_form.findChild(QSpinBox, "param_area_segment")
        self.area_segment_combo = QComboBox()
        self.area_segment_combo.setObjectName("area_segment_combo")
        self.area_segment_combo.activated.connect(
            lambda i: self.area_segment_spin.setValue(int(self.area_segment_combo.itemData(i) or 0)))
        form_layout = self.masking_form.layout()
        row, _role = form_layout.getWidgetPosition(self.area_segment_spin)
        form_layout.removeWidget(self.area_segment_spin)  # free the cell; the hidden spin box stays bound
        self.area_segment_spin.hide()
        form_layout.setWidget(row, QFormLayout.ItemRole.FieldRole, self.area_segment_combo)
        self.controller.options.events.area_segment.connect(self._sync_area_segment_combo)
        layout.addWidget(masking)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        layout.addStretch(0)

    def _update_history(self) -> None:
        labels = self.controller.labels
        self.undo_action.setEnabled(labels is not None and labels.history.can_undo)
        self.redo_action.setEnabled(labels is not None and labels.history.can_redo)

    def close_panel(self) -> None:
        """Disconnect from the session, the labels and the controller (before the views close)."""
        self.controller.options.events.area_segment.disconnect(self._sync_area_segment_combo)
        for binding in self._option_bindings + self._masking_bindings:
            binding.disconnect()
        self._option_bindings, self._masking_bindings = [], []
        if self._table_labels is not None:
            self._table_labels.table.changed.disconnect(self._on_table_changed)
            self._table_labels = None
        self.session.segmentation_added.disconnect(self._on_session_segmentation_added)
        self.controller.close()


class _ShortcutArbiter(QObject):
    """While the editor dock is shown, suspend other actions of the window bound to the editor's keys."""

    def __init__(self, window: QWidget, panel: SegmentEditorPanel, dock: QDockWidget) -> None:
        super().__init__(panel)
        self.window, self.panel = window, panel
        self._suspended: dict[QAction, list[QKeySequence]] = {}
        dock.visibilityChanged.connect(self._on_dock_visibility_changed)
        window.installEventFilter(self)

    def _on_dock_visibility_changed(self, visible: bool) -> None:
        if visible and not getattr(self, "_sized", False):
            self._sized = True  # first show: the editor gets most of its dock column (Slicer's module panel)
            dock = self.panel.dock  # type: ignore[attr-defined]
            self.window.resizeDocks([dock], [int(self.window.height() * 0.62)], Qt.Orientation.Vertical)
        if visible:
            ours = set(self.panel.editor_actions())
            keys = {s.toString() for a in ours for s in a.shortcuts()}
            for action in self.window.findChildren(QAction):
                if action in ours or action in self._suspended:
                    continue
                clash = [s for s in action.shortcuts() if s.toString() in keys]
                if clash:
                    self._suspended[action] = list(action.shortcuts())
                    action.setShortcuts([s for s in action.shortcuts() if s.toString() not in keys])
        else:
            for action, shortcuts in self._suspended.items():
                action.setShortcuts(shortcuts)
            self._suspended.clear()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Close the editor before the window closes its viewports."""
        if obj is self.window and event.type() == QEvent.Type.Close and not getattr(self.panel, "_closed", False):
            self.panel._closed = True  # type: ignore[attr-defined]
            self.window.removeEventFilter(self)
            self.panel.close_panel()
        return False


def install_segment_editor(window: MainWindow) -> SegmentEditorPanel:
    """Create the Segment Editor dock (right side) and its slice-view routing for ``window``."""
    controller = EditorController(window.session, window.grid, window)
    panel = SegmentEditorPanel(controller)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(panel)
    dock = QDockWidget("Segment Editor", window)
    dock.setObjectName("dock_segment_editor")
    dock.setWidget(scroll)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    panel.dock = dock  # type: ignore[attr-defined]
    panel.arbiter = _ShortcutArbiter(window, panel, dock)  # type: ignore[attr-defined]
    controller.failed.connect(lambda text: window.statusBar().showMessage(f"Segment Editor: {text}", 8000))
    for labels in window.session.segmentations:
        panel._on_session_segmentation_added(labels)
    _add_menu(window, panel, dock)
    return panel


def _add_menu(window: MainWindow, panel: SegmentEditorPanel, dock: QDockWidget) -> None:
    """Add an Edit menu (undo/redo of the active segmentation) before View, and a dock toggle to View."""
    bar = window.menuBar()
    menus = {a.text().replace("&", ""): a for a in bar.actions()}
    edit = QMenu("&Edit", bar)
    if "View" in menus:
        bar.insertMenu(menus["View"], edit)
        menus["View"].menu().addAction(dock.toggleViewAction())
    else:
        bar.addMenu(edit)
    edit.addAction(panel.undo_action)
    edit.addAction(panel.redo_action)
    edit.addSeparator()
    edit.addAction(panel.none_action)
    toggle = dock.toggleViewAction()
    toggle.setText("Segment &Editor")
    toggle.setShortcut(QKeySequence("Ctrl+E"))
    panel.edit_menu = edit  # type: ignore[attr-defined]
