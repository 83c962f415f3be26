"""``single_shot_timer``: the one way the GUI coalesces work to "once, a little later".

A stopped single-shot ``QTimer`` that calls ``slot`` ``interval_ms`` after its latest ``start()``.
With the default 0 ms, work asked for many times in one event-loop turn (renders, status text,
linked-cursor updates) runs once, when control returns to the event loop. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

__all__ = ["single_shot_timer"]


def single_shot_timer(parent: QObject | None, slot: Callable[[], object], interval_ms: int = 0) -> QTimer:
    """A single-shot timer owned by ``parent`` that calls ``slot`` ``interval_ms`` after ``start()``."""
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(interval_ms)
    timer.timeout.connect(slot)
    return timer
