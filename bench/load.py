"""Benchmark: MedWS DICOM loading (scan + read) against SimpleITK's ImageSeriesReader.

Usage::

    .venv/bin/python bench/load.py                 # 512x512x300 CT phantom, cached after the first run
    .venv/bin/python bench/load.py --series DIR    # any DICOM series folder
    .venv/bin/python bench/load.py --runs 7 --syntax rle

Each measurement runs in a fresh Python process, so peak RSS (``VmHWM``) is per reader. Time
excludes interpreter start-up and imports; the RSS baseline is taken after the imports. The files
are read once beforehand so both readers start from a warm page cache. Runs alternate between the
two readers. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPE_ZYX = (300, 512, 512)


def _maxrss_bytes() -> int:
    """Peak resident set of this process (VmHWM: reset at exec, unlike ru_maxrss after fork)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _phantom(shape_zyx: tuple[int, int, int]):
    """A body-like CT in HU: air, ellipse of soft tissue with lungs, spine, bone ring, noise."""
    import numpy as np

    rng = np.random.default_rng(2024)
    nz, ny, nx = shape_zyx
    y, x = np.mgrid[:ny, :nx].astype(np.float32)
    cy, cx = (ny - 1) / 2, (nx - 1) / 2
    body = ((y - cy) / (0.38 * ny)) ** 2 + ((x - cx) / (0.46 * nx)) ** 2
    out = np.empty(shape_zyx, np.int16)
    for z in range(nz):
        hu = np.full((ny, nx), -1000.0, np.float32)
        hu[body < 1.0] = 40.0
        hu[(body > 0.86) & (body < 0.94)] = 700.0
        lung_r = 0.22 + 0.06 * np.sin(np.pi * z / nz)
        for side in (-1, 1):
            lung = ((y - cy) / (0.26 * ny)) ** 2 + ((x - cx - side * 0.2 * nx) / (lung_r * nx)) ** 2
            hu[lung < 1.0] = -850.0
        spine = ((y - cy - 0.25 * ny) / (0.05 * ny)) ** 2 + ((x - cx) / (0.05 * nx)) ** 2
        hu[spine < 1.0] = 1200.0
        hu += rng.normal(0.0, 12.0, (ny, nx)).astype(np.float32)
        out[z] = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    return out


def ensure_series(cache: Path, syntax: str) -> Path:
    """Write the phantom series into ``cache`` once; return its folder."""
    folder = cache / f"ct-{SHAPE_ZYX[0]}x{SHAPE_ZYX[1]}x{SHAPE_ZYX[2]}-{syntax}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    sys.path.insert(0, str(ROOT))
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless

    from app.io.dicom_write import write_dicom_series
    from app.model.geometry import Geometry

    geometry = Geometry(SHAPE_ZYX, (1.25, 0.78125, 0.78125), (-200.0, -200.0, -350.0))
    ts = {"explicit": ExplicitVRLittleEndian, "rle": RLELossless}[syntax]
    write_dicom_series(
        _phantom(SHAPE_ZYX),
        geometry,
        folder,
        series_description="bench phantom",
        uid_seed="medws-bench",
        window=(400.0, 40.0),
        transfer_syntax=ts,
        file_names="shuffled",
    )
    marker.write_text("ok")
    return folder


# ------------------------------------------------------------------ one measurement per process
def _worker(kind: str, folder: str) -> dict:
    import numpy as np  # part of both baselines

    if kind == "medws":
        sys.path.insert(0, str(ROOT))
        from app.io.dicom_pixels import read_dicom_series
        from app.io.dicom_scan import scan_dicom

        baseline = _maxrss_bytes()
        start = time.perf_counter()
        scan = scan_dicom([folder])
        scanned = time.perf_counter()
        image = read_dicom_series(scan.series[0])
        end = time.perf_counter()
        array = image.array
        extra = {"scan_s": scanned - start, "read_s": end - scanned}
    else:
        import SimpleITK as sitk

        baseline = _maxrss_bytes()
        start = time.perf_counter()
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder))
        array = sitk.GetArrayFromImage(reader.Execute())
        end = time.perf_counter()
        extra = {}
    # Read every page once so pages that live in /dev/shm (decoder-process path) count in the
    # peak RSS like anonymous memory does; not timed.
    int(np.asarray(array).reshape(-1).view(np.uint8)[::4096].sum())
    return {
        "seconds": end - start,
        "dtype": str(array.dtype),
        "shape_zyx": list(array.shape),
        "raw_bytes": int(array.nbytes),
        "baseline_rss": baseline,
        "peak_rss": _maxrss_bytes(),
        **extra,
    }


def _run_worker(kind: str, folder: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", kind, str(folder)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _warm(folder: Path) -> int:
    total = 0
    for path in folder.iterdir():
        if path.is_file():
            total += len(path.read_bytes())
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=Path, help="DICOM series folder (default: generated phantom)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "medws-bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--syntax", choices=["explicit", "rle"], default="explicit")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(*args.worker)))
        return 0
    folder = args.series or ensure_series(args.cache, args.syntax)
    file_bytes = _warm(folder)
    runs: dict[str, list[dict]] = {"medws": [], "sitk": []}
    for _ in range(max(1, args.runs)):
        for kind in ("medws", "sitk"):
            runs[kind].append(_run_worker(kind, folder))

    def summary(kind: str) -> dict:
        rows = runs[kind]
        raw = rows[0]["raw_bytes"]
        peak = max(r["peak_rss"] for r in rows)
        baseline = statistics.median(r["baseline_rss"] for r in rows)
        result = {
            "median_s": round(statistics.median(r["seconds"] for r in rows), 4),
            "all_s": [round(r["seconds"], 4) for r in rows],
            "dtype": rows[0]["dtype"],
            "shape_zyx": rows[0]["shape_zyx"],
            "peak_rss_mb": round(peak / 2**20, 1),
            "baseline_rss_mb": round(baseline / 2**20, 1),
            "peak_rss_over_raw": round(peak / raw, 3),
            "above_baseline_rss_over_raw": round((peak - baseline) / raw, 3),
        }
        if kind == "medws":
            result["median_scan_s"] = round(statistics.median(r["scan_s"] for r in rows), 4)
            result["median_read_s"] = round(statistics.median(r["read_s"] for r in rows), 4)
        return result

    medws, sitk = summary("medws"), summary("sitk")
    report = {
        "series": str(folder),
        "syntax": args.syntax if not args.series else "as found",
        "n_files": sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
        "file_bytes": file_bytes,
        "raw_voxel_bytes": runs["medws"][0]["raw_bytes"],
        "runs": args.runs,
        "cpu_count": os.cpu_count(),
        "medws": medws,
        "sitk": sitk,
        "ratio_medws_over_sitk": round(medws["median_s"] / sitk["median_s"], 3),
        "goals": {
            "ratio<=0.40": medws["median_s"] / sitk["median_s"] <= 0.40,
            "int16": medws["dtype"] == "int16",
            "peak_rss<=1.6x_raw": medws["peak_rss_over_raw"] <= 1.6,
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
