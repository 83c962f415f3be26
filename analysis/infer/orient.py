"""Reorient (z, y, x) arrays to a model's canonical axis convention by flips and transposes only.

``target`` names where increasing (x, y, z) index points: "LPS" (x→Left, y→Posterior, z→Superior,
DICOM's own) or "RAS" (x→Right, y→Anterior, z→Superior, NIfTI/MONAI's). Only axis permutations and
flips are applied (no interpolation); oblique data maps to the nearest canonical axes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_TARGET_SIGNS = {"LPS": (1, 1, 1), "RAS": (-1, -1, 1)}


Perm = tuple[int, int, int]
Flips = tuple[bool, bool, bool]


def canonical_transform(direction: Sequence[float], target: str = "LPS") -> tuple[Perm, Flips]:
    """Return (axes permutation, flips) that bring a ``(z, y, x)`` array to ``target``.

    The result is applied as ``np.transpose(arr, perm)`` then flipping output axis ``i`` when
    ``flips[i]``; output axis 0 is S, 1 is A/P, 2 is R/L.
    """
    if target not in _TARGET_SIGNS:
        raise ValueError(f"orientation must be one of {sorted(_TARGET_SIGNS)}, got {target!r}")
    d = np.asarray(direction, dtype=float).reshape(3, 3)  # columns: LPS vectors of x, y, z index
    lps_axis_of_index_xyz = [int(np.argmax(np.abs(d[:, i]))) for i in range(3)]
    if len(set(lps_axis_of_index_xyz)) != 3:
        raise ValueError("direction matrix is too oblique to map to canonical axes")
    signs = _TARGET_SIGNS[target]
    perm, flips = [], []
    for out_axis_zyx in range(3):  # output z (S), y (P/A), x (L/R)
        lps_axis = 2 - out_axis_zyx  # zyx output axis 0 ↔ LPS component 2 (S)
        index_xyz = lps_axis_of_index_xyz.index(lps_axis)
        perm.append(2 - index_xyz)  # array axis in zyx order
        flips.append(bool(np.sign(d[lps_axis, index_xyz]) != signs[lps_axis]))
    return tuple(perm), tuple(flips)  # type: ignore[return-value]


def to_canonical(array_zyx: np.ndarray, direction: Sequence[float], target: str = "LPS") -> np.ndarray:
    """Return a view of ``array_zyx`` in the ``target`` axis convention."""
    perm, flips = canonical_transform(direction, target)
    out = np.transpose(array_zyx, perm)
    for axis, flip in enumerate(flips):
        if flip:
            out = np.flip(out, axis)
    return out


def from_canonical(array: np.ndarray, direction: Sequence[float], target: str = "LPS") -> np.ndarray:
    """Inverse of :func:`to_canonical` (back to the original index order)."""
    perm, flips = canonical_transform(direction, target)
    for axis, flip in enumerate(flips):
        if flip:
            array = np.flip(array, axis)
    return np.transpose(array, np.argsort(perm))
