"""Intensity histogram of an image volume, computed once on a strided subsample (pure numpy).

Used by the window/level histogram widget; any thread may call it (it reads, never writes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Voxels sampled at most (a strided view of the flat array: no copy of the volume).
MAX_SAMPLES = 1_000_000


@dataclass(frozen=True)
class Histogram:
    """Bin counts over ``[lo, hi]`` in image units.

    Invariants: ``len(edges) == len(counts) + 1``; ``edges[0] == lo`` and ``edges[-1] == hi``;
    ``counts`` sum to the number of sampled voxels.
    """

    counts: np.ndarray
    edges: np.ndarray

    @property
    def lo(self) -> float:
        """Lowest value covered (image units)."""
        return float(self.edges[0])

    @property
    def hi(self) -> float:
        """Highest value covered (image units)."""
        return float(self.edges[-1])


def image_histogram(array: np.ndarray, bins: int = 256, max_samples: int = MAX_SAMPLES) -> Histogram:
    """Histogram ``array`` (any shape) over its full value range from at most ``max_samples`` voxels.

    Parameters
    ----------
    array
        Voxel values in image units (HU for CT). Not copied when C-contiguous.
    bins
        Number of equal-width bins.
    max_samples
        Every ``ceil(size / max_samples)``-th voxel of the flat array is counted.
    """
    flat = np.asarray(array).reshape(-1)
    if flat.size == 0:
        return Histogram(np.zeros(bins, np.int64), np.linspace(0.0, 1.0, bins + 1))
    step = max(1, -(-flat.size // max(1, max_samples)))
    sample = flat[::step]
    finite = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample
    if finite.size == 0:
        return Histogram(np.zeros(bins, np.int64), np.linspace(0.0, 1.0, bins + 1))
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        hi = lo + 1.0
    counts, edges = np.histogram(finite, bins=bins, range=(lo, hi))
    return Histogram(counts.astype(np.int64), edges)
