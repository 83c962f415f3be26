"""``run_gui``: the composition root of the GUI commands (``view``, ``screenshot``).

Creates the ``QApplication``, the :class:`~app.model.session.Session` and the
:class:`~ui.main_window.MainWindow`, opens what the command line asked for, runs the event loop,
and on exit cancels background jobs and waits for the thread pool. GUI thread only.
"""

from __future__ import annotations

import argparse
import logging
import sys

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication

from app.controllers.jobs import Job
from app.model.session import Session
from ui.loading import SAMPLE_PREFIX
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


def run_gui(args: argparse.Namespace) -> int:
    """Run ``medws view`` or ``medws screenshot``; return the process exit code."""
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    app = application()
    from app.io.export import set_surface_writer
    from render.surface_export import write_segment_surfaces

    set_surface_writer(write_segment_surfaces)  # meshing needs VTK: wired here, the composition root
    session = Session()
    screenshot = getattr(args, "command", "view") == "screenshot"
    window = MainWindow(session, interactive=not screenshot)
    try:
        if screenshot:
            from ui.screenshot import run_screenshot

            return run_screenshot(app, window, args)
        window.grid.set_layout(getattr(args, "layout", None) or "2x2")
        window.show()
        specs = initial_specs(args)
        if specs:
            window.open_paths(specs)
        return int(app.exec())
    finally:
        window.close()
        Job.cancel_all(wait_ms=2000)
        QThreadPool.globalInstance().waitForDone(2000)
