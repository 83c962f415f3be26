from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.model.geometry import Geometry


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def test_axis_aligned_index_to_lps_uses_spacing_and_origin():
    g = Geometry((10, 20, 30), (2.5, 0.7, 0.8), (-100.0, -50.0, 20.0))
    assert np.allclose(g.index_zyx_to_lps([0, 0, 0]), [-100, -50, 20])
    # x index moves along L with x spacing; z index along S with z spacing
    assert np.allclose(g.index_zyx_to_lps([2, 3, 4]), [-100 + 4 * 0.8, -50 + 3 * 0.7, 20 + 2 * 2.5])
    assert g.is_axis_aligned and g.shear_deg == pytest.approx(0)


@settings(max_examples=50, deadline=None)
@given(
    angles=st.tuples(*[st.floats(-np.pi, np.pi) for _ in range(3)]),
    spacing=st.tuples(*[st.floats(0.2, 5.0) for _ in range(3)]),
    origin=st.tuples(*[st.floats(-500, 500) for _ in range(3)]),
    index=st.tuples(*[st.floats(-10, 300) for _ in range(3)]),
)
def test_oblique_index_lps_round_trip(angles, spacing, origin, index):
    g = Geometry((40, 300, 200), spacing, origin, tuple(_rotation(*angles).ravel()))
    lps = g.index_zyx_to_lps(index)
    assert np.allclose(g.lps_to_index_zyx(lps), index, atol=1e-6)
    # distances in LPS equal distances in index space scaled by spacing (orthonormal direction)
    step = g.index_zyx_to_lps(np.array(index) + [1, 0, 0]) - lps
    assert np.linalg.norm(step) == pytest.approx(spacing[0])


def test_vectorised_conversion_matches_single_points():
    g = Geometry((5, 6, 7), (1, 2, 3), (1, 2, 3), tuple(_rotation(0.3, -0.2, 1.0).ravel()))
    pts = np.random.default_rng(0).uniform(0, 5, size=(4, 5, 3))
    many = g.index_zyx_to_lps(pts)
    assert many.shape == (4, 5, 3)
    assert np.allclose(many[2, 3], g.index_zyx_to_lps(pts[2, 3]))


def test_gantry_tilt_shear_is_reported():
    tilt = np.radians(15)
    d = np.eye(3)
    d[:, 2] = [0, np.sin(tilt), np.cos(tilt)]  # slices step along a tilted axis
    g = Geometry((10, 10, 10), (2, 1, 1), (0, 0, 0), tuple(d.ravel()))
    assert g.shear_deg == pytest.approx(15, abs=1e-6)
    assert np.allclose(g.slice_normal_lps, [0, 0, 1])
    assert np.allclose(g.lps_to_index_zyx(g.index_zyx_to_lps([3, 4, 5])), [3, 4, 5])


def test_ras_affine_flips_l_and_p():
    g = Geometry((2, 2, 2), (1, 1, 1), (10, 20, 30))
    ras = g.ras_affine()
    assert np.allclose(ras[:3, 3], [-10, -20, 30])
    assert np.allclose(ras[:3, :3], np.diag([-1, -1, 1]))


@pytest.mark.parametrize("kwargs", [
    {"shape_zyx": (0, 2, 2)},
    {"shape_zyx": (2, 2, 2), "spacing_zyx_mm": (1, 0, 1)},
    {"shape_zyx": (2, 2, 2), "direction": (1, 0, 0, 1, 0, 0, 0, 0, 1)},
    {"shape_zyx": (2, 2, 2), "origin_lps_mm": (0, float("nan"), 0)},
])
def test_invalid_geometry_is_rejected(kwargs):
    with pytest.raises(ValueError):
        Geometry(**kwargs)


def test_dict_round_trip_and_cropping():
    g = Geometry((10, 20, 30), (2, 1, 1), (5, 6, 7), tuple(_rotation(0.1, 0.2, 0.3).ravel()))
    assert Geometry.from_dict(g.to_dict()).same_grid(g, tol_mm=1e-4)
    sub = g.cropped((2, 3, 4), (3, 3, 3))
    assert np.allclose(sub.index_zyx_to_lps([0, 0, 0]), g.index_zyx_to_lps([2, 3, 4]))
    assert np.allclose(sub.index_zyx_to_lps([1, 2, 0]), g.index_zyx_to_lps([3, 5, 4]))
