"""Benchmark: MedWS surface update vs the classic flying-edges path vs the bare SurfaceNets floor.

A 300×512×512 uint8 labelmap holds 5 labels, each a union of a few random ellipsoids (synthetic
blobs), on an anisotropic grid. Three paths run alternately (the order rotates every round) and
the median (and minimum) wall time of each is reported as JSON on stdout:

* ``floor``: one ``vtkSurfaceNets3D`` over all 5 labels with its smoothing on
  (:func:`render.surface_visual.surface_nets`): the least work any SurfaceNets surface update can do.
* ``medws``: the whole update of :class:`render.surface_visual.SegmentSurfaces` after a paint:
  ``mark_dirty`` → ``build_request().run()`` (the occupied z-slab as a zero-copy view, SurfaceNets
  over it, per-segment split with ``vtkSurfaceNetsAtlas``, point normals) → ``attach`` (one actor
  per segment) on a renderer. ``medws_scanned_fraction`` says how much of the grid the slab is.
* ``classic``: ``vtkDiscreteFlyingEdges3D`` (5 values) + ``vtkWindowedSincPolyDataFilter``
  (20 iterations, pass band 0.01, non-manifold smoothing, normalised coordinates: the settings of
  3D Slicer's flying-edges closed-surface path), not even split per segment.

The SMP back-end is STDThread (set by ``render._vtk``); ``threads`` in the JSON says how many it
uses. Goal: ``ratio_medws_over_floor`` ≤ 1.2. On a loaded machine use more ``--rounds`` and
compare the ``*_min`` fields too.

Run: ``.venv/bin/python bench/surface.py [--rounds 7] [--shape 300 512 512]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vtkmodules.vtkCommonCore import vtkSMPTools, vtkVersion  # noqa: E402
from vtkmodules.vtkFiltersCore import vtkWindowedSincPolyDataFilter  # noqa: E402
from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D  # noqa: E402

from app.model import Geometry, LabelTable, LabelVolume, Segment  # noqa: E402
from render._vtk import vtkRenderer  # noqa: E402 - importing render._vtk selects STDThread
from render.label_visual import wrap_label_array  # noqa: E402
from render.surface_visual import SegmentSurfaces, occupied_grid, surface_nets  # noqa: E402

N_LABELS = 5
SPACING_ZYX_MM = (1.25, 0.7, 0.7)


def make_blobs(shape_zyx: tuple[int, int, int], n_labels: int = N_LABELS, seed: int = 0) -> np.ndarray:
    """Return a uint8 labelmap with ``n_labels`` blobs, each 3 overlapping random ellipsoids."""
    rng = np.random.default_rng(seed)
    arr = np.zeros(shape_zyx, np.uint8)
    shape = np.array(shape_zyx)
    for label in range(1, n_labels + 1):
        center = rng.uniform(0.25 * shape, 0.75 * shape)
        for _ in range(3):
            c = center + rng.normal(0, 0.05 * shape)
            r = rng.uniform(0.06, 0.14, 3) * shape
            lo = np.maximum(np.floor(c - r).astype(int), 0)
            hi = np.minimum(np.ceil(c + r).astype(int) + 1, shape)
            z, y, x = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            inside = ((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((x - c[2]) / r[2]) ** 2 < 1.0
            arr[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]][inside] = label
    return arr


def classic(arr: np.ndarray, geometry: Geometry, ids: list[int]) -> int:
    """Discrete flying edges + windowed sinc over every label; return the triangle count."""
    image, _flat = wrap_label_array(arr, geometry)
    edges = vtkDiscreteFlyingEdges3D()
    edges.SetInputData(image)
    edges.SetNumberOfContours(len(ids))
    for i, label_id in enumerate(ids):
        edges.SetValue(i, float(label_id))
    edges.ComputeNormalsOff()
    edges.ComputeGradientsOff()
    edges.ComputeScalarsOn()
    sinc = vtkWindowedSincPolyDataFilter()
    sinc.SetInputConnection(edges.GetOutputPort())
    sinc.SetNumberOfIterations(20)
    sinc.SetPassBand(0.01)
    sinc.BoundarySmoothingOff()
    sinc.FeatureEdgeSmoothingOff()
    sinc.NonManifoldSmoothingOn()
    sinc.NormalizeCoordinatesOn()
    sinc.Update()
    return int(sinc.GetOutput().GetNumberOfCells())


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark and print its JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--shape", type=int, nargs=3, default=(300, 512, 512))
    args = ap.parse_args(argv)
    shape = tuple(args.shape)
    arr = make_blobs(shape)
    geometry = Geometry(shape, SPACING_ZYX_MM, (-180.0, -180.0, -200.0))
    table = LabelTable([Segment(i, f"blob_{i}", (40 * i, 200, 255 - 40 * i)) for i in range(1, N_LABELS + 1)])
    labels = LabelVolume(geometry, table, array=arr)
    ids = [seg.id for seg in table]
    renderer = vtkRenderer()
    surfaces = SegmentSurfaces(renderer, lambda: None)
    surfaces.set_labels(labels)

    counts: dict[str, int] = {}

    def run_floor() -> None:
        counts["floor_triangles"] = int(surface_nets(arr, geometry, ids, smoothing=True).GetNumberOfCells())

    def run_medws() -> None:
        surfaces.mark_dirty()  # what labels.changed does after a paint
        request = surfaces.build_request()
        assert request is not None
        assert surfaces.attach(request.run())
        counts["medws_triangles"] = sum(p.GetNumberOfCells() for p in surfaces.polydata.values())

    def run_classic() -> None:
        counts["classic_triangles"] = classic(arr, geometry, ids)

    paths = {"floor": run_floor, "medws": run_medws, "classic": run_classic}
    times: dict[str, list[float]] = {name: [] for name in paths}
    for fn in paths.values():  # warm-up: first-touch page faults, SMP thread pool start-up
        fn()
    names = list(paths)
    for r in range(args.rounds):
        for name in names[r % 3:] + names[:r % 3]:
            t0 = time.perf_counter()
            paths[name]()
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(t) for name, t in times.items()}
    best = {name: min(t) for name, t in times.items()}  # robust to other load on a shared machine
    surfaces.close()
    result = {
        "benchmark": "surface",
        "shape_zyx": list(shape),
        "spacing_zyx_mm": list(SPACING_ZYX_MM),
        "labels": N_LABELS,
        "voxels_per_label": {int(i): int(c) for i, c in enumerate(np.bincount(arr.ravel())) if i},
        "rounds": args.rounds,
        "smp_backend": vtkSMPTools.GetBackend(),
        "threads": vtkSMPTools.GetEstimatedNumberOfThreads(),
        "cpu_count": os.cpu_count(),
        "vtk": vtkVersion.GetVTKVersion(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "floor_s_median": round(med["floor"], 4),
        "medws_s_median": round(med["medws"], 4),
        "classic_s_median": round(med["classic"], 4),
        "ratio_medws_over_floor": round(med["medws"] / med["floor"], 3),
        "floor_s_min": round(best["floor"], 4),
        "medws_s_min": round(best["medws"], 4),
        "classic_s_min": round(best["classic"], 4),
        "ratio_medws_over_floor_min": round(best["medws"] / best["floor"], 3),
        "medws_scanned_fraction": round(occupied_grid(arr, geometry)[0].size / arr.size, 3),
        "ratio_classic_over_floor": round(med["classic"] / med["floor"], 3),
        "goal_ratio_medws_over_floor": 1.2,
        "times_s": {name: [round(v, 4) for v in t] for name, t in times.items()},
        **counts,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
