"""Benchmark: Grow from seeds (GrowCut class) on the lung1 CT sample — first growth vs incremental update.

Seeds as a user would paint them on the pyradiomics ``lung1`` CT (512×512×48, 0.57×0.57×5 mm):
label 1 inside the tumour (the reference label's voxels within 5 px of its centre on its three
slices) and label 2 a ring 28–30 px around it on five slices. Through ``GrowSeedsTool.update``
(the tool path of the GUI preview): the first growth from scratch, then ``--repeats`` updates
that each add one short seed stroke (alternating labels, inside the working box), each timed and
compared with a fresh tool's result on the same seeds (must be identical). Dice of label 1 against
the reference tumour label is reported for the first and last growth. JSON on stdout.

Run: ``.venv/bin/python bench/grow_seeds.py [--repeats 10]`` (needs ``medws samples fetch``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.io.samples import sample_path  # noqa: E402
from app.model import Geometry, ImageVolume, LabelTable, LabelVolume, Segment  # noqa: E402
from app.tools.base import ViewState  # noqa: E402
from app.tools.grow_seeds import GrowSeedsTool  # noqa: E402


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(1, a.sum() + b.sum()))


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark and print its JSON summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args(argv)
    image_path = sample_path("lung1")
    img = sitk.GetArrayFromImage(sitk.ReadImage(str(image_path))).astype(np.int16)
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(image_path).replace("_image", "_label"))).astype(bool)
    spacing = tuple(float(s) for s in sitk.ReadImage(str(image_path)).GetSpacing()[::-1])
    geometry = Geometry(img.shape, spacing)
    image = ImageVolume(img, geometry, "CT")
    table = LabelTable([Segment(1, "tumour", (255, 0, 0)), Segment(2, "background", (0, 0, 255))])
    labels = LabelVolume(geometry, table)
    cz, cy, cx = np.argwhere(ref).mean(axis=0).round().astype(int)
    yy, xx = np.indices(img.shape[1:])
    r = np.hypot(yy - cy, xx - cx)
    zs = np.flatnonzero(ref.any(axis=(1, 2)))
    for z in zs:
        labels.array[z][ref[z] & (r < 5)] = 1
    for z in range(zs[0] - 2, zs[-1] + 3):
        labels.array[z][(r > 28) & (r < 30)] = 2
    view = ViewState(labels, image, label_id=1)
    tool = GrowSeedsTool()

    def grown_mask(result) -> np.ndarray:
        full = labels.array.copy()
        full[result.box][result.mask] = np.asarray(result.values)[result.mask]
        return full == 1

    t0 = time.perf_counter()
    first = tool.update(view)
    first_s = time.perf_counter() - t0
    box = first.box
    dice_first = _dice(grown_mask(first), ref)
    rng = np.random.default_rng(0)
    update_ms, identical = [], True
    last = first
    for i in range(args.repeats):
        label = 1 + i % 2
        z = int(rng.integers(zs[0], zs[-1] + 1))
        radius = rng.uniform(8, 12) if label == 1 else rng.uniform(18, 24)
        angle = rng.uniform(0, 2 * np.pi)
        y0, x0 = cy + radius * np.sin(angle), cx + radius * np.cos(angle)
        for t in np.linspace(0, 3, 7):  # a short stroke
            y, x = int(round(y0 + t * np.cos(angle))), int(round(x0 - t * np.sin(angle)))
            if ref[z, y, x] == (label == 1) and labels.array[z, y, x] == 0:
                labels.array[z, y, x] = label
        t0 = time.perf_counter()
        last = tool.update(view)
        update_ms.append((time.perf_counter() - t0) * 1e3)
        fresh = GrowSeedsTool().update(view)
        identical &= bool(tool.last_incremental and last.box == fresh.box
                          and np.array_equal(np.asarray(last.values), np.asarray(fresh.values)))
    result = {
        "bench": "grow_seeds",
        "sample": "lung1",
        "shape_zyx": list(img.shape),
        "spacing_zyx_mm": [round(s, 4) for s in spacing],
        "working_box_voxels": int(np.prod([b.stop - b.start for b in box])),
        "first_growth_s": round(first_s, 3),
        "update_ms_median": round(statistics.median(update_ms), 2) if update_ms else None,
        "update_ms_max": round(max(update_ms), 2) if update_ms else None,
        "updates": len(update_ms),
        "updates_incremental_and_identical_to_recompute": identical,
        "dice_tumour_first": round(dice_first, 3),
        "dice_tumour_last": round(_dice(grown_mask(last), ref), 3),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
