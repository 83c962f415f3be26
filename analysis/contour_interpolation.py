"""Morphological contour interpolation between annotated slices (Slicer's "Fill between slices").

The method of Albu, Beugeling & Laurendeau, "A morphology-based approach for interslice
interpolation of anatomical slices from volumetric images", IEEE TBME 55(8), 2008 — the one
ITK's ``MorphologicalContourInterpolator`` (used by Slicer and ITK-SNAP) implements. SimpleITK
2.5 does not wrap that filter, so this is a numpy implementation of the same steps:

* consecutive annotated slices of a segment are paired; on each pair, the 4-connected
  components are matched by overlap (components linked through overlaps form one group);
* the slice halfway between two matched shapes gets their *morphological median*: from their
  intersection, geodesic dilations (cross element) are grown inside each shape; the two
  sequences, one reversed, are united step by step, and the union whose symmetric differences
  with both shapes are closest to equal is the median;
* the remaining slices are filled recursively (median of a shape and a median);
* shapes that do not overlap are aligned first (translation by the centroid difference) and the
  median is moved halfway back, so a shape that moves between slices travels smoothly;
* components left without an overlapping partner pair up by nearest centroid (a moving shape);
  a component with no partner at all is extrapolated towards one pixel at its centroid in the
  other slice (it ends there, as in ITK).

Unlike blending signed distance maps, this handles shapes that do not overlap and keeps branching
structures (one component splitting into two) connected. Pure numpy + SimpleITK, any thread.
Arrays are ``(z, y, x)`` and boolean; nothing here keeps state.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from analysis._task import NULL_CONTEXT, TaskContext

#: Margin (pixels) around the key slices' 2D bounding box in which shapes may grow or move.
PAD = 2


def _dilate_cross(m: np.ndarray) -> np.ndarray:
    d = m.copy()
    d[1:] |= m[:-1]
    d[:-1] |= m[1:]
    d[:, 1:] |= m[:, :-1]
    d[:, :-1] |= m[:, 1:]
    return d


def _dilation_sequence(seed: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """Geodesic dilations of ``seed`` inside ``mask``, one cross step each, until nothing changes."""
    seq = [_dilate_cross(seed) & mask]
    while True:
        nxt = _dilate_cross(seq[-1]) & mask
        if np.array_equal(nxt, seq[-1]):
            return seq
        seq.append(nxt)


def _median_overlapping(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Morphological median of two overlapping 2D shapes (Albu et al.; ITK's dilation variant)."""
    inter = a & b
    seq_a = _dilation_sequence(inter, a)[::-1]  # from ``a`` down to the intersection
    seq_b = _dilation_sequence(inter, b)  # from the intersection up to ``b``
    if len(seq_a) < len(seq_b):
        seq_a, seq_b = seq_b[::-1], seq_a[::-1]  # the longer one drives; keep a→b order
        a, b = b, a
    ratio = len(seq_b) / len(seq_a)
    best, best_score = a, None
    for x, step_a in enumerate(seq_a):
        cand = step_a | seq_b[int(ratio * x)]
        score = abs(int(np.count_nonzero(cand ^ a)) - int(np.count_nonzero(cand ^ b)))
        if best_score is None or score < best_score:
            best, best_score = cand, score
    return best


def _centroid(m: np.ndarray) -> np.ndarray:
    return np.argwhere(m).mean(axis=0)


def _shift(m: np.ndarray, rc: np.ndarray) -> np.ndarray:
    """Translate a 2D mask by integer ``rc`` (pixels moved out of the array are lost)."""
    dr, dc = int(rc[0]), int(rc[1])
    out = np.zeros_like(m)
    rows, cols = m.shape
    src = m[max(0, -dr):rows - max(0, dr), max(0, -dc):cols - max(0, dc)]
    out[max(0, dr):max(0, dr) + src.shape[0], max(0, dc):max(0, dc) + src.shape[1]] = src
    return out


def median_shape(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The shape halfway between two 2D masks (aligned first when they do not overlap)."""
    if not a.any():
        return b.copy()
    if not b.any():
        return a.copy()
    if (a & b).any():
        return _median_overlapping(a, b)
    t = np.rint(_centroid(b) - _centroid(a))
    b0 = _shift(b, -t)
    if not (a & b0).any():  # concave shapes whose centroids miss: put their nearest pixels together
        pa, pb = np.argwhere(a), np.argwhere(b)
        pa, pb = pa[:: max(1, len(pa) // 500)], pb[:: max(1, len(pb) // 500)]
        i, j = np.unravel_index(np.argmin(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1)), (len(pa), len(pb)))
        t = (pb[j] - pa[i]).astype(float)
        b0 = _shift(b, -t)
    half = np.rint(t / 2.0)
    return _shift(_median_overlapping(a, b0), half)


def _components(m: np.ndarray) -> tuple[np.ndarray, int]:
    cc = sitk.ConnectedComponent(sitk.GetImageFromArray(m.view(np.uint8)), False)
    labels = sitk.GetArrayFromImage(cc)
    return labels, int(labels.max())


def _pairs(a: np.ndarray, b: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Groups of components of ``a`` and ``b`` linked by overlap; unmatched ones get a one-pixel partner."""
    la, na = _components(a)
    lb, nb = _components(b)
    parent = list(range(na + nb + 1))  # union-find over a's 1..na and b's na+1..na+nb

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    both = (la > 0) & (lb > 0)
    for ia, ib in {(int(x), int(y)) for x, y in zip(la[both], lb[both], strict=True)}:
        parent[find(ia)] = find(na + ib)
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for i in range(1, na + 1):
        groups.setdefault(find(i), ([], []))[0].append(i)
    for i in range(1, nb + 1):
        groups.setdefault(find(na + i), ([], []))[1].append(i)
    out, only_a, only_b = [], [], []
    for ids_a, ids_b in groups.values():
        if ids_a and ids_b:
            out.append((np.isin(la, ids_a), np.isin(lb, ids_b)))
        elif ids_a:
            only_a.append(np.isin(la, ids_a))
        else:
            only_b.append(np.isin(lb, ids_b))
    # components without an overlapping partner: nearest centroids pair up (the shape moved),
    # the rest are extrapolated towards one pixel at their centroid (the shape ends)
    ca, cb = [_centroid(m) for m in only_a], [_centroid(m) for m in only_b]
    while only_a and only_b:
        d = np.array([[float(((x - y) ** 2).sum()) for y in cb] for x in ca])
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        out.append((only_a.pop(i), only_b.pop(j)))
        ca.pop(i)
        cb.pop(j)
    for shape in only_a:
        out.append((shape, _point_at_centroid(shape)))
    for shape in only_b:
        out.append((_point_at_centroid(shape), shape))
    return out


def _point_at_centroid(shape: np.ndarray) -> np.ndarray:
    """One pixel: the pixel of ``shape`` nearest its centroid."""
    pts = np.argwhere(shape)
    point = np.zeros_like(shape)
    point[tuple(pts[np.argmin(((pts - pts.mean(axis=0)) ** 2).sum(axis=1))])] = True
    return point


def _fill_between(moved: np.ndarray, k1: int, s1: np.ndarray, k2: int, s2: np.ndarray) -> None:
    if k2 - k1 < 2:
        return
    mid = (k1 + k2) // 2
    m = median_shape(s1, s2)
    moved[mid] |= m
    _fill_between(moved, k1, s1, mid, m)
    _fill_between(moved, mid, m, k2, s2)


def interpolate_slices_morphological(mask: np.ndarray, axis: int, *,
                                     ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Fill the empty slices between annotated slices of one segment along ``axis`` (see module docs).

    Works in the 2D bounding box of all annotated slices padded by :data:`PAD` pixels, in index
    space (as ITK does). Annotated slices and slices outside the first and last ones never change.
    Returns the filled mask (a new boolean array).
    """
    out = mask.astype(bool, copy=True)
    moved = np.moveaxis(out, axis, 0)  # a view: writes go to ``out``
    keys = np.flatnonzero(moved.reshape(moved.shape[0], -1).any(axis=1))
    if keys.size < 2:
        return out
    prof_r = np.flatnonzero(moved[keys].any(axis=(0, 2)))
    prof_c = np.flatnonzero(moved[keys].any(axis=(0, 1)))
    r = slice(max(0, int(prof_r[0]) - PAD), min(moved.shape[1], int(prof_r[-1]) + 1 + PAD))
    c = slice(max(0, int(prof_c[0]) - PAD), min(moved.shape[2], int(prof_c[-1]) + 1 + PAD))
    win = moved[:, r, c]  # view
    gaps = [(int(k1), int(k2)) for k1, k2 in zip(keys[:-1], keys[1:], strict=True) if k2 - k1 >= 2]
    for n, (k1, k2) in enumerate(gaps):
        ctx.step(n / max(1, len(gaps)), "fill between slices")
        a, b = win[k1].copy(), win[k2].copy()
        for ga, gb in _pairs(a, b):
            _fill_between(win, k1, ga, k2, gb)
        win[k1], win[k2] = a, b  # key slices stay exactly as annotated
    return out
