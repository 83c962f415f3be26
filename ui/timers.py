"""How the GUI coalesces work to "once, a little later". GUI thread only.

* ``single_shot_timer``: a stopped single-shot ``QTimer`` that calls ``slot`` ``interval_ms`` after
  its latest ``start()``. With the default 0 ms, work asked for many times in one event-loop turn
  (renders, 3D re-renders after a pause) runs once, when control returns to the event loop.
* ``at_turn_end(call)``: ``call()`` once when control returns to the event loop, however often it was
  asked for in this turn. One shared timer serves every caller: work deferred past a scrolled view's
  frame (the linked cursor, the 3D plane outlines, the status-bar slice text) costs a dict entry per
  slice instead of a ``QTimer`` call each (~10–20 µs apiece right after a frame, caches cold).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, QTimer

__all__ = ["at_turn_end", "cancel_at_turn_end", "single_shot_timer"]


def single_shot_timer(parent: QObject | None, slot: Callable[[], object], interval_ms: int = 0) -> QTimer:
    """A single-shot timer owned by ``parent`` that calls ``slot`` ``interval_ms`` after ``start()``."""
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(interval_ms)
    timer.timeout.connect(slot)
    return timer


class _TurnEnd(QObject):
    """The calls deferred to the end of the event-loop turn, in the order first asked for."""

    def __init__(self, parent: QObject | None) -> None:
        super().__init__(parent)
        self.calls: dict[Callable[[], object], None] = {}
        self._timer = single_shot_timer(self, self._run)

    def add(self, call: Callable[[], object]) -> None:
        if not self.calls:
            self._timer.start()
        self.calls[call] = None

    def _run(self) -> None:
        calls, self.calls = self.calls, {}
        failure: BaseException | None = None
        for call in calls:
            try:
                call()
            except Exception as error:  # the others still run; the first failure is raised after them
                failure = failure or error
        if failure is not None:
            raise failure


_turn_end: _TurnEnd | None = None


def at_turn_end(call: Callable[[], object]) -> None:
    """Call ``call()`` once when control returns to the event loop (after the renders already
    scheduled in this turn). Asking again in the same turn with an equal callable (the same bound
    method) keeps one call. The callable is referenced until then only."""
    global _turn_end
    if _turn_end is None:
        _turn_end = _TurnEnd(QCoreApplication.instance())
    try:
        _turn_end.add(call)
    except RuntimeError:  # its application was deleted, and the timer with it (tests make new ones)
        _turn_end = _TurnEnd(QCoreApplication.instance())
        _turn_end.add(call)


def cancel_at_turn_end(call: Callable[[], object]) -> None:
    """Forget a call asked for with :func:`at_turn_end` that has not run yet (e.g. its widget closes)."""
    if _turn_end is not None:
        _turn_end.calls.pop(call, None)
