"""Morphology of masks in millimetres: margin (grow/shrink), ball dilation, hollow, smoothing.

Arrays are ``(z, y, x)``; sizes are in millimetres with ``spacing_zyx_mm``; masks are boolean.
Any thread may call every function (none keeps state); progress and cancel go through ``ctx``.
Each works on the mask's bounding box padded by what the operation needs, never the whole volume.
Split out of :mod:`analysis.segment_ops` (which keeps the boxes, fills, islands and statistics).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from analysis._brush import sphere_kernel
from analysis._sitk import from_sitk, run_filter, to_sitk
from analysis._task import NULL_CONTEXT, TaskContext
from analysis.segment_ops import mask_box, mask_to_sitk_u8, radius_vox

Spacing = Sequence[float]

def margin(mask: np.ndarray, distance_mm: float, spacing_zyx_mm: Spacing) -> np.ndarray:
    """Grow (``distance_mm > 0``) or shrink (``< 0``) a mask by a physical distance.

    Grow keeps every voxel whose centre lies within ``distance_mm`` of a mask voxel centre
    (exact Euclidean distance in mm, anisotropic spacing respected); shrink is the same applied
    to the background, so shrink(A, d) = not grow(not A, d). The volume border is not treated as
    background. Works in the mask's bounding box padded by the distance.
    """
    out = np.zeros(mask.shape, bool)
    if distance_mm == 0:
        out |= mask.astype(bool)
        return out
    pad = [r + 1 for r in radius_vox(abs(distance_mm), spacing_zyx_mm)]
    # shrinking needs one layer of background around the mask (the volume border is not background)
    box = mask_box(mask, pad if distance_mm > 0 else (1, 1, 1))
    if box is None:
        return out
    sub = mask[box].astype(bool)
    target = sub if distance_mm > 0 else ~sub
    if not target.any():
        out[box] = ~target if distance_mm < 0 else target
        return out
    grown = dilate_ball(target, abs(distance_mm), spacing_zyx_mm)
    out[box] = grown if distance_mm > 0 else ~grown
    return out


#: Above this many (surface voxel × kernel offset) pairs, :func:`dilate_ball` uses a distance map.
SCATTER_LIMIT = 60_000_000


def dilate_ball(mask: np.ndarray, radius_mm: float, spacing_zyx_mm: Spacing) -> np.ndarray:
    """Exact dilation by a ball of ``radius_mm``: voxels within that distance of a mask voxel centre.

    The nearest mask voxel of any outside voxel is a surface voxel (one with a background face
    neighbour), so only surface voxels are stamped with the ball's offsets — about 10x faster
    than a full distance map for the small margins of editing (0.4 s vs 3.9 s for a 2 mm margin
    of an 11 M-voxel segment, measured here). Large radii on large surfaces fall back to the
    Maurer distance map (same result). Voxels outside ``mask``'s array are not considered.
    """
    m = mask.astype(bool, copy=False)
    kernel = sphere_kernel(radius_mm, spacing_zyx_mm)
    half = np.asarray(kernel.shape) // 2
    interior = m.copy()
    for ax in range(3):  # erode by the 6-neighbourhood (outside the array counts as mask)
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(1, None), slice(None, -1)
        interior[tuple(hi)] &= m[tuple(lo)]
        interior[tuple(lo)] &= m[tuple(hi)]
    surface = np.argwhere(m & ~interior)
    offsets = np.argwhere(kernel) - half
    if len(surface) * len(offsets) > SCATTER_LIMIT:
        dist = from_sitk(sitk.SignedMaurerDistanceMap(mask_to_sitk_u8(m, spacing_zyx_mm), insideIsPositive=False,
                                                      squaredDistance=False, useImageSpacing=True))
        return dist <= radius_mm + 1e-6
    padded = np.zeros(tuple(int(n) + 2 * int(h) for n, h in zip(m.shape, half, strict=True)), bool)
    core = tuple(slice(int(h), int(h) + n) for h, n in zip(half, m.shape, strict=True))
    padded[core] = m
    strides = np.array([padded.shape[1] * padded.shape[2], padded.shape[2], 1], dtype=np.int64)
    base = (surface + half) @ strides
    flat = padded.reshape(-1)
    for off in offsets @ strides:
        flat[base + off] = True
    return padded[core].copy()


def hollow(mask: np.ndarray, thickness_mm: float, spacing_zyx_mm: Spacing, *,
           mode: str = "inside") -> np.ndarray:
    """Replace a mask by a shell of ``thickness_mm``.

    ``mode``: ``"inside"`` (shell inside the surface), ``"outside"`` (around it) or ``"medial"``
    (half each side).
    """
    m = mask.astype(bool)
    if mode == "inside":
        return m & ~margin(m, -thickness_mm, spacing_zyx_mm)
    if mode == "outside":
        return margin(m, thickness_mm, spacing_zyx_mm) & ~m
    if mode == "medial":
        half = thickness_mm / 2
        return margin(m, half, spacing_zyx_mm) & ~margin(m, -half, spacing_zyx_mm)
    raise ValueError(f"unknown hollow mode {mode!r}")


SMOOTHING_METHODS = ("median", "opening", "closing", "gaussian")


def smooth(mask: np.ndarray, method: str, size_mm: float, spacing_zyx_mm: Spacing, *,
           ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Smooth one binary mask.

    ``method``: ``"median"`` (removes extrusions and fills small holes, kernel radius ``size_mm``),
    ``"opening"`` (removes extrusions thinner than a ball of radius ``size_mm``), ``"closing"``
    (fills holes and gaps narrower than that ball; both with exact balls in mm) or
    ``"gaussian"`` (blur with sigma ``size_mm``, threshold 0.5).
    Works in the bounding box padded by the kernel.
    """
    if method not in SMOOTHING_METHODS:
        raise ValueError(f"unknown smoothing method {method!r}")
    out = np.zeros(mask.shape, bool)
    rad = [max(1, r) for r in radius_vox(size_mm, spacing_zyx_mm)]
    pad = [3 * r + 1 for r in rad] if method == "gaussian" else [r + 1 for r in rad]
    box = mask_box(mask, pad)
    if box is None:
        return out
    if method in ("opening", "closing"):
        # exact balls in mm, as :func:`margin`: closing = shrink(grow), opening = grow(shrink)
        sub = mask[box].astype(bool)
        ctx.step(0.0, f"smoothing ({method})")
        if method == "closing":
            res = ~dilate_ball(~dilate_ball(sub, size_mm, spacing_zyx_mm), size_mm, spacing_zyx_mm)
        else:
            res = dilate_ball(~dilate_ball(~sub, size_mm, spacing_zyx_mm), size_mm, spacing_zyx_mm)
        out[box] = res
        return out
    if method == "median":
        # majority vote in the (2r+1)^3 box, by separable running sums (10x faster than ITK's
        # BinaryMedian here; same result away from the volume border, where ITK replicates edges)
        sub = mask[box].astype(bool)
        ctx.step(0.0, "smoothing (median)")
        out[box] = box_sum(sub, rad) * 2 > int(np.prod([2 * r + 1 for r in rad]))
        return out
    f = sitk.SmoothingRecursiveGaussianImageFilter()
    f.SetSigma(float(size_mm))
    img = sitk.Cast(mask_to_sitk_u8(mask[box], spacing_zyx_mm), sitk.sitkFloat32)
    res = from_sitk(run_filter(f, ctx, lambda: f.Execute(img), message=f"smoothing ({method})"))
    out[box] = res >= 0.5
    return out


def box_sum(mask: np.ndarray, radius_zyx: Sequence[int]) -> np.ndarray:
    """Count the True voxels in the ``(2r+1)`` box around every voxel (zero outside the array).

    Separable running sums in uint16: the arithmetic wraps, but every box count is below 2^16
    (``prod(2r+1) < 65536`` is required), so the differences are exact.
    """
    if int(np.prod([2 * int(r) + 1 for r in radius_zyx])) >= 65536:
        raise ValueError(f"box {radius_zyx} too large for uint16 counts")
    acc = mask.astype(np.uint16)
    for ax, r in enumerate(radius_zyx):
        r = int(r)
        if r == 0:
            continue
        n = acc.shape[ax]
        pad = [(0, 0)] * 3
        pad[ax] = (r + 1, r)
        c = np.cumsum(np.pad(acc, pad), axis=ax, dtype=np.uint16)
        hi = [slice(None)] * 3
        lo = [slice(None)] * 3
        hi[ax], lo[ax] = slice(2 * r + 1, 2 * r + 1 + n), slice(0, n)
        acc = c[tuple(hi)] - c[tuple(lo)]
    return acc


def smooth_joint(labels: np.ndarray, label_ids: Sequence[int], sigma_mm: float, spacing_zyx_mm: Spacing, *,
                 ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Smooth several segments together so they stay watertight against each other.

    Each segment's indicator (and the background's, among voxels of these segments or 0) is
    blurred with sigma ``sigma_mm``; every voxel gets the label with the largest blurred value.
    Voxels of other segments are kept. Returns the new label array of ``labels``' shape.
    """
    ids = [int(i) for i in label_ids]
    editable = np.isin(labels, [0, *ids])
    box = mask_box(np.isin(labels, ids), [3 * r + 1 for r in radius_vox(sigma_mm, spacing_zyx_mm)])
    out = labels.copy()
    if box is None:
        return out
    sub = labels[box]
    best = np.full(sub.shape, -1.0, np.float32)
    winner = np.zeros(sub.shape, labels.dtype)
    for n, label in enumerate([0, *ids]):
        ctx.step(n / (len(ids) + 1), "joint smoothing")
        ind = to_sitk((sub == label).astype(np.float32), spacing_zyx_mm)
        blurred = from_sitk(sitk.SmoothingRecursiveGaussian(ind, float(sigma_mm)))
        better = blurred > best
        best[better] = blurred[better]
        winner[better] = label
    region = out[box]
    sel = editable[box]
    region[sel] = winner[sel]
    return out
