"""``WindowLevelPanel``: the image histogram with the W/L range drawn on it, numeric W/L and presets.

Two-way bound to :class:`~ui.viewer_state.ViewerState`: dragging the band's edges or centre, the
spin boxes and the preset buttons call ``state.set_window_level`` / ``state.apply_preset``; the
state's ``window_level_changed`` moves the band and the spin boxes (signals blocked, so no loop).
The histogram is computed once per displayed image by :func:`analysis.histogram.image_histogram`
(strided subsample); this module only maps values to pixels. GUI thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QLinearGradient, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from analysis.histogram import Histogram, image_histogram
from ui.viewer_state import WL_PRESETS

if TYPE_CHECKING:
    from PySide6.QtGui import QMouseEvent, QPaintEvent

    from render.image_data import VtkImage
    from ui.main_window import MainWindow
    from ui.viewer_state import ViewerState

#: Grab distance (logical px) of a band edge.
_EDGE_GRAB_PX = 6
_RAMP_PX = 8  # height of the grey ramp under the histogram
_BAND_RGBA = (255, 210, 60)


class HistogramView(QWidget):
    """Histogram (log counts) with the window drawn as a band; drag the band to change W/L.

    Drag an edge to move it (the other edge stays), drag inside the band to move the level.

    Signals
    -------
    window_level_requested(float, float)
        (width, level) in image units asked for by a drag.
    """

    window_level_requested = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.histogram: Histogram | None = None
        self.window_level = (400.0, 40.0)
        self._curve: np.ndarray | None = None  # 0–1 heights per bin (log scale)
        self._drag = ""  # "lo", "hi", "move" or ""
        self._drag_start: tuple[float, float, float] = (0.0, 0.0, 0.0)  # x, width, level
        self.setMouseTracking(True)
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Drag the band edges to change the window, the band to change the level")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """Preferred size in a dock."""
        return QSize(260, 120)

    def set_histogram(self, histogram: Histogram | None) -> None:
        """Show ``histogram`` (None clears the plot)."""
        self.histogram = histogram
        self._curve = None
        if histogram is not None and histogram.counts.size:
            logc = np.log1p(histogram.counts.astype(float))
            top = float(logc.max())
            self._curve = logc / top if top > 0 else logc
        self.update()

    def set_window_level(self, width: float, level: float) -> None:
        """Move the band to ``level ± width / 2``."""
        self.window_level = (float(width), float(level))
        self.update()

    # ------------------------------------------------------------ value ↔ pixel
    def _plot_rect(self) -> QRectF:
        return QRectF(4.0, 4.0, max(1.0, self.width() - 8.0), max(1.0, self.height() - 10.0 - _RAMP_PX))

    def _value_range(self) -> tuple[float, float]:
        if self.histogram is None:
            w, l_ = self.window_level
            return l_ - w, l_ + w
        return self.histogram.lo, self.histogram.hi

    def value_to_x(self, value: float) -> float:
        """Widget x (logical px) of an image value."""
        lo, hi = self._value_range()
        rect = self._plot_rect()
        return rect.left() + (value - lo) / max(hi - lo, 1e-9) * rect.width()

    def x_to_value(self, x: float) -> float:
        """Image value at widget x (logical px)."""
        lo, hi = self._value_range()
        rect = self._plot_rect()
        return lo + (x - rect.left()) / max(rect.width(), 1e-9) * (hi - lo)

    def band_x(self) -> tuple[float, float]:
        """Widget x of the window's lower and upper edge."""
        width, level = self.window_level
        return self.value_to_x(level - width / 2), self.value_to_x(level + width / 2)

    def _hit(self, x: float) -> str:
        x0, x1 = self.band_x()
        if abs(x - x0) <= _EDGE_GRAB_PX and abs(x - x0) <= abs(x - x1):
            return "lo"
        if abs(x - x1) <= _EDGE_GRAB_PX:
            return "hi"
        return "move" if x0 < x < x1 else ""

    # ------------------------------------------------------------------ mouse
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Grab an edge or the band."""
        if event.button() != Qt.MouseButton.LeftButton:
            return
        x = event.position().x()
        self._drag = self._hit(x) or "move"  # a click outside the band recentres it there
        if self._drag == "move" and not self._hit(x):
            self.window_level_requested.emit(self.window_level[0], self.x_to_value(x))
        self._drag_start = (x, *self.window_level)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Drag the grabbed part; otherwise show which part the cursor would grab."""
        x = event.position().x()
        if not self._drag:
            part = self._hit(x)
            self.setCursor(Qt.CursorShape.SizeHorCursor if part in ("lo", "hi")
                           else Qt.CursorShape.OpenHandCursor if part == "move" else Qt.CursorShape.ArrowCursor)
            return
        x_start, width, level = self._drag_start
        lo, hi = level - width / 2, level + width / 2
        value = self.x_to_value(x)
        if self._drag == "lo":
            lo = min(value, hi - 1.0)
        elif self._drag == "hi":
            hi = max(value, lo + 1.0)
        else:
            shift = self.x_to_value(x) - self.x_to_value(x_start)
            lo, hi = lo + shift, hi + shift
        self.window_level_requested.emit(hi - lo, (lo + hi) / 2)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Release the grabbed part."""
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = ""

    # ------------------------------------------------------------------ paint
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        """Histogram, the W/L band and a grey ramp showing the display mapping."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self._plot_rect()
        painter.fillRect(self.rect(), QColor(30, 30, 34))
        if self._curve is not None and self.histogram is not None:
            n = self._curve.size
            path = QPainterPath(QPointF(rect.left(), rect.bottom()))
            for i, h in enumerate(self._curve):
                x0 = rect.left() + i / n * rect.width()
                x1 = rect.left() + (i + 1) / n * rect.width()
                y = rect.bottom() - float(h) * rect.height()
                path.lineTo(x0, y)
                path.lineTo(x1, y)
            path.lineTo(rect.right(), rect.bottom())
            path.closeSubpath()
            painter.fillPath(path, QColor(150, 160, 175))
        x0, x1 = self.band_x()
        band = QRectF(QPointF(x0, rect.top()), QPointF(x1, rect.bottom())).intersected(rect)
        painter.fillRect(band, QColor(*_BAND_RGBA, 60))
        painter.setPen(QPen(QColor(*_BAND_RGBA), 2))
        for x in (x0, x1):
            if rect.left() - 1 <= x <= rect.right() + 1:
                painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        painter.setPen(QPen(QColor(*_BAND_RGBA), 1, Qt.PenStyle.DashLine))
        xc = (x0 + x1) / 2
        if rect.left() <= xc <= rect.right():
            painter.drawLine(QPointF(xc, rect.top()), QPointF(xc, rect.bottom()))
        # the grey ramp: black below the window, white above, linear inside (what the views show)
        ramp = QRectF(rect.left(), rect.bottom() + 3, rect.width(), _RAMP_PX)
        gradient = QLinearGradient(QPointF(x0, 0), QPointF(max(x1, x0 + 0.5), 0))
        gradient.setColorAt(0.0, QColor(0, 0, 0))
        gradient.setColorAt(1.0, QColor(255, 255, 255))
        painter.fillRect(ramp, QBrush(gradient))
        painter.end()


class WindowLevelPanel(QWidget):
    """Dock content: histogram with the W/L band, width/level spin boxes, preset and auto buttons.

    Parameters
    ----------
    state
        The shared viewer state (both directions are bound).
    """

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.view = HistogramView(self)
        self.width_spin = self._spin(1.0, 1e6, "Window width (image units)")
        self.level_spin = self._spin(-1e6, 1e6, "Window level / centre (image units)")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.width_spin)
        row.addWidget(self.level_spin)
        form.addRow("W / L", row)
        self.preset_buttons: dict[str, QToolButton] = {}
        presets = QGridLayout()
        presets.setSpacing(2)
        for i, (key, (title, width, level)) in enumerate(WL_PRESETS.items()):
            button = QToolButton()
            button.setText(title)
            button.setToolTip(f"{title}: W {width:.0f} / L {level:.0f}  (key {key})")
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.clicked.connect(lambda _=False, k=key: self.state.apply_preset(k))
            presets.addWidget(button, i // 3, i % 3)
            self.preset_buttons[key] = button
        self.auto_button = QToolButton()
        self.auto_button.setText("Auto")
        self.auto_button.setToolTip("The image's default window (DICOM header or 0.1–99.9 percentiles)")
        self.auto_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.auto_button.clicked.connect(self._on_auto_clicked)
        presets.addWidget(self.auto_button, (len(WL_PRESETS)) // 3, len(WL_PRESETS) % 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.view, 1)
        layout.addLayout(form)
        layout.addLayout(presets)
        self.view.window_level_requested.connect(self._on_view_window_level_requested)
        self.width_spin.valueChanged.connect(self._on_spin_value_changed)
        self.level_spin.valueChanged.connect(self._on_spin_value_changed)
        state.image_changed.connect(self._on_state_image_changed)
        state.window_level_changed.connect(self._on_state_window_level_changed)
        self._on_state_image_changed(state.image)
        self._on_state_window_level_changed(*state.window_level)

    @staticmethod
    def _spin(lo: float, hi: float, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(lo, hi)
        spin.setDecimals(1)
        spin.setSingleStep(10.0)
        spin.setKeyboardTracking(False)  # apply on Enter / focus out / arrows, not per keystroke
        spin.setToolTip(tip)
        return spin

    # ----------------------------------------------------------- state → widget
    def _on_state_image_changed(self, image: VtkImage | None) -> None:
        volume = image.image if image is not None else None
        self.view.set_histogram(image_histogram(volume.array) if volume is not None else None)
        if volume is not None:
            # arrow keys step by 0.5 % of the value range (20 HU on CT), at least 1 for integer images
            lo, hi = self.view.histogram.lo, self.view.histogram.hi
            step = max(1.0 if volume.array.dtype.kind in "iub" else 1e-3, (hi - lo) / 200.0)
            for spin in (self.width_spin, self.level_spin):
                spin.setSingleStep(step)
        self.setEnabled(volume is not None)

    def _on_state_window_level_changed(self, width: float, level: float) -> None:
        for spin, value in ((self.width_spin, width), (self.level_spin, level)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self.view.set_window_level(width, level)

    # ----------------------------------------------------------- widget → state
    def _on_spin_value_changed(self, _value: float) -> None:
        self.state.set_window_level(self.width_spin.value(), self.level_spin.value())

    def _on_view_window_level_requested(self, width: float, level: float) -> None:
        self.state.set_window_level(width, level)

    def _on_auto_clicked(self) -> None:
        volume = self.state.volume
        if volume is not None:
            self.state.set_window_level(*volume.default_window())

    def close_panel(self) -> None:
        """Disconnect from the viewer state."""
        self.state.image_changed.disconnect(self._on_state_image_changed)
        self.state.window_level_changed.disconnect(self._on_state_window_level_changed)


def install_window_level_dock(window: MainWindow) -> WindowLevelPanel:
    """Add the W/L dock (right side) to ``window`` and a show/hide entry to its Window/level menu."""
    panel = WindowLevelPanel(window.state)
    dock = QDockWidget("Window/level", window)
    dock.setObjectName("dock_window_level")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == "Window/level":
            action.menu().addSeparator()
            action.menu().addAction(dock.toggleViewAction())
    return panel
