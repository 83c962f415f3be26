"""Progress and cancellation protocol shared by every long-running function.

Callers on any thread pass a :class:`TaskContext`; the function calls :meth:`TaskContext.step`
inside its loops. The context knows nothing about the GUI toolkit that shows the progress.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class Cancelled(Exception):
    """Raised inside a task when its caller asked it to stop."""


def _no_report(fraction: float, message: str) -> None:
    return None


def _never() -> bool:
    return False


@dataclass(frozen=True)
class TaskContext:
    """Progress sink and cancel flag for one task.

    Parameters
    ----------
    report
        Called with a fraction in [0, 1] and a short message. May be called from a worker thread.
    is_cancelled
        Polled by the task; returning True makes the next :meth:`step` raise :class:`Cancelled`.
    """

    report: Callable[[float, str], None] = _no_report
    is_cancelled: Callable[[], bool] = _never

    def step(self, fraction: float, message: str = "") -> None:
        """Report progress, raising :class:`Cancelled` first when cancellation was requested."""
        if self.is_cancelled():
            raise Cancelled
        self.report(float(fraction), message)

    def check(self) -> None:
        """Raise :class:`Cancelled` when cancellation was requested; report nothing."""
        if self.is_cancelled():
            raise Cancelled


NULL_CONTEXT = TaskContext()
