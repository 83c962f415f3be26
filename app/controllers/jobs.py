"""``Job``: run a function on a ``QThreadPool`` with progress, cancel and queued results.

The [superqt] ``WorkerBase`` pattern cut down (ARCHITECTURE §7). A ``QRunnable`` is not a
``QObject``, so a job's signals live on a separate :class:`JobSignals` object created on the GUI
thread; signals emitted by the worker therefore arrive queued on the GUI thread. Running jobs are
kept referenced in ``Job._running`` until they report.

Thread rules
------------
* Create, ``start()`` and ``cancel()`` a job on the GUI thread.
* ``func`` runs on a worker thread: no widgets, no VTK, no model writes. It receives a
  :class:`~analysis._task.TaskContext` as ``ctx`` and may call ``job.emit_partial(value)`` (through
  a closure) to hand intermediate results (a preview) to the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from analysis._task import Cancelled, TaskContext

log = logging.getLogger(__name__)


class JobSignals(QObject):
    """Signals of one :class:`Job` (emitted on the worker thread, delivered on the GUI thread).

    ``progress(fraction, message)``, ``partial(object)``, ``finished(result)``,
    ``failed(exception)``, ``cancelled()``.
    """

    progress = Signal(float, str)
    partial = Signal(object)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal()


class Job(QRunnable):
    """Run ``func(*args, ctx=..., **kwargs)`` on a thread pool.

    Parameters
    ----------
    func
        The work. Must accept ``ctx: TaskContext``; it should call ``ctx.step`` in its loops so
        that :meth:`cancel` is honoured (cancellation is cooperative).
    *args, **kwargs
        Snapshotted inputs (read-only images may be passed as they are; never a model object).
    """

    _running: ClassVar[set[Job]] = set()

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.signals = JobSignals()
        self._call = partial(func, *args, **kwargs)
        self._cancel = False
        self.done = False

    # ------------------------------------------------------------- GUI thread
    def cancel(self) -> None:
        """Ask the job to stop at its next ``ctx.step``/``ctx.check`` (any thread)."""
        self._cancel = True

    @property
    def is_cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancel

    def start(self, pool: QThreadPool | None = None) -> Job:
        """Queue the job on ``pool`` (default: the global pool) and keep it referenced."""
        Job._running.add(self)
        for signal in (self.signals.finished, self.signals.failed, self.signals.cancelled):
            signal.connect(self._release)
        (pool or QThreadPool.globalInstance()).start(self)
        return self

    def _release(self, *_: Any) -> None:
        self.done = True
        Job._running.discard(self)

    @classmethod
    def running(cls) -> list[Job]:
        """Jobs started and not yet reported (GUI thread)."""
        return list(cls._running)

    @classmethod
    def cancel_all(cls, wait_ms: int = 2000, pool: QThreadPool | None = None) -> bool:
        """Cancel every running job and wait up to ``wait_ms`` for the pool; True when idle."""
        for job in list(cls._running):
            job.cancel()
        return (pool or QThreadPool.globalInstance()).waitForDone(wait_ms)

    # ---------------------------------------------------------- worker thread
    def emit_partial(self, value: Any) -> None:
        """Hand an intermediate result to the GUI thread (``signals.partial``); any thread."""
        self.signals.partial.emit(value)

    def run(self) -> None:
        """Worker thread: call the function and report exactly one of finished/failed/cancelled."""
        ctx = TaskContext(self.signals.progress.emit, lambda: self._cancel)
        try:
            if self._cancel:
                raise Cancelled
            result = self._call(ctx=ctx)
        except Cancelled:
            self.signals.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - every failure reaches the user via `failed`
            log.debug("job failed", exc_info=True)
            self.signals.failed.emit(exc)
        else:
            self.signals.finished.emit(result)
