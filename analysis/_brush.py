"""Brush kernels, stroke interpolation and polygon rasterisation for the editing tools.

Everything here works in voxel ``(z, y, x)`` index space; physical sizes come in as millimetres
together with ``spacing_zyx_mm``. Pure numpy, any thread may call. Kernels are cached and
returned read-only, so callers must never write into them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np


def kernel_half_widths(radius_mm: float, spacing_zyx_mm: Sequence[float],
                       plane_axis: int | None = None) -> tuple[int, int, int]:
    """Return the brush half-width in voxels along z, y, x.

    Parameters
    ----------
    radius_mm
        Brush radius in millimetres.
    spacing_zyx_mm
        Voxel spacing in mm, ``(z, y, x)``.
    plane_axis
        For a 2D disc, the axis (0, 1 or 2 in ``zyx``) normal to the view plane; that axis gets
        half-width 0. None for a 3D sphere.
    """
    half = [int(math.floor(radius_mm / float(s) + 1e-9)) for s in spacing_zyx_mm]
    if plane_axis is not None:
        half[plane_axis] = 0
    return half[0], half[1], half[2]


@lru_cache(maxsize=64)
def _kernel_cached(radius_mm: float, spacing_zyx_mm: tuple[float, float, float],
                   plane_axis: int | None) -> np.ndarray:
    hz, hy, hx = kernel_half_widths(radius_mm, spacing_zyx_mm, plane_axis)
    sz, sy, sx = spacing_zyx_mm
    z = (np.arange(-hz, hz + 1) * sz)[:, None, None]
    y = (np.arange(-hy, hy + 1) * sy)[None, :, None]
    x = (np.arange(-hx, hx + 1) * sx)[None, None, :]
    kernel = (z * z + y * y + x * x) <= radius_mm * radius_mm * (1 + 1e-9)
    kernel.flags.writeable = False
    return kernel


def sphere_kernel(radius_mm: float, spacing_zyx_mm: Sequence[float],
                  plane_axis: int | None = None) -> np.ndarray:
    """Return the boolean brush footprint: voxels whose centre lies within ``radius_mm``.

    The result has odd shape ``2 * half + 1`` per axis (see :func:`kernel_half_widths`) and is
    centred on its middle voxel. Distances use the physical spacing, so the brush is round in mm
    on anisotropic grids. Cached per (radius, spacing, plane); read-only. Any thread.
    """
    spacing = tuple(round(float(s), 6) for s in spacing_zyx_mm)
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"spacing_zyx_mm must be three positive numbers, got {spacing_zyx_mm}")
    if radius_mm < 0:
        raise ValueError(f"radius_mm must be >= 0, got {radius_mm}")
    return _kernel_cached(round(float(radius_mm), 6), spacing, plane_axis)  # type: ignore[arg-type]


def stroke_points(start_zyx: Sequence[int], end_zyx: Sequence[int],
                  half_widths_zyx: Sequence[int]) -> np.ndarray:
    """Return the dab centres from ``start_zyx`` (excluded) to ``end_zyx`` (included).

    Successive centres differ by at most ``max(1, half_width / 2)`` voxels along every axis, so
    consecutive dabs overlap by at least half a radius and a fast drag leaves no gap.

    Returns an ``(n, 3)`` int array of ``zyx`` voxel indices (``n >= 1``; just ``end`` when the
    two points coincide).
    """
    # plain Python: called once per mouse event, where numpy's per-call overhead dominates
    a = [float(v) for v in start_zyx]
    b = [float(v) for v in end_zyx]
    d = [bv - av for av, bv in zip(a, b, strict=True)]
    n = 0
    for dv, h in zip(d, half_widths_zyx, strict=True):
        n = max(n, int(math.ceil(abs(dv) / max(1.0, 0.5 * float(h)) - 1e-9)))
    if n <= 1:
        return np.array([[int(round(v)) for v in b]], dtype=np.int64)
    t = np.arange(1, n + 1, dtype=float)[:, None] / n
    return np.rint(np.asarray(a) + np.asarray(d) * t).astype(np.int64)


def stamp(centres_zyx: np.ndarray, kernel: np.ndarray) -> tuple[tuple[slice, slice, slice], np.ndarray]:
    """Union of ``kernel`` stamped at every centre: return ``(box_zyx, mask)``.

    ``box_zyx`` are absolute slices (they may extend outside any volume; the label model clips).
    For a single centre the mask is ``kernel`` itself (read-only, not copied).
    """
    if len(centres_zyx) == 1:  # the usual case: one dab per mouse event, no numpy overhead
        (cz, cy, cx), (kz, ky, kx) = centres_zyx[0], kernel.shape
        cz, cy, cx = int(cz), int(cy), int(cx)
        return (slice(cz - kz // 2, cz + kz // 2 + 1), slice(cy - ky // 2, cy + ky // 2 + 1),
                slice(cx - kx // 2, cx + kx // 2 + 1)), kernel
    half = np.asarray(kernel.shape) // 2
    centres = np.asarray(centres_zyx, dtype=np.int64).reshape(-1, 3)
    lo = centres.min(axis=0) - half
    hi = centres.max(axis=0) + half + 1
    box = (slice(int(lo[0]), int(hi[0])), slice(int(lo[1]), int(hi[1])), slice(int(lo[2]), int(hi[2])))
    mask = np.zeros(tuple(int(v) for v in hi - lo), dtype=bool)
    kz, ky, kx = kernel.shape
    for c in centres - half - lo:
        mask[c[0]:c[0] + kz, c[1]:c[1] + ky, c[2]:c[2] + kx] |= kernel
    return box, mask


def polygon_mask_2d(points_rc: np.ndarray | Sequence[Sequence[float]],
                    shape_rc: tuple[int, int]) -> np.ndarray:
    """Rasterise a closed polygon (even-odd rule, pixel centres) into a boolean ``shape_rc`` image.

    Parameters
    ----------
    points_rc
        ``(n, 2)`` vertices as continuous (row, column) pixel indices of the 2D slice.
    shape_rc
        (rows, columns) of the output.
    """
    pts = np.asarray(points_rc, dtype=float).reshape(-1, 2)
    out = np.zeros(shape_rc, dtype=bool)
    if len(pts) < 3:
        return out
    r0, r1 = pts[:, 0], np.roll(pts[:, 0], -1)
    c0, c1 = pts[:, 1], np.roll(pts[:, 1], -1)
    row_lo = max(0, int(math.ceil(pts[:, 0].min())))
    row_hi = min(shape_rc[0] - 1, int(math.floor(pts[:, 0].max())))
    cols = np.arange(shape_rc[1], dtype=float)
    for row in range(row_lo, row_hi + 1):
        crosses = (r0 <= row) != (r1 <= row)  # half-open rule: each vertex counted once
        if not crosses.any():
            continue
        t = (row - r0[crosses]) / (r1[crosses] - r0[crosses])
        xs = np.sort(c0[crosses] + t * (c1[crosses] - c0[crosses]))
        for left, right in zip(xs[0::2], xs[1::2], strict=False):
            out[row] |= (cols >= left) & (cols <= right)
    # the outline itself belongs to the shape (pixels on a vertex row or edge are inside)
    for a, b in zip(pts, np.roll(pts, -1, axis=0), strict=True):
        n = int(math.ceil(float(np.max(np.abs(b - a))))) + 1
        line = np.rint(a + (b - a) * np.linspace(0.0, 1.0, n)[:, None]).astype(np.int64)
        ok = (line[:, 0] >= 0) & (line[:, 0] < shape_rc[0]) & (line[:, 1] >= 0) & (line[:, 1] < shape_rc[1])
        out[line[ok, 0], line[ok, 1]] = True
    return out


def rectangle_points(corner_a_rc: Sequence[float], corner_b_rc: Sequence[float]) -> np.ndarray:
    """Return the four (row, column) vertices of the axis-aligned rectangle spanned by two corners."""
    (ra, ca), (rb, cb) = corner_a_rc, corner_b_rc
    return np.array([[ra, ca], [ra, cb], [rb, cb], [rb, ca]], dtype=float)
