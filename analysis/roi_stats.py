"""Statistics of a 2-D image slice inside an ellipse or rectangle given in index space (pure numpy).

The region is the axis-aligned rectangle ``[lo_rc, hi_rc]`` of continuous (row, column) indices,
or the ellipse inscribed in it; a pixel belongs to the region when its centre (integer index)
lies inside. Any thread may call these functions; they never write into their inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ROI_SHAPES = ("ellipse", "rectangle")


@dataclass(frozen=True)
class RoiStats:
    """Values inside a region, in the image's units (HU for CT).

    ``sd`` is the population standard deviation (``np.std``, ddof 0). ``area_mm2`` is the area of
    the drawn shape (not of the counted pixels); ``n_pixels`` counts the pixel centres inside.
    With no pixel inside, ``mean``/``sd``/``min``/``max`` are NaN.
    """

    mean: float
    sd: float
    min: float
    max: float
    n_pixels: int
    area_mm2: float


def roi_mask(shape_rc: Sequence[int], lo_rc: Sequence[float], hi_rc: Sequence[float],
             shape: str = "ellipse") -> tuple[tuple[slice, slice], np.ndarray]:
    """Return ``(box, mask)``: the pixels of a ``shape_rc`` slice inside the region, cropped to ``box``.

    Parameters
    ----------
    shape_rc
        (rows, columns) of the slice.
    lo_rc, hi_rc
        Opposite corners of the region's bounding rectangle, continuous (row, column) indices
        (pixel centres at integers); their order does not matter.
    shape
        "ellipse" (inscribed in the rectangle) or "rectangle".
    """
    if shape not in ROI_SHAPES:
        raise ValueError(f"ROI shape must be one of {ROI_SHAPES}, got {shape!r}")
    lo = np.minimum(np.asarray(lo_rc, float), np.asarray(hi_rc, float))
    hi = np.maximum(np.asarray(lo_rc, float), np.asarray(hi_rc, float))
    start = np.clip(np.ceil(lo - 1e-9).astype(int), 0, np.asarray(shape_rc))
    stop = np.clip(np.floor(hi + 1e-9).astype(int) + 1, 0, np.asarray(shape_rc))
    stop = np.maximum(stop, start)
    box = (slice(int(start[0]), int(stop[0])), slice(int(start[1]), int(stop[1])))
    rows = np.arange(start[0], stop[0], dtype=float)[:, None]
    cols = np.arange(start[1], stop[1], dtype=float)[None, :]
    if shape == "rectangle":
        mask = np.ones((rows.size, cols.size), bool)
    else:
        centre = (lo + hi) / 2.0
        radii = np.maximum((hi - lo) / 2.0, 1e-9)
        mask = ((rows - centre[0]) / radii[0]) ** 2 + ((cols - centre[1]) / radii[1]) ** 2 <= 1.0 + 1e-9
    return box, mask


def roi_stats(slice_rc: np.ndarray, lo_rc: Sequence[float], hi_rc: Sequence[float], shape: str = "ellipse",
              pixel_area_mm2: float = 1.0) -> RoiStats:
    """Return mean/SD/min/max of ``slice_rc`` inside the region and its area.

    Parameters
    ----------
    slice_rc
        One 2-D slice, (rows, columns), in image units. Only the region's box is read.
    lo_rc, hi_rc, shape
        See :func:`roi_mask`.
    pixel_area_mm2
        Area of one pixel in mm² (the product of the in-plane spacings for orthogonal grids).
    """
    box, mask = roi_mask(slice_rc.shape, lo_rc, hi_rc, shape)
    values = np.asarray(slice_rc[box])[mask].astype(np.float64)
    extent = np.abs(np.asarray(hi_rc, float) - np.asarray(lo_rc, float))
    area = float(extent[0] * extent[1] * pixel_area_mm2) * (math.pi / 4.0 if shape == "ellipse" else 1.0)
    if values.size == 0:
        nan = float("nan")
        return RoiStats(nan, nan, nan, nan, 0, area)
    return RoiStats(float(values.mean()), float(values.std()), float(values.min()), float(values.max()),
                    int(values.size), area)
