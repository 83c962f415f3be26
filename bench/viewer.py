"""Benchmark: MedWS viewer start-up (process start → first frame) and slice change → frame.

The parent process builds a 300×512×512 int16 chest phantom once (uncompressed NIfTI in a cache
folder), then starts a fresh child interpreter and times, from just before the child is spawned:

* ``first_slice_frame_s``: the axial view has drawn the loaded volume;
* ``first_frame_s``: all four views (axial, coronal, sagittal, 3D) have drawn it.

Inside the child, ``slice_change_ms`` times 100 distinct axial slices: ``set_slice_index`` plus the
synchronous ``Render()`` the coalescing timer would issue; ``slice_change_all_views_ms`` adds the
coalesced renders of the coronal and sagittal views, whose crosshair follows the scrolled plane.
The 3D view's plane outline re-renders after scrolling pauses, so it is part of neither. Results
are printed as JSON.

With ``--napari PYTHON`` (an interpreter that has napari installed, e.g. a venv under /tmp) the
same volume is opened in napari 2-D and timed the same way: ``viewer.add_image`` then one forced
draw for the first frame, and ``dims.set_current_step`` plus a forced draw per slice. napari's
draw is forced with ``viewer.screenshot(canvas_only=True)``, which adds one read-back per frame.

Run (needs a display): ``xvfb-run -a .venv/bin/python bench/viewer.py [--shape 300,512,512]
[--napari /tmp/napari-venv/bin/python]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _volume_file(shape_zyx: tuple[int, int, int]) -> Path:
    """Write (once) the phantom of ``shape_zyx`` as an uncompressed NIfTI and return its path."""
    from analysis.phantom import make_ct_phantom
    from app.io.volume_files import write_volume
    from app.model.geometry import Geometry

    folder = Path(tempfile.gettempdir()) / "medws-bench"
    path = folder / ("phantom_{}x{}x{}.nii".format(*shape_zyx))
    if not path.is_file():
        spacing = (1.0, 0.7, 0.7)
        ct, _, _ = make_ct_phantom(shape_zyx, spacing)
        write_volume(ct, Geometry(shape_zyx, spacing), path, compress=False)
    return path


_NAPARI_CHILD = r"""
import json, statistics, sys, time
t0, path, repeats = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
import numpy as np
import napari
arr = np.load(path)
viewer = napari.Viewer(show=True)
viewer.window.resize(1400, 950)
layer = viewer.add_image(arr, contrast_limits=(-1000, 1000), name="ct")
viewer.screenshot(canvas_only=True, flash=False)
first = time.time() - t0
n = arr.shape[0]
indices = [round(i * (n - 1) / max(1, repeats - 1)) for i in range(repeats)]
times = []
for index in indices:
    start = time.perf_counter()
    viewer.dims.set_current_step(0, index)
    viewer.screenshot(canvas_only=True, flash=False)
    times.append((time.perf_counter() - start) * 1000)
times.sort()
print(json.dumps({"first_frame_s": first, "slice_change_ms": {
    "mean": round(statistics.fmean(times), 2), "median": round(statistics.median(times), 2),
    "p95": round(times[int(0.95 * (len(times) - 1))], 2), "n": len(times)},
    "napari": napari.__version__}))
viewer.close()
"""


def _run_napari(python: str, path: Path, repeats: int) -> dict:
    """Time napari on the same voxels (saved once as .npy next to the NIfTI)."""
    npy = path.with_suffix(".npy")
    if not npy.is_file():
        import numpy as np

        from app.io.volume_files import read_volume

        np.save(npy, read_volume(path).array)
    t0 = time.time()
    proc = subprocess.run([python, "-c", _NAPARI_CHILD, repr(t0), str(npy), str(repeats)],
                          capture_output=True, text=True, cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child(path: str, t0: float, repeats: int) -> None:
    """Open ``path`` in the real main window and print timings (runs in a fresh interpreter)."""
    from app.model.session import Session
    from render.orientation import ViewKind
    from render.volume_visual import gl_renderer_string
    from ui.gui import application
    from ui.main_window import MainWindow

    app = application()
    window = MainWindow(Session(), interactive=False)
    window.resize(1400, 950)
    window.show()
    result: dict = {}

    def on_finished() -> None:
        axial = window.grid.slice_views[ViewKind.AXIAL]
        axial.GetRenderWindow().Render()
        result["first_slice_frame_s"] = time.time() - t0
        for view in window.grid.viewports.values():
            view.GetRenderWindow().Render()
        result["first_frame_s"] = time.time() - t0
        n = axial.scene.n_slices
        indices = [round(i * (n - 1) / max(1, repeats - 1)) for i in range(repeats)]
        def stats(times: list[float]) -> dict:
            times = sorted(times)
            return {"mean": round(statistics.fmean(times), 2), "median": round(statistics.median(times), 2),
                    "p95": round(times[int(0.95 * (len(times) - 1))], 2), "n": len(times)}

        app.processEvents()
        scrolled, linked = [], []
        for index in indices:
            start = time.perf_counter()
            axial.set_slice_index(index)
            axial.GetRenderWindow().Render()
            scrolled.append((time.perf_counter() - start) * 1000)
            app.processEvents()  # the coalesced renders of the linked coronal/sagittal crosshairs
            linked.append((time.perf_counter() - start) * 1000)
        result["slice_change_ms"] = stats(scrolled)
        result["slice_change_all_views_ms"] = stats(linked)
        result["gl_renderer"] = gl_renderer_string(axial.GetRenderWindow())
        result["volume_mapper"] = window.grid.volume_view.scene.volume.mapper_kind
        result["view_px"] = list(axial.GetRenderWindow().GetSize())
        app.quit()

    window.loader.finished.connect(on_finished)
    window.open_paths([path])
    app.exec()
    window.close()
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    """Prepare the volume, run the child, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="300,512,512", help="z,y,x voxels")
    parser.add_argument("--repeats", type=int, default=100, help="distinct slices to time")
    parser.add_argument("--napari", metavar="PYTHON", help="also time napari with this interpreter")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "T0"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], float(args.child[1]), args.repeats)
        return 0
    shape = tuple(int(v) for v in args.shape.split(","))
    path = _volume_file(shape)
    env = dict(os.environ)
    t0 = time.time()
    proc = subprocess.run([sys.executable, __file__, "--repeats", str(args.repeats), "--child", str(path),
                           repr(t0)], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return proc.returncode
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    report = {
        "tool": "medws",
        "shape_zyx": list(shape),
        **child,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    if args.napari:
        report["napari_2d"] = _run_napari(args.napari, path, args.repeats)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
