"""Box ↔ slice-plane geometry on axis-aligned, oblique and gantry-tilted grids."""

from __future__ import annotations

import numpy as np
import pytest

from app.model import box_geometry as bg
from app.model.annotations import Box
from app.model.geometry import Geometry


def _rotation(ax_deg: float, az_deg: float) -> tuple[float, ...]:
    a, b = np.radians(ax_deg), np.radians(az_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    return tuple((rz @ rx).ravel())


OBLIQUE = Geometry((30, 50, 60), (2.0, 0.7, 0.9), (-20.0, 15.0, 40.0), _rotation(20.0, 30.0))
TILTED = Geometry((30, 50, 60), (2.0, 0.7, 0.9), (0.0, 0.0, 0.0),
                  (1.0, 0.0, 0.0, 0.0, 1.0, np.sin(np.radians(15)), 0.0, 0.0, np.cos(np.radians(15))))
AXIAL = Geometry((30, 50, 60), (2.0, 0.7, 0.9), (-20.0, 15.0, 40.0))


def _expected_slices(box: Box, geometry: Geometry, axis: int) -> set[int]:
    """Brute force: slice k shows the box when the plane k separates none of its 8 corners strictly."""
    corners = bg.corners_lps(box.lps_min, box.lps_max)
    out = set()
    for k in range(-5, geometry.shape_zyx[axis] + 5):
        d = geometry.lps_to_index_zyx(corners)[:, axis] - k
        if d.min() <= 1e-9 and d.max() >= -1e-9:
            out.add(k)
    return out


@pytest.mark.parametrize("geometry", [AXIAL, OBLIQUE, TILTED], ids=["axial", "oblique", "tilted"])
def test_box_from_index_round_trips_through_lps(geometry):
    start, stop = np.array([5, 10, 12]), np.array([11, 20, 30])
    lps_min, lps_max = bg.box_from_index(geometry, start, stop)
    box = Box(lps_min, lps_max)
    corners_zyx = geometry.lps_to_index_zyx(bg.corners_lps(box.lps_min, box.lps_max))
    # the LPS box holds every voxel centre of the index box (exactly that box on axis-aligned data)
    centres = geometry.index_zyx_to_lps(np.array([[z, y, x] for z in (5, 11) for y in (10, 20) for x in (12, 30)]))
    assert np.all(centres >= np.array(lps_min) - 1e-9) and np.all(centres <= np.array(lps_max) + 1e-9)
    if geometry is AXIAL:
        assert np.allclose(corners_zyx.min(axis=0), start) and np.allclose(corners_zyx.max(axis=0), stop)


@pytest.mark.parametrize("geometry", [AXIAL, OBLIQUE, TILTED], ids=["axial", "oblique", "tilted"])
def test_3d_box_shows_in_exactly_the_slices_its_corners_span(geometry):
    lps_min, lps_max = bg.box_from_index(geometry, (8, 12, 15), (14, 25, 33))
    box = Box(lps_min, lps_max)
    for axis in range(3):
        expected = _expected_slices(box, geometry, axis)
        assert set(bg.slices_of(box, geometry, axis)) == expected
        for k in range(-5, geometry.shape_zyx[axis] + 5):
            poly = bg.section_lps(box, geometry, axis, k)
            assert (poly is not None) == (k in expected), (axis, k)
            if poly is None or len(poly) < 3:
                continue
            # every vertex lies on the plane k and on the box surface
            assert np.allclose(geometry.lps_to_index_zyx(poly)[:, axis], k, atol=1e-6)
            assert np.all(poly >= np.array(box.lps_min) - 1e-6) and np.all(poly <= np.array(box.lps_max) + 1e-6)
            on_face = np.isclose(poly, box.lps_min, atol=1e-6) | np.isclose(poly, box.lps_max, atol=1e-6)
            assert on_face.any(axis=1).all()


def test_section_is_the_exact_rectangle_on_axis_aligned_data():
    box = Box(*bg.box_from_index(AXIAL, (8, 12, 15), (14, 25, 33)))
    poly = bg.section_lps(box, AXIAL, 0, 10)
    assert len(poly) == 4
    lo, hi = np.array(box.lps_min), np.array(box.lps_max)
    assert np.allclose(np.sort(poly[:, 0]), [lo[0], lo[0], hi[0], hi[0]])
    assert np.allclose(np.sort(poly[:, 1]), [lo[1], lo[1], hi[1], hi[1]])
    assert np.allclose(poly[:, 2], AXIAL.index_zyx_to_lps((10, 0, 0))[2])
    assert bg.section_lps(box, AXIAL, 0, 7) is None and bg.section_lps(box, AXIAL, 0, 15) is None
    assert bg.section_lps(box, AXIAL, 0, 8) is not None and bg.section_lps(box, AXIAL, 0, 14) is not None


def test_oblique_section_is_a_convex_polygon_of_the_right_area():
    box = Box((-10.0, -10.0, -10.0), (10.0, 10.0, 10.0))
    g = Geometry((41, 41, 41), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), _rotation(30.0, 0.0))
    g = Geometry((41, 41, 41), (1.0, 1.0, 1.0), tuple(-g.index_zyx_to_lps((20, 20, 20))), _rotation(30.0, 0.0))
    centre_k = int(np.rint(g.lps_to_index_zyx((0.0, 0.0, 0.0))[0]))
    poly = bg.section_lps(box, g, 0, centre_k)
    normal, u, v = bg.plane_axes(g, 0)
    uv = np.stack([poly @ u, poly @ v], axis=1)
    area = 0.5 * abs(np.dot(uv[:, 0], np.roll(uv[:, 1], 1)) - np.dot(uv[:, 1], np.roll(uv[:, 0], 1)))
    # a 20 mm cube cut through its centre by a plane tilted 30° about L: 20 × 20/cos(30°)
    assert area == pytest.approx(20 * 20 / np.cos(np.radians(30)), rel=1e-6)


def test_2d_box_shows_only_on_its_own_slice_and_orientation():
    lps_min, lps_max = bg.box_from_index(AXIAL, (10, 12, 15), (10, 25, 33))
    box = Box(lps_min, lps_max, kind="2d", orientation="axial")
    assert list(bg.slices_of(box, AXIAL, 0, "axial")) == [10]
    assert list(bg.slices_of(box, AXIAL, 1, "coronal")) == []
    assert bg.section_lps(box, AXIAL, 0, 10, "axial") is not None
    assert bg.section_lps(box, AXIAL, 0, 11, "axial") is None
    assert bg.section_lps(box, AXIAL, 1, 15, "coronal") is None


def test_handles_are_corners_then_edge_midpoints():
    box = Box(*bg.box_from_index(AXIAL, (8, 12, 15), (14, 25, 33)))
    poly = bg.section_lps(box, AXIAL, 0, 10)
    hs = bg.handles(poly, box)
    assert [len(f) for _, f, _ in hs] == [2, 2, 2, 2, 1, 1, 1, 1]
    faces = {next(iter(f)) for _, f, _ in hs[4:]}
    assert faces == {(0, 0), (0, 1), (1, 0), (1, 1)}  # L and P faces; S is the view normal
