"""Benchmark: oblique MPR cost against axis-aligned slicing, in the same process and window.

Opens a sample (default ``lung1``, 512×512 CT) in the real MainWindow (2x2 layout, 1200×900,
docks hidden) and times, as medians over ``--repeats`` steps, each followed by a synchronous
``Render()`` of the three slice views:

* ``rotate_1deg_ms``: turning the axial crosshair by 1° (coronal and sagittal reslice obliquely);
* ``oblique_slice_step_ms``: one slice step of the rotated coronal view;
* ``aligned_slice_step_ms``: one slice step of the coronal view after ``reset_views`` (the peer).

Prints one JSON object. Run (needs a display):
``xvfb-run -a -s "-screen 0 1600x1200x24" .venv/bin/python bench/oblique_mpr.py [--sample lung1] [--repeats 20]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def main() -> int:
    """Run the benchmark and print its JSON; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="lung1")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDockWidget  # noqa: TID251 - a GUI benchmark drives widgets

    from app.model.session import Session
    from render.orientation import ViewKind
    from ui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    window = MainWindow(Session(), interactive=False, mapper_kind="cpu")
    for dock in window.findChildren(QDockWidget):
        dock.hide()
    window.grid.set_layout("2x2")
    window.resize(1200, 900)
    window.show()
    result: dict = {"sample": args.sample, "repeats": args.repeats}

    def timed(step) -> float:
        views = list(window.grid.slice_views.values())
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            step()
            for view in views:
                view.GetRenderWindow().Render()
            times.append(time.perf_counter() - start)
        return round(1000 * float(np.median(times)), 1)

    def run() -> None:
        axial = window.grid.slice_views[ViewKind.AXIAL]
        coronal = window.grid.slice_views[ViewKind.CORONAL]
        timed(lambda: axial.rotate_crosshair(np.radians(1)))  # warm-up
        result["rotate_1deg_ms"] = timed(lambda: axial.rotate_crosshair(np.radians(1)))
        result["oblique_slice_step_ms"] = timed(lambda: coronal.step_slice(1))
        window.reset_views()
        result["aligned_slice_step_ms"] = timed(lambda: coronal.step_slice(1))
        result["oblique_over_aligned"] = round(result["oblique_slice_step_ms"] / result["aligned_slice_step_ms"], 2)
        app.quit()

    window.loader.finished.connect(lambda: QTimer.singleShot(300, run))
    window.open_paths([f"sample:{args.sample}"])
    app.exec()
    window.close()
    print(json.dumps(result))
    return 0 if "aligned_slice_step_ms" in result else 1


if __name__ == "__main__":
    sys.exit(main())
