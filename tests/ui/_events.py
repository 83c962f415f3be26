"""Real Qt input for slice-view tests: mouse events sent to a widget, VTK display ↔ Qt positions."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

NO_BUTTON = Qt.MouseButton.NoButton


def send_mouse(view, kind, xy, button=NO_BUTTON, buttons=NO_BUTTON, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """Send a ``QMouseEvent`` of ``kind`` at widget position ``xy`` (logical px, y down) to ``view``."""
    local = QPointF(*xy)
    event = QMouseEvent(kind, local, QPointF(view.mapToGlobal(local.toPoint())), button, buttons, modifiers)
    QApplication.sendEvent(view, event)


def display_to_qt(view, display_xy) -> tuple[float, float]:
    """VTK display (device px, y up) → Qt widget position (logical px, y down)."""
    ratio = view.devicePixelRatioF()
    return display_xy[0] / ratio, view.height() - 1 - display_xy[1] / ratio


def lps_to_qt(view, lps_mm) -> tuple[float, float]:
    """Qt widget position of an LPS point on a slice view's plane (renders first so the camera is current)."""
    view.GetRenderWindow().Render()
    return display_to_qt(view, view.scene.lps_to_display(lps_mm))
