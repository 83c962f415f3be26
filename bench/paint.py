"""Benchmark: sphere-brush strokes through MedWS's tool path vs the raw numpy floor.

A radius-10-voxel sphere is dragged over a 300×512×512 uint8 labelmap. The MedWS path is
``PaintTool.press/drag/release`` (masking, clipping, ``LabelVolume.paint`` with its region-diff
undo atom and ``changed`` signal). The floor is a precomputed sphere mask written with
``arr[box][mask] = v`` at the same centres. The two run alternately, stroke by stroke, on two
labelmaps; every dab is timed on its own and medians are reported as JSON on stdout. A stroke's
undo diff is computed in bulk at release (a coalescing transaction), so the JSON also gives the
whole-stroke cost (press + drags + release) per dab and its ratio to the floor.

Optionally napari's ``Labels.paint`` (3D brush, history blocked per stroke like our transaction)
runs in a throwaway interpreter that has napari (never a project dependency), fed the same
strokes over a pipe and alternated with the other two:
``--napari-python /tmp/napari-venv/bin/python``.

GUI part (``--gui``, needs a display: ``xvfb-run -a -s "-screen 0 1600x1200x24"``): a child
interpreter opens the real MedWS main window (2×2 layout, 1400×1000) on a 300×512×512 CT phantom
with an empty labelmap, activates the Paint tool (sphere, radius 10 mm on a 1 mm grid) and sends
mouse press/move/release events to the axial view — the real path: ``SliceToolRouter`` →
``PaintTool`` → ``LabelVolume.paint`` → ``LabelSliceVisual`` → coalesced ``Render()``. Each dab is
timed from sending the mouse event to the end of the axial view's next frame (its render
window's ``EndEvent``). Alternated with every dab, on the same view and canvas, the redraw floor
is a ``Render()`` of the axial view with nothing changed. Strokes stay in one quadrant of the
axial slice, away from the planes the coronal and sagittal views show, so only the painted view
redraws. The goal is a median dab → frame ≤ 1.2× the floor.

Run: ``.venv/bin/python bench/paint.py [--strokes 40] [--events 60] [--napari-python PY] [--gui]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis._brush import sphere_kernel  # noqa: E402
from app.model import Geometry, LabelTable, LabelVolume, Segment  # noqa: E402
from app.tools.base import ViewState  # noqa: E402
from app.tools.paint import PaintParams, PaintTool  # noqa: E402

SHAPE = (300, 512, 512)
RADIUS_VOX = 10


def _strokes(n_strokes: int, n_events: int, step_vox: float, seed: int) -> list[np.ndarray]:
    """Random straight-ish strokes in the axial plane, ``step_vox`` voxels between events."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_strokes):
        start = rng.uniform([20, 40, 40], [SHAPE[0] - 20, SHAPE[1] - 40, SHAPE[2] - 40])
        angle = rng.uniform(0, 2 * np.pi)
        direction = np.array([0.0, np.sin(angle), np.cos(angle)])
        pts = start + np.arange(n_events)[:, None] * step_vox * direction
        pts = np.clip(pts, RADIUS_VOX, np.array(SHAPE) - 1 - RADIUS_VOX)  # the floor does not clip
        out.append(np.rint(pts).astype(int))
    return out


def _numpy_stroke(arr: np.ndarray, kernel: np.ndarray, pts: np.ndarray, value: int) -> list[float]:
    h = RADIUS_VOX
    times = []
    for z, y, x in pts:
        t0 = time.perf_counter_ns()
        arr[z - h:z + h + 1, y - h:y + h + 1, x - h:x + h + 1][kernel] = value
        times.append((time.perf_counter_ns() - t0) / 1e3)
    return times


def _medws_stroke(tool: PaintTool, view: ViewState, pts: np.ndarray) -> tuple[list[float], float]:
    times = []
    t0 = time.perf_counter_ns()
    tool.press(view, tuple(pts[0]))
    times.append((time.perf_counter_ns() - t0) / 1e3)
    for p in pts[1:-1]:
        t0 = time.perf_counter_ns()
        tool.drag(view, tuple(p))
        times.append((time.perf_counter_ns() - t0) / 1e3)
    t0 = time.perf_counter_ns()
    tool.release(view, tuple(pts[-1]))
    release_us = (time.perf_counter_ns() - t0) / 1e3
    return times, release_us


_NAPARI_WORKER = r"""
import json, sys, time
import numpy as np
from napari.layers import Labels
shape, radius = json.loads(sys.stdin.readline())
layer = Labels(np.zeros(shape, np.uint8))
layer.data.fill(0)
layer.brush_size = 2 * radius  # napari's brush size is a diameter
layer.n_edit_dimensions = 3
print(json.dumps({"napari": __import__("napari").__version__}), flush=True)
for line in sys.stdin:
    pts, value = json.loads(line)
    times = []
    with layer.block_history():  # one undo step per stroke, as MedWS's transaction
        for p in pts:
            t0 = time.perf_counter_ns()
            layer.paint(p, value, refresh=False)
            times.append((time.perf_counter_ns() - t0) / 1e3)
    print(json.dumps(times), flush=True)
"""


class _Napari:
    """A napari process painting the strokes it is sent (stdin/stdout JSON lines)."""

    def __init__(self, python: str) -> None:
        self.proc = subprocess.Popen([python, "-c", _NAPARI_WORKER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write(json.dumps([SHAPE, RADIUS_VOX]) + "\n")
        self.proc.stdin.flush()
        self.version = json.loads(self.proc.stdout.readline())["napari"]

    def stroke(self, pts: np.ndarray, value: int) -> list[float]:
        self.proc.stdin.write(json.dumps([pts.tolist(), value]) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


GUI_STROKES = 12
GUI_EVENTS = 30


def _gui_child(n_strokes: int, n_events: int) -> dict:
    """Stroke → frame in the real main window (runs in a child interpreter with a display)."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent  # noqa: TID251 - a GUI benchmark sends real mouse events
    from PySide6.QtWidgets import QApplication  # noqa: TID251 - a GUI benchmark drives widgets

    from analysis.phantom import make_ct_phantom
    from app.model import ImageVolume, Session
    from render.orientation import ViewKind
    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(["bench-paint"])
    ct, _, _ = make_ct_phantom(SHAPE, (1.0, 1.0, 1.0))
    image = ImageVolume(ct, Geometry(SHAPE), "CT")
    window = MainWindow(Session(), interactive=False, mapper_kind="cpu")
    window.resize(1400, 1000)
    window.show()
    window.session.add_image(image)
    for _ in range(50):
        app.processEvents()
        time.sleep(0.01)
    labels = window.session.new_segmentation()
    labels.table.new_segment()
    controller = window.segment_editor.controller
    controller.set_labels(labels)
    controller.set_label_id(1)
    controller.set_tool("paint")
    tool = controller.active_tool
    tool.params.radius_mm = float(RADIUS_VOX)
    tool.params.sphere = True
    view = window.grid.slice_views[ViewKind.AXIAL]
    z = SHAPE[0] // 2
    view.set_slice_index(z)
    rw = view.GetRenderWindow()
    frames: list[int] = []
    rw.AddObserver("EndEvent", lambda *_: frames.append(time.perf_counter_ns()))
    for _ in range(20):
        app.processEvents()
    rw.Render()
    others = [v for k, v in window.grid.slice_views.items() if k != ViewKind.AXIAL]
    other_counts = [v.render_count for v in others]

    def qt_xy(zyx):
        ratio = view.devicePixelRatioF()
        dx, dy = view.scene.lps_to_display(labels.geometry.index_zyx_to_lps(np.asarray(zyx, float)))
        return QPointF(dx / ratio, view.height() - 1 - dy / ratio)

    def send(kind, zyx, button, buttons, wait=True):
        local = qt_xy(zyx)
        event = QMouseEvent(kind, local, QPointF(view.mapToGlobal(local.toPoint())), button, buttons,
                            Qt.KeyboardModifier.NoModifier)
        t0 = time.perf_counter_ns()
        n = len(frames)
        QApplication.sendEvent(view, event)
        if not wait:
            for _ in range(5):
                app.processEvents()
            return 0.0
        deadline = t0 + 5e9
        while len(frames) == n:  # the coalesced render runs when control returns to the loop
            app.processEvents()
            if time.perf_counter_ns() > deadline:
                raise RuntimeError(f"no frame 5 s after a {kind.name} at {zyx}")
        return (frames[n] - t0) / 1e6

    def floor():
        t0 = time.perf_counter_ns()
        rw.Render()
        return (time.perf_counter_ns() - t0) / 1e6

    rng = np.random.default_rng(1)
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    dab_ms: list[float] = []
    floor_ms: list[float] = []
    for _ in range(n_strokes):
        # one quadrant (y, x in 40..216): clear of the coronal/sagittal planes at 256
        start = rng.uniform([40, 40], [120, 120])
        angle = rng.uniform(0, np.pi / 2)
        pts = start + np.arange(n_events)[:, None] * 2.0 * np.array([np.sin(angle), np.cos(angle)])
        pts = np.rint(np.clip(pts, 40, 216)).astype(int)
        for i, (y, x) in enumerate(pts):
            floor_ms.append(floor())
            if i == 0:
                dab_ms.append(send(QEvent.Type.MouseButtonPress, (z, y, x), left, left))
            else:
                dab_ms.append(send(QEvent.Type.MouseMove, (z, y, x), none, left))
        send(QEvent.Type.MouseButtonRelease, (z, *pts[-1]), left, none, wait=False)
    painted = int((labels.array == 1).sum())
    other_renders = sum(v.render_count - c for v, c in zip(others, other_counts, strict=True))
    size = rw.GetSize()
    window.close()
    med_dab, med_floor = statistics.median(dab_ms), statistics.median(floor_ms)
    return {
        "view": "axial", "canvas_px": [int(size[0]), int(size[1])], "layout": "2x2",
        "image_shape_zyx": list(SHAPE), "brush": f"sphere radius {RADIUS_VOX} mm, 1 mm grid",
        "dabs": len(dab_ms), "voxels_painted": painted, "other_slice_view_renders": other_renders,
        "stroke_to_frame_ms_median": round(med_dab, 2),
        "stroke_to_frame_ms_p90": round(float(np.percentile(dab_ms, 90)), 2),
        "redraw_floor_ms_median": round(med_floor, 2),
        "redraw_floor_ms_p90": round(float(np.percentile(floor_ms, 90)), 2),
        "ratio_stroke_to_frame_over_floor": round(med_dab / med_floor, 3),
        "goal_ratio": 1.2,
        "opengl": os.environ.get("DISPLAY", ""),
    }


def gui_stroke_to_frame(n_strokes: int = GUI_STROKES, n_events: int = GUI_EVENTS) -> dict:
    """Run :func:`_gui_child` in a fresh interpreter (Qt stays out of this one); its JSON dict."""
    out = subprocess.run([sys.executable, __file__, "--gui-child", str(n_strokes), str(n_events)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"GUI benchmark failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark and print its JSON summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strokes", type=int, default=40)
    ap.add_argument("--events", type=int, default=60)
    ap.add_argument("--step", type=float, default=2.0, help="voxels between mouse events")
    ap.add_argument("--napari-python", default=None, help="interpreter with napari installed (optional)")
    ap.add_argument("--gui", action="store_true", help="also time stroke → frame in the main window (display)")
    ap.add_argument("--gui-strokes", type=int, default=GUI_STROKES)
    ap.add_argument("--gui-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.gui_child:
        result = _gui_child(*args.gui_child)
        print(json.dumps(result))
        return result

    geometry = Geometry(SHAPE)
    labels = LabelVolume(geometry, LabelTable([Segment(1, "a", (255, 0, 0)), Segment(2, "b", (0, 255, 0))]))
    floor = np.zeros(SHAPE, np.uint8)
    view = ViewState(labels, None, label_id=1, axis=0)
    tool = PaintTool(PaintParams(radius_mm=float(RADIUS_VOX), sphere=True))
    kernel = np.ascontiguousarray(sphere_kernel(RADIUS_VOX, (1.0, 1.0, 1.0)))
    strokes = _strokes(args.strokes, args.events, args.step, seed=0)
    labels.array.fill(0)  # fault every page in up front, for both arrays alike
    floor.fill(0)

    napari = _Napari(args.napari_python) if args.napari_python else None
    napari_us: list[float] = []
    # warm-up (kernel cache, first-touch page faults) on every path
    for pts in strokes[:2]:
        _medws_stroke(tool, view, pts)
        _numpy_stroke(floor, kernel, pts, 1)
        if napari:
            napari.stroke(pts, 1)

    medws_us: list[float] = []
    numpy_us: list[float] = []
    release_us: list[float] = []
    stroke_ratio: list[float] = []
    stroke_us_per_dab: list[float] = []
    for i, pts in enumerate(strokes):
        value = 1 + (i % 2)  # alternate labels so every stroke really changes voxels
        view.label_id = value
        if i % 2 == 0:
            t, r = _medws_stroke(tool, view, pts)
            n = _numpy_stroke(floor, kernel, pts, value)
        else:
            n = _numpy_stroke(floor, kernel, pts, value)
            t, r = _medws_stroke(tool, view, pts)
        if napari:
            napari_us += napari.stroke(pts, value)
        medws_us += t
        numpy_us += n
        release_us.append(r)
        stroke_ratio.append((sum(t) + r) / sum(n))
        stroke_us_per_dab.append((sum(t) + r) / len(t))

    med_medws = statistics.median(medws_us)
    med_numpy = statistics.median(numpy_us)
    result = {
        "bench": "paint",
        "shape_zyx": list(SHAPE),
        "dtype": "uint8",
        "radius_vox": RADIUS_VOX,
        "kernel_voxels": int(kernel.sum()),
        "strokes": args.strokes,
        "events_per_stroke": args.events,
        "step_vox": args.step,
        "dabs": len(medws_us),
        "medws_us_per_dab_median": round(med_medws, 2),
        "medws_us_per_dab_p90": round(float(np.percentile(medws_us, 90)), 2),
        "medws_release_us_median": round(statistics.median(release_us), 2),
        "medws_us_per_dab_incl_release_median_stroke": round(statistics.median(stroke_us_per_dab), 2),
        "numpy_floor_us_per_dab_median": round(med_numpy, 2),
        "ratio_medws_over_numpy": round(med_medws / med_numpy, 2),
        "ratio_whole_stroke_incl_release_median": round(statistics.median(stroke_ratio), 2),
        "goal_ratio": 3.0,
        "undo_steps": len(labels.history.titles()),
        "undo_bytes": labels.history.nbytes,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
    }
    if args.gui:
        result["gui"] = gui_stroke_to_frame(args.gui_strokes)
    if napari:
        napari.close()
        result["napari"] = napari.version
        result["napari_us_per_dab_median"] = round(statistics.median(napari_us), 2)
        result["ratio_napari_over_numpy"] = round(statistics.median(napari_us) / med_numpy, 2)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
