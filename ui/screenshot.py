"""``medws screenshot``: open a study in the real main window, render, write one PNG.

Each visible viewport is read back with ``vtkWindowToImageFilter`` (``QWidget.grab`` is black for
VTK widgets) and pasted at its place in the view grid; the PNG is written atomically. Needs a
display (run under ``xvfb-run -a`` on headless machines). GUI thread only.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import QElapsedTimer, QPoint, QTimer
from PySide6.QtWidgets import QDockWidget

from render.capture import compose, write_png
from render.orientation import ViewKind

if TYPE_CHECKING:
    import argparse

    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow

log = logging.getLogger(__name__)

LOAD_TIMEOUT_MS = 300_000


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``"WxH"`` into (width, height) pixels (each ≥ 64)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 1200x900, got {text!r}") from None
    if w < 64 or h < 64:
        raise ValueError(f"--size too small: {text}")
    return w, h


def parse_window_level(text: str | None) -> tuple[float, float] | None:
    """Parse ``"W,L"`` (e.g. ``"1500,-600"``) into (width, level)."""
    if not text:
        return None
    try:
        width, level = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--wl must look like 1500,-600, got {text!r}") from None
    if width <= 0:
        raise ValueError(f"--wl width must be positive, got {width}")
    return width, level


def capture_grid(window: MainWindow):
    """Return the composed RGB image of every visible viewport (rows, cols, 3)."""
    grid = window.grid
    ratio = grid.devicePixelRatioF()
    tiles = []
    for kind in grid.visible_kinds():
        view = grid.viewports[kind]
        top_left = view.mapTo(grid, QPoint(0, 0))
        tiles.append((view.capture(), round(top_left.x() * ratio), round(top_left.y() * ratio)))
    return compose(tiles, (round(grid.width() * ratio), round(grid.height() * ratio)))


def capture_window(window: MainWindow):
    """Return the whole window (menus, toolbars, docks and the view grid) as RGB (rows, cols, 3).

    Qt widgets come from ``QWidget.grab``; the VTK viewports, black there, are pasted in from
    :func:`capture_grid`.
    """
    import numpy as np
    from PySide6.QtGui import QImage

    image = window.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    h, w = image.height(), image.width()
    rgb = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())[:, : w * 3]
    rgb = rgb.reshape(h, w, 3).copy()
    grid = capture_grid(window)
    ratio = window.devicePixelRatioF()
    top_left = window.grid.mapTo(window, QPoint(0, 0))
    x, y = round(top_left.x() * ratio), round(top_left.y() * ratio)
    gh, gw = min(grid.shape[0], h - y), min(grid.shape[1], w - x)
    rgb[y:y + gh, x:x + gw] = grid[:gh, :gw]
    return rgb


def run_screenshot(app: QApplication, window: MainWindow, args: argparse.Namespace) -> int:
    """Load ``args.input``, apply ``--layout/--slice/--wl/--size``, write ``args.out``; return rc."""
    try:
        width, height = parse_size(args.size)
        window_level = parse_window_level(args.wl)
    except ValueError as exc:
        print(f"medws screenshot: {exc}", file=sys.stderr)
        return 2
    window.grid.set_layout(args.layout)
    for dock in window.findChildren(QDockWidget):  # the PNG is the view grid; stacked docks set a minimum height
        dock.hide()
    window.show()
    app.processEvents()
    extra_w = window.width() - window.grid.width()
    extra_h = window.height() - window.grid.height()
    window.resize(width + extra_w, height + extra_h)
    app.processEvents()
    outcome = {"rc": 1}
    clock = QElapsedTimer()
    clock.start()

    def finish() -> None:
        try:
            if window.session.active_image is None:
                errors = "; ".join(window.last_errors) or "nothing loaded"
                print(f"medws screenshot: cannot open {args.input}: {errors}", file=sys.stderr)
                return
            if window_level is not None:
                window.state.set_window_level(*window_level)
            if args.slice is not None:
                kind = ViewKind(args.layout) if args.layout in ("axial", "coronal", "sagittal") \
                    else ViewKind.AXIAL
                window.grid.slice_views[kind].set_slice_index(args.slice)
            app.processEvents()
            rgb = capture_grid(window)
            path = write_png(rgb, args.out)
            log.info("wrote %s (%dx%d) in %.1f s", path, rgb.shape[1], rgb.shape[0], clock.elapsed() / 1000)
            outcome["rc"] = 0
        except Exception as exc:  # noqa: BLE001 - a batch command reports and exits non-zero
            print(f"medws screenshot: {exc}", file=sys.stderr)
        finally:
            app.quit()

    def on_loader_finished() -> None:
        QTimer.singleShot(0, finish)  # after the views applied the new image

    def on_timeout() -> None:
        print(f"medws screenshot: loading {args.input} timed out", file=sys.stderr)
        window.loader.cancel()
        app.quit()

    window.loader.finished.connect(on_loader_finished)
    QTimer.singleShot(LOAD_TIMEOUT_MS, on_timeout)
    window.open_paths([args.input])
    app.exec()
    return outcome["rc"]
