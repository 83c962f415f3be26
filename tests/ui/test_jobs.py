"""Job on QThreadPool: results, failures, cancellation and partial results arrive on the GUI thread."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThread

from analysis._task import TaskContext
from app.controllers.jobs import Job


def _work(n: int, *, ctx: TaskContext, fail: bool = False, gate: threading.Event | None = None) -> int:
    if gate is not None:
        gate.wait(5)
    for i in range(n):
        ctx.step(i / n, "working")
    if fail:
        raise ValueError("boom")
    return n * 2


def test_job_finishes_with_progress_on_the_gui_thread(qtbot):
    job = Job(_work, 5)
    seen = []
    job.signals.progress.connect(lambda f, m: seen.append((f, QThread.currentThread())))
    with qtbot.waitSignal(job.signals.finished, timeout=5000) as blocker:
        job.start()
    assert blocker.args == [10]
    qtbot.waitUntil(lambda: job.done)
    assert seen and all(thread is QThread.currentThread() for _, thread in seen)
    assert job not in Job.running()


def test_job_failure_reaches_failed(qtbot):
    job = Job(_work, 3, fail=True)
    with qtbot.waitSignal(job.signals.failed, timeout=5000) as blocker:
        job.start()
    assert isinstance(blocker.args[0], ValueError)
    qtbot.waitUntil(lambda: not Job.running())


def test_cancel_before_the_first_step_reports_cancelled(qtbot):
    gate = threading.Event()
    job = Job(_work, 100, gate=gate)
    with qtbot.waitSignal(job.signals.cancelled, timeout=5000):
        job.start()
        job.cancel()
        gate.set()
    assert job.is_cancelled
    qtbot.waitUntil(lambda: not Job.running())


def test_partial_results_are_delivered(qtbot):
    holder: list[Job] = []

    def work(*, ctx: TaskContext) -> str:
        holder[0].emit_partial(("preview", 1))
        return "done"

    job = Job(work)
    holder.append(job)
    got = []
    job.signals.partial.connect(got.append)
    with qtbot.waitSignal(job.signals.finished, timeout=5000):
        job.start()
    qtbot.waitUntil(lambda: bool(got))
    assert got == [("preview", 1)]


@pytest.mark.parametrize("n", [0, 1])
def test_cancel_all_waits_for_the_pool(qtbot, n):
    jobs = [Job(_work, 10).start() for _ in range(n)]
    assert Job.cancel_all(wait_ms=5000)
    qtbot.waitUntil(lambda: all(j.done for j in jobs))
