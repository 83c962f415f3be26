"""Fixtures for widget tests: a synthetic CT, the main window, and a no-dangling-jobs guard."""

from __future__ import annotations

import pytest

from app.model.image import ImageVolume
from tests._volumes import BONE_ZYX, make_volume


@pytest.fixture
def volume() -> ImageVolume:
    return make_volume()


@pytest.fixture(name="make_volume")
def _make_volume_fixture():
    return make_volume


@pytest.fixture
def bone_zyx():
    return BONE_ZYX


@pytest.fixture(autouse=True)
def _no_dangling_jobs(request):
    """Fail a test that leaves a Job or a pool thread running ([napari] _dangling_qthread_pool)."""
    yield
    if "qapp" not in request.fixturenames and "qtbot" not in request.fixturenames:
        return
    from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QThreadPool

    from app.controllers.jobs import Job

    pool = QThreadPool.globalInstance()
    idle = pool.waitForDone(5000)
    deadline = QDeadlineTimer(2000)
    while Job.running() and not deadline.hasExpired():  # deliver the queued "job reported" calls
        QCoreApplication.processEvents()
    running = Job.running()
    Job.cancel_all(wait_ms=2000)
    Job._running.clear()
    assert idle and pool.activeThreadCount() == 0, "a QThreadPool job was left running"
    assert not running, f"{len(running)} Job(s) never reported"


@pytest.fixture
def main_window(qtbot):
    """A shown MainWindow (CPU volume mapper, no dialogs) with its own Session."""
    from app.model.session import Session
    from ui.main_window import MainWindow

    window = MainWindow(Session(), interactive=False, mapper_kind="cpu")
    window.resize(1000, 800)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.close()


def pytest_runtest_setup(item):
    """Skip ``gl`` tests when there is no X display (QVTK under ``offscreen`` gives GL errors)."""
    import os

    if item.get_closest_marker("gl") and not os.environ.get("DISPLAY"):
        pytest.skip("needs an X display with OpenGL: run under `xvfb-run -a`")
