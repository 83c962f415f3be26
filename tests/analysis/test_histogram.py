from __future__ import annotations

import numpy as np

from analysis.histogram import image_histogram


def test_histogram_counts_every_sampled_voxel_over_the_full_range():
    arr = np.arange(-1000, 1000, dtype=np.int16).reshape(2, 10, 100)
    hist = image_histogram(arr, bins=20)
    assert hist.lo == -1000 and hist.hi == 999
    assert hist.counts.sum() == arr.size
    assert len(hist.edges) == 21


def test_histogram_subsamples_large_volumes():
    arr = np.zeros((50, 100, 100), np.float32)
    hist = image_histogram(arr, bins=8, max_samples=1000)
    assert 0 < hist.counts.sum() <= 1000
    assert hist.hi > hist.lo  # a constant image still gets a non-empty range
