"""The Segment Editor dock: segmentation selector, segment list, tool buttons, options, masking, undo.

A thin adapter over :class:`~ui.tool_routing.EditorController` (3D Slicer's Segment Editor
layout). Options panels are generated from a tool's ``params`` (:func:`~app.tools.param_specs`)
with one two-way :func:`bind` helper; the masking options (``EditOptions``) use the same
generator. Keyboard (CONVENTIONS §4.2), active while the dock is shown: ``1``–``0`` and
Shift+digit pick tools, Esc = no tool (W/L), Ctrl+Z / ``z`` undo, Ctrl+Y / ``y`` redo, ``q``/``w``
previous/next segment, ``g`` toggles the segmentation, ``-``/``+`` brush size, ``i`` intensity
masking, Space = the previous tool. While the dock is shown its keys win over other actions with the same shortcut (the
W/L presets ``1``–``5`` stay in their menu and get their keys back when the dock is hidden).
Edit ▸ Undo/Redo (Ctrl+Z / Ctrl+Y) work with the dock hidden; View ▸ Segment Editor (Ctrl+E)
shows it. GUI thread only.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import TYPE_CHECKING, Any

import qtawesome as qta
from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Qt
from PySide6.QtGui import QAction, QActionGroup, QBrush, QColor, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
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
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.model.labels import SEGMENT_STATUSES
from app.tools import param_specs
from ui.tool_routing import BRUSH_STEP, INTERACTIVE_TOOLS, EditorController

if TYPE_CHECKING:
    from app.model.labels import LabelVolume
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)

TOOL_ICONS = {
    "paint": "fa5s.paint-brush", "draw": "fa5s.pencil-alt", "erase": "fa5s.eraser",
    "level_trace": "fa5s.wave-square", "grow_seeds": "fa5s.seedling", "fill_between": "fa5s.layer-group",
    "threshold": "fa5s.sliders-h", "margin": "fa5s.expand-arrows-alt", "hollow": "fa5s.circle-notch",
    "smoothing": "fa5s.water", "scissors": "fa5s.cut", "islands": "fa5s.object-ungroup",
    "logical": "fa5s.calculator", "mask_volume": "fa5s.mask", "flood_fill": "fa5s.fill-drip",
}
_STATUS_TITLES = {"not_started": "Not started", "in_progress": "In progress", "completed": "Completed",
                  "flagged": "Flagged"}
COL_COLOR, COL_NAME, COL_VISIBLE, COL_LOCKED, COL_STATUS = range(5)


def _icon(name: str) -> QIcon:
    try:
        return qta.icon(name)
    except Exception:  # noqa: BLE001 - a missing glyph must not stop the panel
        return QIcon()


def _swatch(rgb: tuple[int, int, int], size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(*rgb))
    return QIcon(pixmap)


def _shortcut_order(shortcut: str) -> tuple[int, int, str]:
    """Sort key: ``1``…``9``, ``0``, then ``Shift+1``… (Slicer's effect order), then the rest."""
    shift = shortcut.startswith("Shift+")
    key = shortcut.removeprefix("Shift+")
    if key.isdigit() and len(key) == 1:
        return int(shift), (int(key) - 1) % 10, ""
    return 2, 0, shortcut


# --------------------------------------------------------------------- bind
class Binding:
    """One two-way coupling of a widget and a field of an ``@evented`` dataclass (see :func:`bind`)."""

    def __init__(self, widget: QWidget, obj: Any, name: str) -> None:
        self.widget, self.obj, self.name = widget, obj, name
        self._signal = getattr(obj.events, name)
        self._signal.connect(self._on_model_changed)
        self._pushing = False
        if isinstance(widget, QCheckBox):
            widget.toggled.connect(self._on_widget_changed)
        elif isinstance(widget, QComboBox):
            widget.currentIndexChanged.connect(lambda _i: self._on_widget_changed(widget.currentData()))
        else:
            widget.valueChanged.connect(self._on_widget_changed)
        self._on_model_changed(getattr(obj, name))

    def _on_widget_changed(self, value: Any) -> None:
        if self._pushing or value is None:
            return
        if getattr(self.obj, self.name) != value:
            setattr(self.obj, self.name, value)

    def _on_model_changed(self, value: Any, *_old: Any) -> None:
        w = self.widget
        self._pushing = True
        try:
            with QSignalBlocker(w):
                if isinstance(w, QCheckBox):
                    w.setChecked(bool(value))
                elif isinstance(w, QComboBox):
                    w.setCurrentIndex(max(0, w.findData(value)))
                else:
                    w.setValue(value)
        finally:
            self._pushing = False

    def disconnect(self) -> None:
        """Stop following the model (the widget may be deleted afterwards)."""
        self._signal.disconnect(self._on_model_changed)


def bind(widget: QWidget, obj: Any, name: str) -> Binding:
    """Couple ``widget`` and ``obj.<name>`` both ways; updates never recurse.

    ``widget`` is a QCheckBox, QComboBox (item data = the values), QSpinBox or QDoubleSpinBox;
    ``obj`` is a psygnal ``@evented`` dataclass. Call ``Binding.disconnect`` before dropping the
    widget. GUI thread only.
    """
    return Binding(widget, obj, name)


def params_form(params: Any, parent: QWidget | None = None) -> tuple[QWidget, list[Binding]]:
    """Build an options form for an ``@evented`` dataclass; returns the widget and its bindings."""
    form = QWidget(parent)
    layout = QFormLayout(form)
    layout.setContentsMargins(0, 0, 0, 0)
    bindings = []
    for spec in param_specs(params):
        if spec.kind == "bool":
            widget: QWidget = QCheckBox()
        elif spec.kind == "choice":
            widget = QComboBox()
            for choice in spec.choices:
                text = choice.value if isinstance(choice, Enum) else str(choice)
                widget.addItem(str(text).replace("_", " ").capitalize(), choice)
        elif spec.kind == "int":
            widget = QSpinBox()
            widget.setRange(int(spec.minimum if spec.minimum is not None else -(2**31)),
                            int(spec.maximum if spec.maximum is not None else 2**31 - 1))
        else:
            widget = QDoubleSpinBox()
            widget.setDecimals(2)
            widget.setRange(spec.minimum if spec.minimum is not None else -1e6,
                            spec.maximum if spec.maximum is not None else 1e6)
            if spec.units and spec.units != "image":
                widget.setSuffix(f" {spec.units}")
        widget.setObjectName(f"param_{spec.name}")
        layout.addRow(spec.label, widget)
        bindings.append(bind(widget, params, spec.name))
    return form, bindings


# -------------------------------------------------------------------- panel
class SegmentEditorPanel(QWidget):
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
        form_layout.setWidget(row, QFormLayout.ItemRole.FieldRole, self.area_segment_combo)
        self.area_segment_spin.hide()
        self.controller.options.events.area_segment.connect(self._sync_area_segment_combo)
        layout.addWidget(masking)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        layout.addStretch(0)

    def _build_actions(self) -> None:
        c = self.controller
        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.tool_actions: dict[str, QAction] = {}
        self.none_action = self._action("No tool (window/level)", lambda: c.set_tool(None), "fa5s.mouse-pointer",
                                        "Esc")
        self.none_action.setCheckable(True)
        self.tool_group.addAction(self.none_action)
        button = QToolButton()
        button.setDefaultAction(self.none_action)
        button.setAutoRaise(True)
        self.tools_grid.addWidget(button, 0, 0)
        for i, (tool_id, tool) in enumerate(sorted(c.tools.items(), key=lambda kv: _shortcut_order(kv[1].shortcut)),
                                            start=1):
            action = self._action(tool.title, lambda _=False, t=tool_id: self._on_tool_action(t),
                                  TOOL_ICONS.get(tool_id, "fa5s.tools"), tool.shortcut)
            action.setCheckable(True)
            action.setObjectName(f"tool_{tool_id}")
            self.tool_group.addAction(action)
            self.tool_actions[tool_id] = action
            button = QToolButton()
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setObjectName(f"tool_button_{tool_id}")
            self.tools_grid.addWidget(button, i // 8, i % 8)
        self.undo_action = self._action("Undo", c.undo, "fa5s.undo", QKeySequence.StandardKey.Undo)
        self.undo_action.setShortcuts([QKeySequence(QKeySequence.StandardKey.Undo), QKeySequence("Z")])
        self.redo_action = self._action("Redo", c.redo, "fa5s.redo", "Ctrl+Y")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Y"), QKeySequence(QKeySequence.StandardKey.Redo),
                                       QKeySequence("Y")])
        self.undo_button.setDefaultAction(self.undo_action)
        self.redo_button.setDefaultAction(self.redo_action)
        self.prev_segment_action = self._action("Previous segment", lambda: c.step_segment(-1), "", "Q")
        self.next_segment_action = self._action("Next segment", lambda: c.step_segment(1), "", "W")
        self.toggle_visible_action = self._action("Show/hide segmentation", lambda: c.set_segmentation_visible(),
                                                  "fa5s.eye", "G")
        self.smaller_action = self._action("Smaller brush", lambda: c.scale_brush(1 / BRUSH_STEP), "", "-")
        self.larger_action = self._action("Larger brush", lambda: c.scale_brush(BRUSH_STEP), "", "+")
        self.larger_action.setShortcuts([QKeySequence("+"), QKeySequence("="), QKeySequence("Shift+=")])
        self.intensity_action = self._action("Toggle intensity masking", c.toggle_intensity_masking, "", "I")
        self.swap_tool_action = self._action("Last tool", self._swap_tool, "", "Space")
        self._previous_tool = ""

    def _action(self, text: str, slot, icon: str = "", shortcut: str | QKeySequence = "") -> QAction:
        action = QAction(_icon(icon) if icon else QIcon(), text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{text}  ({keys})")
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)  # active while this panel is shown
        return action

    def editor_actions(self) -> list[QAction]:
        """Every action of the editor (tools, undo/redo, segment and brush keys)."""
        return list(self.actions())

    # --------------------------------------------------------- segmentations
    def _new_segmentation(self) -> None:
        if self.session.active_image is None:
            self.message.setText("Open an image first.")
            return
        labels = self.session.new_segmentation(f"Segmentation {len(self.session.segmentations) + 1}")
        labels.table.new_segment()
        self.controller.set_label_id(next(iter(labels.table)).id)
        self._refresh_segments()

    def _on_session_segmentation_added(self, labels: LabelVolume) -> None:
        self.segmentation_combo.addItem(labels.name or "Segmentation", labels)
        self._select_combo(self.controller.labels)

    def _select_combo(self, labels: LabelVolume | None) -> None:
        for i in range(self.segmentation_combo.count()):
            if self.segmentation_combo.itemData(i) is labels:
                with QSignalBlocker(self.segmentation_combo):
                    self.segmentation_combo.setCurrentIndex(i)

    def _on_segmentation_combo_activated(self, index: int) -> None:
        self.controller.set_labels(self.segmentation_combo.itemData(index))

    def _on_controller_labels_changed(self, labels: LabelVolume | None) -> None:
        if self._table_labels is not None:
            self._table_labels.table.changed.disconnect(self._on_table_changed)
        self._table_labels = labels
        if labels is not None:
            labels.table.changed.connect(self._on_table_changed)
        self._select_combo(labels)
        self._refresh_segments()
        visuals = self.controller.label_visuals()
        if visuals:  # show this segmentation's own display settings
            with QSignalBlocker(self.opacity_slider), QSignalBlocker(self.outline_check):
                self.opacity_slider.setValue(round(visuals[0].fill_opacity * 100))
                self.outline_check.setChecked(visuals[0].outline_visible)

    # -------------------------------------------------------------- segments
    def add_segment(self) -> None:
        """Add a segment (next free id, default colour) and select it; creates a segmentation if needed."""
        c = self.controller
        if c.labels is None:
            if self.session.active_image is None:
                self.message.setText("Open an image first.")
                return
            self.session.new_segmentation()
        assert c.labels is not None
        seg = c.labels.table.new_segment()
        c.set_label_id(seg.id)

    def remove_segment(self) -> None:
        """Remove the selected segment and its voxels (the voxels come back with Undo)."""
        self.controller.remove_segment(self.controller.label_id)

    def _on_table_changed(self, _label_id: int) -> None:
        self._refresh_segments()

    def _refresh_segments(self) -> None:
        self._sync_area_segment_combo()
        labels = self.controller.labels
        table = self.segment_table
        self._updating = True
        try:
            table.setRowCount(0)
            for row, seg in enumerate(labels.table if labels is not None else []):
                table.insertRow(row)
                color = QTableWidgetItem()
                color.setIcon(_swatch(seg.color_rgb))
                color.setData(Qt.ItemDataRole.UserRole, seg.id)
                color.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                color.setToolTip("Double-click to change the colour")
                table.setItem(row, COL_COLOR, color)
                name = QTableWidgetItem(seg.name)
                name.setData(Qt.ItemDataRole.UserRole, seg.id)
                table.setItem(row, COL_NAME, name)
                for col, value in ((COL_VISIBLE, seg.visible), (COL_LOCKED, seg.locked)):
                    item = QTableWidgetItem()
                    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                                  | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(Qt.CheckState.Checked if value else Qt.CheckState.Unchecked)
                    table.setItem(row, col, item)
                status = QComboBox()
                for key in SEGMENT_STATUSES:
                    status.addItem(_STATUS_TITLES.get(key, key), key)
                status.setCurrentIndex(status.findData(seg.status))
                status.currentIndexChanged.connect(
                    lambda _i, s=status, sid=seg.id: self._set_segment(sid, status=s.currentData()))
                table.setCellWidget(row, COL_STATUS, status)
                if seg.id == self.controller.label_id:
                    table.selectRow(row)
                    table.setCurrentCell(row, COL_NAME)
                if not seg.visible:
                    name.setForeground(QBrush(QColor(140, 140, 140)))
        finally:
            self._updating = False

    def _sync_area_segment_combo(self, *_: object) -> None:
        labels = self.controller.labels
        combo = self.area_segment_combo
        with QSignalBlocker(combo):
            combo.clear()
            combo.addItem("(none)", 0)
            for seg in labels.table if labels is not None else []:
                combo.addItem(_swatch(seg.color_rgb), seg.name, seg.id)
            combo.setCurrentIndex(max(0, combo.findData(self.controller.options.area_segment)))

    def segment_row(self, label_id: int) -> int:
        """Row of ``label_id`` in the segment list (-1 when absent)."""
        for row in range(self.segment_table.rowCount()):
            if self.segment_table.item(row, COL_COLOR).data(Qt.ItemDataRole.UserRole) == label_id:
                return row
        return -1

    def _row_id(self, row: int) -> int | None:
        item = self.segment_table.item(row, COL_COLOR)
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _set_segment(self, label_id: int, **changes: object) -> None:
        labels = self.controller.labels
        if labels is not None and label_id in labels.table:
            labels.table.update(label_id, **changes)

    def _on_segment_item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating:
            return
        label_id = self._row_id(item.row())
        if label_id is None:
            return
        col = item.column()
        if col == COL_NAME and item.text().strip():
            self._set_segment(label_id, name=item.text().strip())
        elif col == COL_VISIBLE:
            self._set_segment(label_id, visible=item.checkState() == Qt.CheckState.Checked)
        elif col == COL_LOCKED:
            self._set_segment(label_id, locked=item.checkState() == Qt.CheckState.Checked)

    def _on_segment_current_cell_changed(self, row: int, *_: int) -> None:
        if self._updating:
            return
        label_id = self._row_id(row)
        if label_id is not None:
            self.controller.set_label_id(label_id)

    def _on_segment_cell_double_clicked(self, row: int, col: int) -> None:
        label_id = self._row_id(row)
        labels = self.controller.labels
        if col != COL_COLOR or label_id is None or labels is None:
            return
        color = QColorDialog.getColor(QColor(*labels.table[label_id].color_rgb), self, "Segment colour")
        if color.isValid():
            self._set_segment(label_id, color_rgb=(color.red(), color.green(), color.blue()))

    def _on_controller_segment_changed(self, label_id: int) -> None:
        row = self.segment_row(label_id)
        if row >= 0 and row != self.segment_table.currentRow():
            self._updating = True
            try:
                self.segment_table.selectRow(row)
                self.segment_table.setCurrentCell(row, COL_NAME)
            finally:
                self._updating = False

    # ----------------------------------------------------------------- tools
    def _on_tool_action(self, tool_id: str) -> None:
        action = self.tool_actions[tool_id]
        # Pressing the active tool's key again (or unchecking its button) returns to window/level.
        self.controller.set_tool(tool_id if action.isChecked() else None)

    def _swap_tool(self) -> None:
        """Switch to the tool used before the current one (Slicer: Space)."""
        self.controller.set_tool(self._previous_tool or None)

    def _on_controller_tool_changed(self, tool_id: str) -> None:
        self._previous_tool, self._current_tool = getattr(self, "_current_tool", ""), tool_id
        # not signal-blocked: the exclusive group unchecks the others through ``toggled``; the slot
        # listens to ``triggered``, which setChecked does not emit
        self.tool_actions.get(tool_id, self.none_action).setChecked(True)
        for binding in self._option_bindings:
            binding.disconnect()
        self._option_bindings = []
        while self.options_host.count():
            widget = self.options_host.takeAt(0).widget()
            if widget is not None:
                widget.hide()  # deleteLater waits for the event loop; never show two forms at once
                widget.setParent(None)
                widget.deleteLater()
        tool = self.controller.active_tool
        if tool is None:
            self.options_box.setTitle("Options")
            hint = QLabel("No tool: left-drag adjusts window/level. Pick a tool (1–0, Shift+1–5).")
            hint.setWordWrap(True)
            self.options_host.addWidget(hint)
            self.apply_button.setVisible(False)
            self.cancel_button.setVisible(False)
            self.auto_button.setVisible(False)
            return
        self.options_box.setTitle(f"{tool.title} options")
        form, self._option_bindings = params_form(tool.params)
        form.setObjectName("tool_options")
        self.options_form = form
        self.options_host.addWidget(form)
        one_shot = tool.id not in INTERACTIVE_TOOLS
        self.apply_button.setVisible(one_shot or tool.id == "draw")
        self.cancel_button.setVisible(tool.id in ("draw", "scissors", "grow_seeds"))
        self.auto_button.setVisible(hasattr(tool, "auto_range"))
        self.message.setText((type(tool).__doc__ or "").strip().splitlines()[0] if type(tool).__doc__ else "")

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
