"""``run_gui``: the composition root of the GUI commands (``view``, ``screenshot``).

Creates the ``QApplication``, the :class:`~app.model.session.Session` and the
:class:`~ui.main_window.MainWindow`, opens what the command line asked for, runs the event loop,
and on exit cancels background jobs and waits for the thread pool. GUI thread only.

``medws view`` starts fast (issue #3, :mod:`ui.startup`): reading the inputs starts before VTK and
the window are imported, and the parts of the window that the first slice frame does not need are
installed right after that frame.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication

from app.controllers.jobs import Job
from app.model.session import Session
from ui.loading import SAMPLE_PREFIX, LoadController

if TYPE_CHECKING:
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)


def application() -> QApplication:
    """Return the running QApplication, creating it (named "MedWS") when there is none."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName("MedWS")
    app.setOrganizationName("MedWS")
    return app


def initial_specs(args: argparse.Namespace) -> list[str]:
    """Return what ``medws view`` should open: its paths, then ``--sample`` (``sample:NAME``)."""
    specs = [str(p) for p in (getattr(args, "paths", None) or [])]
    sample = getattr(args, "sample", None)
    if sample:
        specs.append(f"{SAMPLE_PREFIX}{sample}")
    return specs


def _wire_surface_writer(*_: object) -> None:
    """Let dataset export write surface meshes (VTK lives in render/, which app/ may not import)."""
    from app.io.export import set_surface_writer
    from render.surface_export import write_segment_surfaces

    set_surface_writer(write_segment_surfaces)


def run_gui(args: argparse.Namespace, on_window: Callable[[MainWindow], None] | None = None) -> int:
    """Run ``medws view`` or ``medws screenshot``; return the process exit code.

    ``on_window(window)`` is called once the window exists, before it is shown (benchmarks, tests).
    """
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    app = application()
    screenshot = getattr(args, "command", "view") == "screenshot"
    specs = [] if screenshot else initial_specs(args)
    loader = None
    if specs:  # read while VTK and the window are imported and built
        loader = LoadController()
        loader.load(specs, labels=getattr(args, "labels", None))
    from ui.main_window import MainWindow

    session = Session()
    window = MainWindow(session, interactive=not screenshot, loader=loader, defer_extras=not screenshot)
    try:
        if screenshot:
            _wire_surface_writer()
        else:
            from ui.startup import StartupWatcher

            window.startup = StartupWatcher(window, expect_image=bool(specs))
            window.startup.ready.connect(_wire_surface_writer)  # export exists only from then on
        if on_window is not None:
            on_window(window)
        if screenshot:
            from ui.screenshot import run_screenshot

            return run_screenshot(app, window, args)
        window.grid.set_layout(getattr(args, "layout", None) or "2x2")
        window.show()
        return int(app.exec())
    finally:
        window.close()
        Job.cancel_all(wait_ms=2000)
        QThreadPool.globalInstance().waitForDone(2000)
