"""Help ▸ Mouse and keys (F1): the slice- and 3D-view bindings in one table. GUI thread only.

The rows mirror the bindings documented in :mod:`ui.viewport` and :mod:`ui.volume_viewport`
(CONVENTIONS §4.1: wheel = slice, right-drag = zoom, middle-drag = pan, Shift = crosshair; Slicer's
Ctrl+Alt+left-drag rotates the crosshair for oblique MPR).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMainWindow

#: (input, action) rows for the slice views, then the 3D view.
SLICE_VIEW_BINDINGS: tuple[tuple[str, str], ...] = (
    ("Wheel, ↑/↓ (PgUp/PgDn ±10, Home/End)", "Slice"),
    ("Left-drag", "Window (horizontal) / level (vertical) in review mode; the active tool otherwise"),
    ("Right-drag, Ctrl+wheel (Ctrl+left on trackpads)", "Zoom"),
    ("Middle-drag (Alt+left)", "Pan"),
    ("Shift+move / Shift+click", "Move the linked crosshair in every view"),
    ("Ctrl+Alt+left-drag", "Rotate the crosshair about its centre: the other two views show oblique planes "
                           "through the crosshair point (oblique MPR); outlines, measurements and editing "
                           "work on axis-aligned views"),
    ("r", "Reset zoom/pan and the crosshair rotation (View ▸ Reset views, Ctrl+R: every view)"),
    ("Double-click", "Maximise the view / restore the layout (a zoomed view keeps its region)"),
    ("1 – 5", "W/L presets: soft tissue, lung, bone, brain, mediastinum"),
    ("C / S", "Show crosshair / smooth slices"),
)
VOLUME_VIEW_BINDINGS: tuple[tuple[str, str], ...] = (
    ("Left-drag", "Rotate"),
    ("Right-drag", "Zoom"),
    ("Middle-drag", "Pan"),
    ("r", "Reset to the anterior view"),
)


def bindings_html() -> str:
    """Return the bindings as an HTML page (two tables)."""
    def table(title: str, rows: tuple[tuple[str, str], ...]) -> str:
        body = "".join(f"<tr><td><b>{escape(k)}</b></td><td>{escape(v)}</td></tr>" for k, v in rows)
        return f"<h3>{escape(title)}</h3><table cellpadding='3'>{body}</table>"

    return table("Slice views", SLICE_VIEW_BINDINGS) + table("3D view", VOLUME_VIEW_BINDINGS)


class KeysDialog(QDialog):
    """A read-only table of the mouse and key bindings."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("MedWS: mouse and keys")
        self.browser = QTextBrowser(self)
        self.browser.setHtml(bindings_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(640, 460)


def install_help_menu(window: QMainWindow) -> QAction:
    """Add Help ▸ Mouse and keys… (F1) to ``window``'s menu bar (reusing a Help menu if present)."""
    bar = window.menuBar()
    menu = next((a.menu() for a in bar.actions() if a.text().replace("&", "") == "Help" and a.menu()), None)
    if menu is None:
        menu = bar.addMenu("&Help")
    action = QAction("Mouse and &keys…", window)
    action.setShortcut(QKeySequence("F1"))
    action.triggered.connect(lambda: KeysDialog(window).exec())
    menu.addAction(action)
    return action
