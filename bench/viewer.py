"""Benchmark: MedWS viewer start-up (process start → first frame, CT + label overlay) and slice change.

The parent process writes a 300×512×512 int16 chest phantom and its labelmap once (uncompressed
NIfTI, plus ``.npy`` copies for napari) in a cache folder, then runs fresh child interpreters,
alternating MedWS and napari (``--napari PYTHON``) ``--runs`` times, after one untimed MedWS child
that takes the X server's one-time GLX set-up (the first OpenGL client of a fresh Xvfb pays it). Each
child is timed from just before it is spawned.

MedWS child: the real ``medws view CT --labels LABELS`` start-up (``ui.gui.run_gui``, the same
function the ``medws`` entry point calls), with a hook that only listens:

* ``first_frame_s``: the axial view's render window finished a ``Render()`` that shows the CT and
  the label overlay (:class:`ui.startup.StartupWatcher`, a VTK ``EndEvent``). The frame is then
  checked on screen pixels (``frame_check``: grey CT and label colour in the axial view);
* ``at_first_frame``: what the process had spent by then: resident and anonymous memory, page
  faults, storage reads, user/system CPU, and CPU per thread;
* ``ready_s``: the deferred parts are installed (docks, menus, study index, 3D image);
* ``full_3d_s``: the 3D view has rendered the volume;
* ``settled_s``: the start-up's background jobs (3D label surfaces, thumbnails) are done; the
  per-frame timings below are taken after this, so no background thread competes with them;
* ``redraw_floor_ms``: the axial view's ``Render()`` with nothing changed (``--repeats`` times);
* ``slice_change_ms``: ``set_slice_index`` on ``--repeats`` distinct slices plus the synchronous
  ``Render()`` the coalescing timer would issue; ``slice_change_over_floor`` is the ratio of means.
  Floor and slice-change samples are interleaved (settle render, then floor + slice change or slice
  change + floor, the two orders alternating, then the linked renders), so both see the same machine
  state: a floor measured in a separate second moved 7.6–11.5 ms between runs, and the first render
  after the settle one is ~5 % slower than the next, so a fixed order would favour the second.
  ``redraw_floor_back_to_back_ms`` (100 renders in a row, before) and
  ``slice_change_over_back_to_back_floor`` are reported too;
* ``slice_change_all_views_ms``: the same plus the coalesced renders of the coronal and sagittal
  views, whose crosshair follows the scrolled plane;
* ``peak_rss_mb``: the child's peak resident memory.

napari child: ``add_image`` + ``add_labels`` on the same voxels, canvas fixed to MedWS's axial view
size, then one forced draw (``screenshot(canvas_only=True)``, which adds one read-back per frame)
for the first frame; ``dims.set_current_step`` plus a forced draw per slice; the floor is a forced
draw with nothing changed, alternated with the slice changes.

The JSON gives every run, the medians and the MedWS/napari ratios.

Run (needs a display): ``xvfb-run -a -s "-screen 0 1600x1200x24" .venv/bin/python bench/viewer.py
[--runs 3] [--repeats 100] [--shape 300,512,512] [--napari /tmp/napari-venv/bin/python]``
(``make bench-viewer``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Only what ``medws`` itself imports at start lives up here: the MedWS child runs this file, and its
# start-up is timed. The parent's tools (statistics, subprocess, tempfile, platform) are imported
# where they are used.

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _volume_files(shape_zyx: tuple[int, int, int]) -> tuple[Path, Path]:
    """Write (once) the phantom CT and its labelmap as uncompressed NIfTI (+ .npy); return their paths."""
    import tempfile

    folder = Path(tempfile.gettempdir()) / "medws-bench"
    stem = "phantom_{}x{}x{}".format(*shape_zyx)
    ct_path, labels_path = folder / f"{stem}.nii", folder / f"{stem}_labels.nii"
    if not (ct_path.is_file() and labels_path.is_file()
            and ct_path.with_suffix(".npy").is_file() and labels_path.with_suffix(".npy").is_file()):
        import numpy as np

        from analysis.phantom import make_ct_phantom
        from app.io.volume_files import write_volume
        from app.model.geometry import Geometry

        folder.mkdir(parents=True, exist_ok=True)
        geometry = Geometry(shape_zyx, (1.0, 0.7, 0.7))
        ct, labels, _ = make_ct_phantom(shape_zyx, geometry.spacing_zyx_mm)
        labels = labels.astype(np.uint8)
        for path, array in ((ct_path, ct), (labels_path, labels)):
            write_volume(array, geometry, path, compress=False)
            np.save(path.with_suffix(".npy"), array)
    return ct_path, labels_path


def _stats(times: list[float]) -> dict:
    import statistics

    times = sorted(times)
    return {"mean": round(statistics.fmean(times), 2), "median": round(statistics.median(times), 2),
            "p95": round(times[int(0.95 * (len(times) - 1))], 2), "n": len(times)}


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _costs_so_far() -> dict:
    """What the process has spent up to now (called at the first frame): memory, faults, CPU.

    ``threads``: user and system CPU seconds per thread (``name#tid``, those over 0.02 s). This is
    how slow starts were traced to the loader thread's system time (fresh pages for a read volume
    on a cold VM), which the mapped read removed.
    """
    import glob
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    status_mb = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                status_mb[key] = round(int(value.split()[0]) / 1024, 1)
    ticks = os.sysconf("SC_CLK_TCK")
    threads = {}
    for stat_path in glob.glob("/proc/self/task/*/stat"):
        try:
            with open(stat_path) as stat_file:
                text = stat_file.read()
        except OSError:
            continue  # the thread ended
        name = text[text.index("(") + 1:text.rindex(")")]
        stat = text[text.rindex(")") + 2:].split()
        user_s, system_s = int(stat[11]) / ticks, int(stat[12]) / ticks
        if user_s + system_s > 0.02:
            threads[f"{name}#{stat_path.split('/')[-2]}"] = [round(user_s, 2), round(system_s, 2)]
    with open("/proc/self/io") as io:  # bytes this process caused to be fetched from storage
        read_bytes = next((int(line.split()[1]) for line in io if line.startswith("read_bytes:")), 0)
    return {"rss_mb": status_mb.get("VmRSS"), "anon_rss_mb": status_mb.get("RssAnon"),
            "storage_read_mb": round(read_bytes / 2**20, 1), "minor_faults": usage.ru_minflt,
            "major_faults": usage.ru_majflt, "cpu_user_s": round(usage.ru_utime, 3),
            "cpu_system_s": round(usage.ru_stime, 3), "threads_cpu_user_system_s": threads}


_NAPARI_CHILD = r"""
import sys, time
t0, path, labels_path, repeats = float(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
width, height = int(sys.argv[5]), int(sys.argv[6])
import numpy as np
import napari
viewer = napari.Viewer(show=True)
viewer.window.resize(1400, 950)
viewer.window._qt_viewer.canvas.native.setFixedSize(width, height)
arr = np.load(path)
viewer.add_image(arr, contrast_limits=(-1000, 1000), name="ct")
viewer.add_labels(np.load(labels_path), name="labels", opacity=0.5)
shot = viewer.screenshot(canvas_only=True, flash=False)
first = time.time() - t0
import json, resource, statistics  # the harness's own tools, after the timed start
n = arr.shape[0]
indices = [round(i * (n - 1) / max(1, repeats - 1)) for i in range(repeats)]
def stats(times):
    times = sorted(times)
    return {"mean": round(statistics.fmean(times), 2), "median": round(statistics.median(times), 2),
            "p95": round(times[int(0.95 * (len(times) - 1))], 2), "n": len(times)}
floor, times = [], []
def draw_ms(index=None):
    start = time.perf_counter()
    if index is not None:
        viewer.dims.set_current_step(0, index)
    viewer.screenshot(canvas_only=True, flash=False)
    return (time.perf_counter() - start) * 1000
for k, index in enumerate(indices):  # floor and slice-change samples interleaved, in alternating order, as for MedWS
    if k % 2 == 0:
        floor.append(draw_ms())
    times.append(draw_ms(index))
    if k % 2 == 1:
        floor.append(draw_ms())
print(json.dumps({"first_frame_s": round(first, 3), "redraw_floor_ms": stats(floor), "slice_change_ms": stats(times),
    "slice_change_over_floor": round(statistics.fmean(times) / statistics.fmean(floor), 3),
    "canvas_px": list(shot.shape[1::-1]),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "napari": napari.__version__}))
viewer.close()
"""


def _frame_check(view, labels_rgb: set[tuple[int, int, int]]) -> dict:
    """Read the axial view's pixels: CT grey levels and label-overlay colours must both be there."""
    import numpy as np

    rgb = view.capture().reshape(-1, 3).astype(int)
    grey = rgb[(rgb[:, 0] == rgb[:, 1]) & (rgb[:, 1] == rgb[:, 2])]
    coloured = rgb[(np.abs(rgb[:, 0] - rgb[:, 1]) > 30) | (np.abs(rgb[:, 1] - rgb[:, 2]) > 30)]
    grey_levels = len(np.unique(grey[:, 0]))
    return {"grey_levels": int(grey_levels), "coloured_px": int(len(coloured)),
            "ok": bool(grey_levels > 20 and len(coloured) > 500)}


def _medws_child(ct: str, labels: str, t0: float, repeats: int) -> None:
    """Start the real ``medws view CT --labels LABELS`` and print timings (fresh interpreter)."""
    from app.cli import build_parser  # what ui.main imports first
    from ui.gui import run_gui

    result: dict = {}

    def on_window(window) -> None:
        from render.orientation import ViewKind
        from ui.gui import application

        app = application()
        axial = window.grid.slice_views[ViewKind.AXIAL]
        volume = window.grid.volume_view
        def on_first_frame(t: float) -> None:
            result.setdefault("first_frame_s", round(t - t0, 3))
            result["at_first_frame"] = _costs_so_far()

        window.startup.first_frame.connect(on_first_frame)
        window.startup.ready.connect(lambda t: result.setdefault("ready_s", round(t - t0, 3)))

        def on_3d_end(*_: object) -> None:
            if "full_3d_s" not in result and volume.scene.image is not None:
                result["full_3d_s"] = round(time.time() - t0, 3)
                from PySide6.QtCore import QTimer

                QTimer.singleShot(0, measure)

        volume.GetRenderWindow().AddObserver("EndEvent", on_3d_end)

        def measure() -> None:
            import statistics

            from PySide6.QtCore import QThreadPool

            from app.controllers.jobs import Job

            deadline = time.time() + 120
            while (QThreadPool.globalInstance().activeThreadCount() or Job.running()) and time.time() < deadline:
                app.processEvents()  # background jobs of the start-up (3D label surfaces, thumbnails) finish
                time.sleep(0.01)
            result["settled_s"] = round(time.time() - t0, 3)
            result["frame_check"] = _frame_check(axial, set())
            render = axial.GetRenderWindow().Render
            n = axial.scene.n_slices
            indices = [round(i * (n - 1) / max(1, repeats - 1)) for i in range(repeats)]
            app.processEvents()
            back_to_back, floor, scrolled, linked = [], [], [], []

            def timed_ms(call) -> float:
                start = time.perf_counter()
                call()
                return (time.perf_counter() - start) * 1000

            for _ in indices:
                start = time.perf_counter()
                render()
                back_to_back.append((time.perf_counter() - start) * 1000)
            for k, index in enumerate(indices):  # floor and slice-change samples interleaved: the same machine state
                render()  # settle after the previous linked renders (untimed)
                if k % 2 == 0:  # the two orders alternate: a render right after the settle one is ~5 % slower
                    floor.append(timed_ms(render))
                scrolled.append(timed_ms(lambda index=index: (axial.set_slice_index(index), render())))
                if k % 2 == 1:
                    floor.append(timed_ms(render))
                # + the coalesced renders of the linked coronal/sagittal crosshairs
                linked.append(scrolled[-1] + timed_ms(app.processEvents))
            result["redraw_floor_ms"] = _stats(floor)
            result["redraw_floor_back_to_back_ms"] = _stats(back_to_back)
            result["slice_change_ms"] = _stats(scrolled)
            result["slice_change_over_floor"] = round(statistics.fmean(scrolled) / statistics.fmean(floor), 3)
            result["slice_change_over_back_to_back_floor"] = round(
                statistics.fmean(scrolled) / statistics.fmean(back_to_back), 3)
            result["slice_change_all_views_ms"] = _stats(linked)
            from render.volume_visual import gl_renderer_string

            result["gl_renderer"] = gl_renderer_string(axial.GetRenderWindow())
            result["volume_mapper"] = volume.scene.volume.mapper_kind
            result["view_px"] = list(axial.GetRenderWindow().GetSize())
            result["label_overlays"] = len(axial.label_visuals)
            window.close()
            app.quit()

    args = build_parser().parse_args(["view", ct, "--labels", labels])
    run_gui(args, on_window=on_window)
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))


def _child_env() -> dict[str, str]:
    """The children's environment: bytecode caching on, as for an installed ``medws`` (and napari's wheel)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _spawn(cmd: list[str], cwd: Path | str) -> dict:
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="medws-bench-home-") as home:
        env = _child_env()  # a first start: no settings, study index or session folder from earlier runs
        env.update(MEDWS_DATA_DIR=str(Path(home) / "data"), MEDWS_CONFIG_DIR=str(Path(home) / "config"))
        t0 = time.time()
        proc = subprocess.run([c.replace("{t0}", repr(t0)) for c in cmd], capture_output=True, text=True, cwd=cwd,
                              env=env)
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = proc.stderr.strip().splitlines()
        return {"error": tail[-1] if tail else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(runs: list[dict], *keys: str) -> float | None:
    import statistics

    values = []
    for run in runs:
        value = run
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (int, float)):
            values.append(float(value))
    return round(statistics.median(values), 3) if values else None


def main(argv: list[str] | None = None) -> int:
    """Prepare the volumes, alternate the children, print one JSON object."""
    import platform
    import subprocess
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="300,512,512", help="z,y,x voxels")
    parser.add_argument("--repeats", type=int, default=100, help="distinct slices to time")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per tool (alternated)")
    parser.add_argument("--napari", metavar="PYTHON", help="also time napari with this interpreter")
    parser.add_argument("--child", nargs=3, metavar=("CT", "LABELS", "T0"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _medws_child(args.child[0], args.child[1], float(args.child[2]), args.repeats)
        return 0
    shape = tuple(int(v) for v in args.shape.split(","))
    ct, labels = _volume_files(shape)
    packages = [str(ROOT / name) for name in ("app", "analysis", "render", "ui")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages],  # napari's wheel ships its bytecode too
                   env=_child_env(), check=False, capture_output=True)
    medws_runs: list[dict] = []
    napari_runs: list[dict] = []
    # warm-up, not timed: the first OpenGL client of a freshly started X server waits for the server's
    # own GLX set-up (measured: the first MedWS child 0.86-0.91 s, the next ones 0.52-0.57 s; the first
    # child after a compileall that had work to do, 0.53 s). Without it that cost lands on whichever
    # tool runs first
    _spawn([sys.executable, __file__, "--repeats", "2", "--child", str(ct), str(labels), "{t0}"], ROOT)
    for _ in range(args.runs):
        medws_runs.append(_spawn([sys.executable, __file__, "--repeats", str(args.repeats), "--child",
                                  str(ct), str(labels), "{t0}"], ROOT))
        if args.napari:
            width, height = medws_runs[-1].get("view_px", [407, 424])
            napari_runs.append(_spawn([args.napari, "-c", _NAPARI_CHILD, "{t0}", str(ct.with_suffix(".npy")),
                                       str(labels.with_suffix(".npy")), str(args.repeats), str(width), str(height)],
                                      tempfile.gettempdir()))
    keys = ("first_frame_s", "ready_s", "full_3d_s", "peak_rss_mb", "slice_change_over_floor",
            "slice_change_over_back_to_back_floor")
    report: dict = {
        "bench": "viewer",
        "shape_zyx": list(shape),
        "medws": {"median": {k: _median(medws_runs, k) for k in keys}
                  | {f"{k}_mean": _median(medws_runs, k, "mean") for k in
                     ("redraw_floor_ms", "redraw_floor_back_to_back_ms", "slice_change_ms",
                      "slice_change_all_views_ms")},
                  "runs": medws_runs},
    }
    if args.napari:
        report["napari_2d"] = {
            "median": {k: _median(napari_runs, k) for k in ("first_frame_s", "peak_rss_mb", "slice_change_over_floor")}
            | {f"{k}_mean": _median(napari_runs, k, "mean") for k in ("redraw_floor_ms", "slice_change_ms")},
            "runs": napari_runs}
        m, n = report["medws"]["median"], report["napari_2d"]["median"]
        report["ratios_medws_over_napari"] = {
            "first_frame": round(m["first_frame_s"] / n["first_frame_s"], 3)
            if m["first_frame_s"] and n["first_frame_s"] else None,
            "slice_change": round(m["slice_change_ms_mean"] / n["slice_change_ms_mean"], 3)
            if m["slice_change_ms_mean"] and n["slice_change_ms_mean"] else None,
        }
    report["goals"] = {"first_frame_over_napari": 0.30, "slice_change_over_floor": 1.15}
    report.update(python=platform.python_version(), cpus=os.cpu_count(), load_avg_1min=round(os.getloadavg()[0], 2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
