"""The Boxes menu and toolbar button, the numeric box dialog, and :func:`install_boxes` for the main window.

``install_boxes(window)`` creates the session's :class:`~app.model.annotation_history.AnnotationHistory`
(``window.annotation_history``), the :class:`~ui.box_controller.BoxController` (``window.box_tool``),
the undo router (``window.undo_router``: Edit ▸ Undo/Redo over segmentation and annotation steps),
an **Annotations** menu (Box mode ``B``, 2D boxes, show rejected, edit box…, delete box) and a
toolbar button. GUI thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import qtawesome as qta
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.model.annotation_history import AnnotationHistory
from ui.box_controller import BoxController
from ui.undo_router import install_undo_router

if TYPE_CHECKING:
    from app.model.annotations import Box
    from ui.main_window import MainWindow

_AXES = ("L", "P", "S")


def _icon(name: str) -> QIcon:
    try:
        return qta.icon(name)
    except Exception:  # noqa: BLE001 - a missing glyph must not stop the window
        return QIcon()


class BoxDialog(QDialog):
    """Numeric entry of one box: min/max LPS (mm), label id and note."""

    def __init__(self, box: Box, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Box")
        layout = QVBoxLayout(self)
        grid = QGridLayout()
        grid.addWidget(QLabel("mm"), 0, 0)
        for col, axis in enumerate(_AXES, start=1):
            grid.addWidget(QLabel(axis), 0, col, alignment=Qt.AlignmentFlag.AlignCenter)
        self.spins: dict[str, list[QDoubleSpinBox]] = {}
        for row, (name, values) in enumerate((("min", box.lps_min), ("max", box.lps_max)), start=1):
            grid.addWidget(QLabel(name), row, 0)
            self.spins[name] = []
            for col, value in enumerate(values, start=1):
                spin = QDoubleSpinBox()
                spin.setRange(-10000.0, 10000.0)
                spin.setDecimals(2)
                spin.setValue(float(value))
                spin.setObjectName(f"box_{name}_{_AXES[col - 1]}")
                grid.addWidget(spin, row, col)
                self.spins[name].append(spin)
        layout.addLayout(grid)
        form = QGridLayout()
        form.addWidget(QLabel("Label id"), 0, 0)
        self.label_spin = QSpinBox()
        self.label_spin.setRange(1, 65535)
        self.label_spin.setValue(int(box.label_id))
        form.addWidget(self.label_spin, 0, 1)
        form.addWidget(QLabel("Note"), 1, 0)
        self.note_edit = QLineEdit(box.note)
        form.addWidget(self.note_edit, 1, 1)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def values(self) -> tuple[tuple[float, ...], tuple[float, ...], int, str]:
        """(lps_min, lps_max, label_id, note) as entered."""
        lo = tuple(s.value() for s in self.spins["min"])
        hi = tuple(s.value() for s in self.spins["max"])
        return lo, hi, self.label_spin.value(), self.note_edit.text()


class _Closer(QObject):
    """Close the box controller before the window closes its viewports."""

    def __init__(self, window: MainWindow, controller: BoxController, history: AnnotationHistory) -> None:
        super().__init__(window)
        self.window, self.controller, self.history = window, controller, history
        window.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """On the window's Close: close the controller and the history once."""
        if obj is self.window and event.type() == QEvent.Type.Close:
            self.window.removeEventFilter(self)
            self.controller.close()
            self.history.close()
        return False


def edit_selected_box(window: MainWindow) -> bool:
    """Open the numeric dialog for the selected box; apply it as one undo step. False when cancelled."""
    controller: BoxController = window.box_tool  # type: ignore[attr-defined]
    box = controller.tool.selected()
    if box is None:
        window.statusBar().showMessage("Boxes: select a box first (Box mode, click it)", 5000)
        return False
    dialog = BoxDialog(box, window)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return False
    lo, hi, label_id, note = dialog.values()
    try:
        controller.set_bounds(lo, hi, label_id, note)
    except ValueError as exc:
        window.statusBar().showMessage(f"Boxes: {exc}", 8000)
        return False
    return True


def install_boxes(window: MainWindow) -> BoxController:
    """Add Box mode, the box visuals, annotation undo and the Annotations menu to ``window``."""
    session = window.session
    history = AnnotationHistory(session.boxes, session.findings)
    window.annotation_history = history  # type: ignore[attr-defined]
    controller = BoxController(session, window.state, window.grid, history,
                               getattr(window, "centre_views_on", None), window)
    window.box_tool = controller  # type: ignore[attr-defined]
    editor = getattr(getattr(window, "segment_editor", None), "controller", None)
    measure = getattr(getattr(window, "measure_panel", None), "controller", None)
    for other in (editor, measure):
        if other is not None:
            controller.watch_exclusive(other)
    controller.failed.connect(lambda text: window.statusBar().showMessage(f"Boxes: {text}", 8000))
    if getattr(window, "segment_editor", None) is not None:
        window.undo_router = install_undo_router(window, history)  # type: ignore[attr-defined]
    _Closer(window, controller, history)

    bar = window.menuBar()
    menu = next((a.menu() for a in bar.actions() if a.text().replace("&", "") == "Annotations"), None)
    if menu is None:
        menu = QMenu("&Annotations", bar)
        before = next((a for a in bar.actions() if a.text().replace("&", "") in ("Review", "Help")), None)
        if before is None:
            bar.addMenu(menu)
        else:
            bar.insertMenu(before, menu)
    mode = QAction(_icon("mdi6.vector-square"), "&Box mode", window)
    mode.setCheckable(True)
    mode.setShortcut(QKeySequence("B"))
    mode.setToolTip("Box mode (B): drag in a slice view to draw a box; drag inside to move, edges to resize")
    mode.triggered.connect(controller.set_active)
    controller.mode_changed.connect(mode.setChecked)
    two_d = QAction("&2D boxes (on one slice)", window)
    two_d.setCheckable(True)
    two_d.toggled.connect(lambda on: controller.set_kind("2d" if on else "3d"))
    rejected = QAction("Show &rejected boxes", window)
    rejected.setCheckable(True)
    rejected.setChecked(True)
    rejected.toggled.connect(controller.set_show_rejected)
    edit = QAction(_icon("fa5s.edit"), "&Edit box…", window)
    edit.setShortcut(QKeySequence("Ctrl+B"))
    edit.triggered.connect(lambda: edit_selected_box(window))
    delete = QAction(_icon("fa5s.trash-alt"), "&Delete box", window)
    delete.triggered.connect(controller.delete_selected)
    for action in (mode, two_d, rejected, edit, delete):
        menu.addAction(action)
    toolbar = window.findChild(QToolBar, "toolbar_main")
    if toolbar is not None:
        toolbar.addSeparator()
        toolbar.addAction(mode)
    controller.actions = {"mode": mode, "2d": two_d, "rejected": rejected,  # type: ignore[attr-defined]
                          "edit": edit, "delete": delete}
    return controller
