"""Heavy parts of the segment-editing tools: pure functions on numpy arrays.

Arrays are ``(z, y, x)``; sizes are in millimetres with ``spacing_zyx_mm``; masks are boolean.
Any thread may call every function (none keeps state); progress and cancel go through ``ctx``.
Results are new arrays the caller owns. Functions that only need a neighbourhood of a mask work
on its bounding box (plus the margin the operation needs), never on the whole volume.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from analysis._sitk import from_sitk, run_filter, to_sitk
from analysis._task import NULL_CONTEXT, TaskContext
from analysis.classical import largest_components
from analysis.contour_interpolation import interpolate_slices_morphological

Box = tuple[slice, slice, slice]
Spacing = Sequence[float]


# ------------------------------------------------------------------ boxes
def mask_box(mask: np.ndarray, pad_zyx: Sequence[int] = (0, 0, 0)) -> Box | None:
    """Bounding box (``zyx`` slices) of the True voxels, grown by ``pad_zyx`` and clipped; None if empty."""
    box = []
    for ax in range(mask.ndim):
        prof = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != ax)))
        if not prof.size:
            return None
        pad = int(pad_zyx[ax])
        box.append(slice(max(0, int(prof[0]) - pad), min(mask.shape[ax], int(prof[-1]) + 1 + pad)))
    return tuple(box)  # type: ignore[return-value]


def radius_vox(radius_mm: float, spacing_zyx_mm: Spacing) -> tuple[int, int, int]:
    """Return ``ceil(radius_mm / spacing)`` per ``zyx`` axis (voxels a ball of that radius reaches)."""
    return tuple(int(math.ceil(radius_mm / float(s) - 1e-9)) for s in spacing_zyx_mm)  # type: ignore[return-value]


def mask_to_sitk_u8(mask: np.ndarray, spacing_zyx_mm: Spacing) -> sitk.Image:
    return to_sitk(mask.astype(np.uint8, copy=False), spacing_zyx_mm)


# --------------------------------------------------------------- threshold
def threshold_mask(image: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """Return ``lower <= image <= upper`` (image units, e.g. HU)."""
    return (image >= lower) & (image <= upper)


def auto_threshold_range(image: np.ndarray, method: str = "otsu", *, lower_percentile: float = 5.0,
                         upper_percentile: float = 95.0, bright: bool = True,
                         max_samples: int = 2_000_000) -> tuple[float, float]:
    """Suggest a threshold range in image units.

    Parameters
    ----------
    method
        ``"otsu"``: Otsu's threshold to the image maximum (``bright``) or minimum to Otsu;
        ``"percentile"``: the ``lower_percentile`` … ``upper_percentile`` range.
    max_samples
        The histogram is computed on a regular subsample of at most this many voxels.
    """
    flat = image.reshape(-1)
    sample = flat[:: max(1, flat.size // max_samples)]
    lo, hi = float(sample.min()), float(sample.max())
    if method == "percentile":
        p_lo, p_hi = np.percentile(sample, [lower_percentile, upper_percentile])
        return float(p_lo), float(p_hi)
    if method != "otsu":
        raise ValueError(f"unknown auto-threshold method {method!r}")
    f = sitk.OtsuThresholdImageFilter()
    f.SetNumberOfHistogramBins(256)
    f.Execute(sitk.GetImageFromArray(sample.astype(np.float32)[None, None, :]))
    t = float(f.GetThreshold())
    return (t, hi) if bright else (lo, t)


# ---------------------------------------------------- seeded / click fills
def connected_threshold(image: np.ndarray, seed_zyx: Sequence[int], lower: float, upper: float, *,
                        fully_connected: bool = False) -> np.ndarray:
    """Region of voxels in ``[lower, upper]`` connected to the seed (2D or 3D ``image``).

    ``seed_zyx`` has one index per image axis. Returns an empty mask when the seed is out of range.
    Face connectivity by default (so thin gaps stop the fill), ``fully_connected`` for 8/26.
    """
    seed = tuple(int(v) for v in seed_zyx)
    if not lower <= float(image[seed]) <= upper:
        return np.zeros(image.shape, bool)
    # threshold + multi-threaded component labelling: ~7x faster than ITK's single-threaded
    # ConnectedThreshold on 512x512x300 (0.7 s vs 4.7 s measured here)
    inside = (image >= lower) & (image <= upper)
    cc = sitk.ConnectedComponent(sitk.GetImageFromArray(inside.view(np.uint8)), bool(fully_connected))
    labels = sitk.GetArrayViewFromImage(cc)
    return labels == labels[seed]


def flood_fill(image: np.ndarray, seed_zyx: Sequence[int], tolerance: float, *,
               fully_connected: bool = False) -> np.ndarray:
    """Connected region within ``± tolerance`` (image units) of the seed value."""
    value = float(image[tuple(int(v) for v in seed_zyx)])
    return connected_threshold(image, seed_zyx, value - tolerance, value + tolerance,
                               fully_connected=fully_connected)


def level_trace_2d(slice_2d: np.ndarray, seed_rc: Sequence[int]) -> np.ndarray:
    """Region inside the iso-contour through the clicked pixel (Slicer's level tracing).

    The level is the seed's value; the region is the 4-connected set of pixels on the seed's
    side of that level (``>= level`` when the seed's neighbourhood is mostly darker, else
    ``<= level``), with its holes filled so the result is what the traced contour encloses.
    """
    seed = (int(seed_rc[0]), int(seed_rc[1]))
    level = float(slice_2d[seed])
    r0, c0 = max(0, seed[0] - 1), max(0, seed[1] - 1)
    neighbourhood = slice_2d[r0:seed[0] + 2, c0:seed[1] + 2]
    bright = float(np.median(neighbourhood)) <= level
    inside = slice_2d >= level if bright else slice_2d <= level
    region = connected_threshold(inside.astype(np.uint8), seed, 1, 1)
    return from_sitk(sitk.BinaryFillhole(sitk.GetImageFromArray(region.astype(np.uint8)))) > 0


def seeds_box(seeds: np.ndarray, margin_fraction: float = 0.15) -> Box | None:
    """Bounding box of the seeds grown by ``margin_fraction`` of its size per side (None if no seed)."""
    box = mask_box(seeds != 0)
    if box is None:
        return None
    return tuple(slice(max(0, b.start - int(math.ceil(margin_fraction * (b.stop - b.start)))),
                       min(n, b.stop + int(math.ceil(margin_fraction * (b.stop - b.start)))))
                 for b, n in zip(box, seeds.shape, strict=True))  # type: ignore[return-value]


def edge_image(image: np.ndarray, spacing_zyx_mm: Spacing, *, sigma_mm: float = 1.0,
               ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Gradient magnitude (Gaussian derivative, sigma in mm) quantised to 256 levels (uint8).

    The top level is the 99.5th percentile of the gradient. Quantising makes the marker
    watershed of :func:`watershed_from_seeds` about 15x faster than on float gradients (2.6 s vs
    44 s on a 10 M-voxel noisy CT phantom, measured here) with the same segmentation.
    """
    f = sitk.GradientMagnitudeRecursiveGaussianImageFilter()
    f.SetSigma(float(sigma_mm))
    img = to_sitk(np.asarray(image, np.float32), spacing_zyx_mm)
    grad_image = run_filter(f, ctx, lambda: f.Execute(img), message="gradient")
    grad = sitk.GetArrayViewFromImage(grad_image)  # a view: ``grad_image`` must outlive it
    flat = grad.reshape(-1)
    top = float(np.percentile(flat[:: max(1, flat.size // 1_000_000)], 99.5)) or 1.0
    return np.clip(grad * (255.0 / top), 0, 255).astype(np.uint8)


def watershed_from_seeds(edges: np.ndarray, seeds: np.ndarray, spacing_zyx_mm: Spacing, *,
                         ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Marker watershed: every voxel takes the label of the seed region that floods it first.

    ``edges`` (e.g. from :func:`edge_image`) and ``seeds`` share one shape; seeds are kept as is.
    Returns labels of ``seeds``' dtype.
    """
    ws = sitk.MorphologicalWatershedFromMarkersImageFilter()
    ws.SetMarkWatershedLine(False)
    ws.SetFullyConnected(False)
    markers = to_sitk(seeds.astype(np.uint16, copy=False), spacing_zyx_mm)
    out = run_filter(ws, ctx, lambda: ws.Execute(to_sitk(edges, spacing_zyx_mm), markers), message="watershed")
    grown = from_sitk(out).astype(seeds.dtype)
    np.copyto(grown, seeds, where=seeds != 0)
    return grown


def grow_from_seeds(image: np.ndarray, seeds: np.ndarray, spacing_zyx_mm: Spacing, *,
                    sigma_mm: float = 1.0, margin_fraction: float = 0.15,
                    ctx: TaskContext = NULL_CONTEXT) -> tuple[Box, np.ndarray] | None:
    """Multi-label seeded region growing: every unlabeled voxel joins the seed label it reaches first.

    Marker-controlled watershed on the quantised gradient magnitude (:func:`edge_image`,
    :func:`watershed_from_seeds`), in :func:`seeds_box` (Slicer's grow-from-seeds works in the
    same kind of box). Needs at least two labels (e.g. a structure and its background).
    Re-running with more seeds refines the result; callers that re-run often can keep the edge
    image of the box (see ``GrowSeedsTool``).

    Returns ``(box_zyx, labels)`` — the box and the grown labels inside it, seeds unchanged —
    or None when there are fewer than two seed labels.
    """
    if np.count_nonzero(np.bincount(seeds.ravel())[1:]) < 2:  # bincount: no sort of the volume
        return None
    box = seeds_box(seeds, margin_fraction)
    assert box is not None
    ctx.step(0.0, "grow from seeds: edges")
    edges = edge_image(image[box], spacing_zyx_mm, sigma_mm=sigma_mm, ctx=ctx)
    ctx.step(0.5, "grow from seeds: watershed")
    return box, watershed_from_seeds(edges, seeds[box], spacing_zyx_mm, ctx=ctx)


# ------------------------------------------------------ fill between slices
def _signed_distance_2d(mask_2d: np.ndarray, spacing_rc_mm: Sequence[float]) -> np.ndarray:
    image = sitk.GetImageFromArray(mask_2d.astype(np.uint8))
    image.SetSpacing((float(spacing_rc_mm[1]), float(spacing_rc_mm[0])))
    dist = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False,
                                        useImageSpacing=True)
    return from_sitk(dist)


def interpolate_slices(mask: np.ndarray, axis: int, spacing_zyx_mm: Spacing, *,
                       method: str = "morphological", ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Fill the empty slices between annotated slices of one segment along ``axis``.

    ``method``:

    * ``"morphological"`` (default): morphological contour interpolation (Albu et al. 2008, what
      ITK's ``MorphologicalContourInterpolator`` and Slicer's "Fill between slices" do), see
      :mod:`analysis.contour_interpolation`: shapes morph through their morphological median,
      shapes that do not overlap travel, a component that splits stays connected;
    * ``"distance"``: the in-plane signed distance maps (mm) of the two nearest annotated slices
      blended linearly by position and thresholded at 0 (shape-based interpolation).

    Both turn two equal discs into a cylinder. Slices outside the first and last annotated ones,
    and annotated slices themselves, are never changed. Returns the filled mask (a new array,
    ``mask`` plus the interpolated voxels).
    """
    if method == "morphological":
        return interpolate_slices_morphological(mask, axis, ctx=ctx)
    if method != "distance":
        raise ValueError(f"unknown interpolation method {method!r}")
    out = mask.astype(bool, copy=True)
    moved = np.moveaxis(out, axis, 0)  # view: writes go to ``out``
    keys = np.flatnonzero(moved.reshape(moved.shape[0], -1).any(axis=1))
    spacing_rc = [s for a, s in enumerate(spacing_zyx_mm) if a != axis]
    box2d = mask_box(moved[keys].any(axis=0)) if keys.size else None
    if box2d is None:
        return out
    # work in the 2D bounding box of all key slices, padded so the distance maps see background
    pad = 2
    r = slice(max(0, box2d[0].start - pad), min(moved.shape[1], box2d[0].stop + pad))
    c = slice(max(0, box2d[1].start - pad), min(moved.shape[2], box2d[1].stop + pad))
    cache: dict[int, np.ndarray] = {}
    for k1, k2 in zip(keys[:-1], keys[1:], strict=True):
        if k2 - k1 < 2:
            continue
        for k in (k1, k2):
            if k not in cache:
                cache[k] = _signed_distance_2d(moved[k, r, c], spacing_rc)
        for k in range(k1 + 1, k2):
            t = (k - k1) / (k2 - k1)
            moved[k, r, c] = ((1 - t) * cache[k1] + t * cache[k2]) <= 0
    return out


# ---------------------------------------------------------------- islands
def connected_components(mask: np.ndarray, *, fully_connected: bool = True,
                         min_voxels: int = 0) -> np.ndarray:
    """Label the components of ``mask`` 1..n, largest first; those below ``min_voxels`` get 0."""
    cc = sitk.ConnectedComponent(mask_to_sitk_u8(mask, (1, 1, 1)), fully_connected)
    return from_sitk(sitk.RelabelComponent(cc, sortByObjectSize=True, minimumObjectSize=int(min_voxels)))


def keep_largest_island(mask: np.ndarray) -> np.ndarray:
    """Keep only the largest 26-connected component (boolean)."""
    return largest_components(mask, 1).astype(bool)


def remove_small_islands(mask: np.ndarray, min_voxels: int) -> np.ndarray:
    """Drop 26-connected components with fewer than ``min_voxels`` voxels (boolean)."""
    return connected_components(mask, min_voxels=min_voxels) > 0


def island_at(mask: np.ndarray, seed_zyx: Sequence[int]) -> np.ndarray:
    """The 26-connected component of ``mask`` containing the seed (empty when it is background)."""
    seed = tuple(int(v) for v in seed_zyx)
    if not mask[seed]:
        return np.zeros(mask.shape, bool)
    cc = connected_components(mask)
    return cc == cc[seed]


# -------------------------------------------------------------- statistics
@dataclass(frozen=True)
class SegmentStats:
    """Statistics of one label.

    ``volume_ml`` uses the voxel volume from the spacing (1 mL = 1000 mm³); ``mean``/``std`` are in
    image units (None without an image); ``box_zyx`` is the inclusive-exclusive voxel bounding box.
    """

    label_id: int
    voxel_count: int
    volume_ml: float
    mean: float | None
    std: float | None
    box_zyx: tuple[slice, slice, slice]


def segment_statistics(labels_arr: np.ndarray, image_arr: np.ndarray | None,
                       spacing_zyx_mm: Spacing) -> dict[int, SegmentStats]:
    """Per-label voxel count, volume (mL), mean/SD intensity and bounding box (label 0 excluded)."""
    voxel_ml = float(np.prod([float(s) for s in spacing_zyx_mm])) / 1000.0
    box = mask_box(labels_arr != 0)
    if box is None:
        return {}
    sub = np.ascontiguousarray(labels_arr[box]).reshape(-1)
    counts = np.bincount(sub)
    sums = sq = None
    if image_arr is not None:
        values = np.asarray(image_arr[box], np.float64).reshape(-1)
        sums = np.bincount(sub, weights=values, minlength=counts.size)
        sq = np.bincount(sub, weights=values * values, minlength=counts.size)
    sub3 = sub.reshape(tuple(b.stop - b.start for b in box))
    out: dict[int, SegmentStats] = {}
    for label in np.flatnonzero(counts):
        if label == 0:
            continue
        n = int(counts[label])
        mean = std = None
        if sums is not None and sq is not None:
            mean = float(sums[label] / n)
            # sample standard deviation (n - 1), as ITK's LabelStatistics and Slicer report
            std = float(np.sqrt(max(0.0, (sq[label] - n * mean * mean) / (n - 1)))) if n > 1 else 0.0
        local = mask_box(sub3 == label)
        assert local is not None
        seg_box = tuple(slice(b.start + l.start, b.start + l.stop) for b, l in zip(box, local, strict=True))
        out[int(label)] = SegmentStats(int(label), n, n * voxel_ml, mean, std, seg_box)  # type: ignore[arg-type]
    return out
