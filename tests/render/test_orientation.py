from __future__ import annotations

import numpy as np
import pytest

from app.model.geometry import Geometry
from render.orientation import SLICE_KINDS, ViewKind, orientation_letters, slice_axes


def test_axis_aligned_views_follow_radiological_convention():
    g = Geometry((10, 20, 30), (3.0, 1.0, 1.0))
    letters = {k: slice_axes(g, k).letters() for k in SLICE_KINDS}
    assert letters[ViewKind.AXIAL] == {"right": "L", "left": "R", "top": "A", "bottom": "P"}
    assert letters[ViewKind.CORONAL] == {"right": "L", "left": "R", "top": "S", "bottom": "I"}
    assert letters[ViewKind.SAGITTAL] == {"right": "P", "left": "A", "top": "S", "bottom": "I"}
    assert [slice_axes(g, k).slice_axis_zyx for k in SLICE_KINDS] == [0, 1, 2]
    assert [slice_axes(g, k).n_slices for k in SLICE_KINDS] == [10, 20, 30]


def test_screen_axes_are_right_handed_unit_vectors():
    c, s = np.cos(0.3), np.sin(0.3)
    g = Geometry((10, 20, 30), direction=(c, 0, s, 0, 1, 0, -s, 0, c))
    for kind in SLICE_KINDS:
        a = slice_axes(g, kind)
        assert np.allclose(np.cross(a.view_direction_lps, a.up_lps), a.right_lps)
        for v in (a.right_lps, a.up_lps, a.view_direction_lps):
            assert np.linalg.norm(v) == pytest.approx(1.0)


def test_oblique_data_gets_combined_letters():
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    g = Geometry((10, 20, 30), direction=(c, -s, 0, s, c, 0, 0, 0, 1))  # x axis points left + posterior
    letters = slice_axes(g, ViewKind.AXIAL).letters()
    assert letters["right"] == "LP" and letters["left"] == "RA"
    assert letters["top"] == "AL" and letters["bottom"] == "PR"


def test_each_view_gets_its_own_index_axis_even_at_45_degrees():
    c = np.cos(np.radians(45))
    g = Geometry((10, 20, 30), direction=(c, -c, 0, c, c, 0, 0, 0, 1))
    axes = {slice_axes(g, k).slice_axis_zyx for k in SLICE_KINDS}
    assert axes == {0, 1, 2}


@pytest.mark.parametrize(("vector", "expected"), [
    ((1, 0, 0), "L"), ((-1, 0, 0), "R"), ((0, 1, 0), "P"), ((0, -1, 0), "A"),
    ((0, 0, 1), "S"), ((0, 0, -1), "I"), ((0.8, 0, -0.6), "LI"),
])
def test_orientation_letters(vector, expected):
    assert orientation_letters(np.array(vector, dtype=float)) == expected
