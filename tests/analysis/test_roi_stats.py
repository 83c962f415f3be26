from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.roi_stats import roi_mask, roi_stats


@pytest.fixture
def slice_rc():
    return np.random.default_rng(1).normal(40.0, 12.0, (60, 80)).astype(np.float32)


def test_rectangle_stats_equal_numpy(slice_rc):
    s = roi_stats(slice_rc, (10.0, 20.0), (29.0, 49.0), "rectangle", pixel_area_mm2=0.64)
    ref = slice_rc[10:30, 20:50].astype(np.float64)
    assert s.n_pixels == ref.size
    assert s.mean == pytest.approx(ref.mean())
    assert s.sd == pytest.approx(ref.std())
    assert (s.min, s.max) == (ref.min(), ref.max())
    assert s.area_mm2 == pytest.approx(19 * 29 * 0.64)


def test_ellipse_stats_equal_numpy_on_the_same_pixels(slice_rc):
    lo, hi = (5.0, 10.0), (45.0, 70.0)
    rows, cols = np.mgrid[0:60, 0:80]
    inside = ((rows - 25.0) / 20.0) ** 2 + ((cols - 40.0) / 30.0) ** 2 <= 1.0
    s = roi_stats(slice_rc, hi, lo, "ellipse", pixel_area_mm2=2.0)  # corner order does not matter
    ref = slice_rc[inside].astype(np.float64)
    assert s.n_pixels == inside.sum()
    assert s.mean == pytest.approx(ref.mean())
    assert s.sd == pytest.approx(ref.std())
    assert (s.min, s.max) == (ref.min(), ref.max())
    assert s.area_mm2 == pytest.approx(math.pi * 20 * 30 * 2.0)


def test_region_outside_the_slice_is_clipped_and_empty_region_gives_nan(slice_rc):
    box, mask = roi_mask(slice_rc.shape, (-10.0, -10.0), (5.0, 5.0), "rectangle")
    assert mask.shape == (6, 6) and box == (slice(0, 6), slice(0, 6))
    s = roi_stats(slice_rc, (100.0, 100.0), (120.0, 120.0), "rectangle")
    assert s.n_pixels == 0 and math.isnan(s.mean)


def test_constant_region_has_zero_sd():
    s = roi_stats(np.full((10, 10), 7, np.int16), (2.0, 2.0), (7.0, 7.0), "ellipse")
    assert (s.mean, s.sd, s.min, s.max) == (7.0, 0.0, 7.0, 7.0)
