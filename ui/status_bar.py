"""``MedwsStatusBar``: cursor position, voxel value, W/L, slice, and a progress bar with cancel.

Formats what it is given, or what it probes from the viewer state; GUI thread only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton, QWidget

from ui.timers import at_turn_end, single_shot_timer

if TYPE_CHECKING:
    import numpy as np

    from ui.viewer_state import ViewerState


class MedwsStatusBar(QStatusBar):
    """The main window's status bar.

    Signals
    -------
    cancel_requested()
        The user pressed the cancel button next to the progress bar.
    """

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.position_label = QLabel("")
        self.voxel_label = QLabel("")
        self.value_label = QLabel("")
        self.window_label = QLabel("")
        self.slice_label = QLabel("")
        self._slice_text = ""
        for label in (self.position_label, self.voxel_label, self.value_label,
                      self.window_label, self.slice_label):
            self.addPermanentWidget(label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(True)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Cancel loading")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.addPermanentWidget(self.progress)
        self.addPermanentWidget(self.cancel_button)
        self.set_busy(False)

    def set_busy(self, busy: bool, message: str = "") -> None:
        """Show or hide the progress bar and cancel button."""
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.progress.setValue(0)
        if message:
            self.showMessage(message)
        elif not busy:
            self.clearMessage()

    def set_progress(self, fraction: float, message: str = "") -> None:
        """Update the progress bar (fraction in [0, 1])."""
        self.progress.setValue(round(max(0.0, min(1.0, fraction)) * 1000))
        self.progress.setFormat(f"{message[:24]} %p%" if message else "%p%")

    def set_cursor_info(self, lps_mm: Sequence[float] | None, zyx: Sequence[int] | None,
                        value: float | None, units: str) -> None:
        """Show the cursor in LPS mm, its voxel ``zyx`` and value (None = outside the volume)."""
        if lps_mm is None:
            self.position_label.setText("")
        else:
            self.position_label.setText("LPS ({:.1f}, {:.1f}, {:.1f}) mm".format(*lps_mm))
        if zyx is None or value is None:
            self.voxel_label.setText("")
            self.value_label.setText("")
        else:
            self.voxel_label.setText("zyx ({}, {}, {})".format(*zyx))
            shown = f"{value:.0f}" if float(value).is_integer() else f"{value:.4g}"
            self.value_label.setText(f"{shown} {units}".strip())

    def show_probe(self, state: ViewerState, lps_mm: np.ndarray) -> None:
        """Show the point ``lps_mm`` with its voxel and value in ``state``'s image."""
        zyx, value = state.probe(lps_mm)
        volume = state.volume
        self.set_cursor_info(lps_mm, zyx, value, volume.units if volume is not None else "")

    def follow_cursor(self, state: ViewerState) -> None:
        """Show ``state``'s linked cursor whenever it moves, once per event-loop turn (after the
        views' frames: scrolling does not wait for the status text)."""
        timer = single_shot_timer(self, lambda: self.show_probe(state, state.cursor_lps))
        state.cursor_changed.connect(lambda _lps: timer.start())

    def set_window_level(self, width: float, level: float) -> None:
        """Show the current window/level."""
        self.window_label.setText(f"W {width:.0f} / L {level:.0f}")

    def set_slice(self, view: str, index: int, n_slices: int) -> None:
        """Show the slice of the last view touched (1-based for display), once per event-loop turn:
        after the scrolled view's frame (a label's ``setText`` costs ~25 µs of a slice change)."""
        self._slice_text = f"{view} {index + 1}/{n_slices}" if n_slices else ""
        at_turn_end(self._show_slice_text)

    def _show_slice_text(self) -> None:
        self.slice_label.setText(self._slice_text)
