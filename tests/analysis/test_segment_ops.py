from __future__ import annotations

import numpy as np
import pytest

from analysis._brush import kernel_half_widths, polygon_mask_2d, sphere_kernel, stamp, stroke_points
from analysis._task import Cancelled, TaskContext
from analysis.morphology import hollow, margin, smooth, smooth_joint
from analysis.segment_ops import (
    auto_threshold_range,
    connected_components,
    connected_threshold,
    flood_fill,
    grow_from_seeds,
    interpolate_slices,
    island_at,
    keep_largest_island,
    level_trace_2d,
    mask_box,
    remove_small_islands,
    segment_statistics,
)


def _ball(shape, centre, radius, spacing=(1, 1, 1)):
    zz, yy, xx = np.indices(shape)
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip((zz, yy, xx), centre, spacing, strict=True))
    return d2 <= radius**2


def test_sphere_kernel_is_round_in_mm_on_anisotropic_grid():
    k = sphere_kernel(4.0, (2.0, 1.0, 0.5))
    assert k.shape == (5, 9, 17)
    assert kernel_half_widths(4.0, (2.0, 1.0, 0.5)) == (2, 4, 8)
    assert k[2, 4, 0] and k[2, 4, 16] and k[0, 4, 8] and k[2, 0, 8]
    assert not k[0, 0, 8]
    assert not k.flags.writeable
    assert sphere_kernel(4.0, (2.0, 1.0, 0.5)) is k  # cached


def test_disc_kernel_is_one_voxel_thick_along_view_axis():
    k = sphere_kernel(3.0, (1.0, 1.0, 1.0), plane_axis=1)
    assert k.shape == (7, 1, 7)
    assert k.sum() == 29


def test_stroke_points_overlap_and_end_at_target():
    pts = stroke_points((0, 0, 0), (0, 0, 40), (4, 4, 4))
    assert tuple(pts[-1]) == (0, 0, 40)
    assert np.all(np.diff(pts[:, 2]) <= 2)
    assert len(stroke_points((1, 1, 1), (1, 1, 2), (4, 4, 4))) == 1


def test_stamp_unions_kernels():
    k = sphere_kernel(1.0, (1, 1, 1))
    box, mask = stamp(np.array([[5, 5, 5], [5, 5, 8]]), k)
    assert box == (slice(4, 7), slice(4, 7), slice(4, 10))
    assert mask.sum() == 14


def test_polygon_mask_square_and_triangle():
    sq = polygon_mask_2d([[2, 2], [2, 6], [6, 6], [6, 2]], (10, 10))
    assert sq.sum() == 25 and sq[2:7, 2:7].all()
    tri = polygon_mask_2d([[0, 0], [0, 8], [8, 0]], (10, 10))
    assert tri[1, 1] and not tri[7, 7]


def test_margin_2mm_on_anisotropic_grid_is_exact_in_mm():
    m = np.zeros((9, 15, 15), bool)
    m[4, 7, 7] = True
    grown = margin(m, 2.0, (3.0, 1.0, 1.0))
    # in-plane: a disc of radius 2 mm (13 voxels); along z the 3 mm step is beyond 2 mm
    assert grown[4].sum() == 13
    assert grown.sum() == 13
    grown4 = margin(m, 3.0, (3.0, 1.0, 1.0))
    assert grown4[3, 7, 7] and grown4[5, 7, 7] and not grown4[3, 7, 8]


def test_margin_shrink_is_complement_of_grow():
    spacing = (3.0, 1.0, 1.0)
    ball = _ball((15, 31, 31), (7, 15, 15), 12.0, spacing)
    shrunk = margin(ball, -2.0, spacing)
    expected = _ball((15, 31, 31), (7, 15, 15), 10.0, spacing)
    assert shrunk.sum() <= ball.sum()
    # boundary voxels may differ by discretisation, but never by more than a shell
    assert (shrunk ^ expected).sum() < 0.2 * expected.sum()
    assert not (shrunk & ~ball).any()


def test_hollow_inside_shell():
    cube = np.zeros((12, 12, 12), bool)
    cube[2:10, 2:10, 2:10] = True
    shell = hollow(cube, 1.0, (1, 1, 1))
    assert shell.sum() == 8**3 - 6**3
    assert not shell[5, 5, 5]


def test_fill_between_two_discs_gives_the_cylinder():
    m = np.zeros((11, 21, 21), bool)
    disc = _ball((1, 21, 21), (0, 10, 10), 5.0)[0]
    m[2] = disc
    m[8] = disc
    out = interpolate_slices(m, 0, (2.0, 1.0, 1.0))
    for z in range(2, 9):
        assert np.array_equal(out[z], disc), z
    assert not out[:2].any() and not out[9:].any()


def test_fill_between_discs_of_different_radius_interpolates_radius():
    m = np.zeros((5, 41, 41), bool)
    m[0] = _ball((1, 41, 41), (0, 20, 20), 4.0)[0]
    m[4] = _ball((1, 41, 41), (0, 20, 20), 12.0)[0]
    out = interpolate_slices(m, 0, (1.0, 1.0, 1.0))
    areas = [out[z].sum() for z in range(5)]
    assert areas == sorted(areas)
    r_mid = np.sqrt(areas[2] / np.pi)
    assert 7.0 < r_mid < 9.0


def test_islands():
    m = np.zeros((10, 20, 20), bool)
    m[1:4, 1:4, 1:4] = True  # 27
    m[5:9, 10:18, 10:18] = True  # 256
    m[8, 1, 18] = True  # 1
    assert keep_largest_island(m).sum() == 256
    assert remove_small_islands(m, 10).sum() == 283
    assert island_at(m, (2, 2, 2)).sum() == 27
    assert not island_at(m, (0, 0, 0)).any()


def test_smoothing_opening_removes_spur_and_closing_fills_hole():
    cube = np.zeros((20, 20, 20), bool)
    cube[4:16, 4:16, 4:16] = True
    spur = cube.copy()
    spur[10, 10, 16:19] = True
    assert not smooth(spur, "opening", 2.0, (1, 1, 1))[10, 10, 17]
    holed = cube.copy()
    holed[10, 10, 10] = False
    assert smooth(holed, "closing", 2.0, (1, 1, 1))[10, 10, 10]
    assert smooth(holed, "median", 1.0, (1, 1, 1))[10, 10, 10]
    g = smooth(spur, "gaussian", 1.0, (1, 1, 1))
    assert g[10, 10, 10] and not g[10, 10, 18]
    with pytest.raises(ValueError):
        smooth(cube, "bogus", 1.0, (1, 1, 1))


def test_joint_smoothing_keeps_segments_adjacent():
    labels = np.zeros((10, 20, 20), np.uint8)
    labels[2:8, 2:18, 2:10] = 1
    labels[2:8, 2:18, 10:18] = 2
    labels[5, 5, 12] = 1  # a speck of 1 inside 2
    out = smooth_joint(labels, [1, 2], 1.0, (1, 1, 1))
    assert out[5, 5, 12] == 2
    assert (out == 1).sum() > 300 and (out == 2).sum() > 300


def test_connected_threshold_and_flood_fill_2d_and_3d():
    img = np.zeros((5, 10, 10), np.float32)
    img[:, 2:5, 2:5] = 100
    img[:, 6:9, 6:9] = 100
    region3d = connected_threshold(img, (2, 3, 3), 50, 150)
    assert region3d.sum() == 45
    region2d = flood_fill(img[2], (3, 3), 10)
    assert region2d.sum() == 9
    assert not connected_threshold(img, (2, 0, 0), 50, 150).any()


def test_level_trace_fills_the_contour_at_clicked_value():
    img = np.zeros((20, 20), np.float32)
    img[5:15, 5:15] = 100
    img[8:10, 8:10] = 50  # a darker hole inside: filled by tracing the outer contour
    region = level_trace_2d(img, (6, 6))
    assert region.sum() == 100


def test_grow_from_seeds_splits_two_regions_and_updates_with_more_seeds():
    img = np.zeros((10, 30, 30), np.float32)
    img[:, :, 15:] = 100
    seeds = np.zeros(img.shape, np.uint8)
    seeds[5, 15, 5] = 1
    seeds[5, 15, 25] = 2
    box, grown = grow_from_seeds(img, seeds, (1, 1, 1), margin_fraction=10)
    full = np.zeros_like(seeds)
    full[box] = grown
    inner = full[:, 6:25]
    assert (inner[:, :, :14] == 1).all() and (inner[:, :, 16:] == 2).all()
    assert grow_from_seeds(img, seeds * (seeds == 1), (1, 1, 1)) is None
    seeds[5, 15, 20] = 3
    _, grown2 = grow_from_seeds(img, seeds, (1, 1, 1), margin_fraction=10)
    assert (grown2 == 3).any()


def test_grow_from_seeds_cancel():
    img = np.random.default_rng(0).normal(size=(10, 30, 30)).astype(np.float32)
    seeds = np.zeros(img.shape, np.uint8)
    seeds[5, 5, 5], seeds[5, 25, 25] = 1, 2
    with pytest.raises(Cancelled):
        grow_from_seeds(img, seeds, (1, 1, 1), ctx=TaskContext(is_cancelled=lambda: True))


def test_auto_threshold_otsu_and_percentile():
    rng = np.random.default_rng(1)
    img = np.concatenate([rng.normal(0, 5, 5000), rng.normal(200, 5, 5000)]).reshape(10, 10, 100)
    lo, hi = auto_threshold_range(img, "otsu")
    assert 10 < lo < 190 and hi == pytest.approx(img.max())
    lo, hi = auto_threshold_range(img, "percentile", lower_percentile=50, upper_percentile=100)
    assert hi == pytest.approx(img.max())


def test_segment_statistics_known_values():
    labels = np.zeros((4, 5, 6), np.uint8)
    labels[1:3, 1:4, 2:5] = 1  # 18 voxels
    labels[0, 0, 0] = 2
    image = np.zeros(labels.shape, np.float32)
    image[labels == 1] = 10
    image[1, 1, 2] = 28
    stats = segment_statistics(labels, image, (2.0, 0.5, 0.5))
    s = stats[1]
    assert s.voxel_count == 18
    assert s.volume_ml == pytest.approx(18 * 0.5 / 1000)
    assert s.mean == pytest.approx(11.0)
    assert s.std == pytest.approx(np.sqrt(18.0))
    assert s.box_zyx == (slice(1, 3), slice(1, 4), slice(2, 5))
    assert stats[2].voxel_count == 1
    assert segment_statistics(labels, None, (1, 1, 1))[1].mean is None


def test_mask_box():
    m = np.zeros((5, 5, 5), bool)
    assert mask_box(m) is None
    m[2, 3, 4] = True
    assert mask_box(m, (1, 1, 1)) == (slice(1, 4), slice(2, 5), slice(3, 5))


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (3.0, 0.7, 0.7), (1.25, 0.5, 2.0)])
@pytest.mark.parametrize("radius", [0.6, 2.0, 3.3])
def test_dilate_ball_surface_stamping_equals_the_distance_map(monkeypatch, spacing, radius):
    import analysis.morphology as ops

    rng = np.random.default_rng(int(radius * 10))
    m = rng.random((12, 20, 18)) > 0.93
    m[3:8, 5:15, 4:12] = True
    fast = ops.dilate_ball(m, radius, spacing)
    monkeypatch.setattr(ops, "SCATTER_LIMIT", 0)  # force the Maurer distance map
    slow = ops.dilate_ball(m, radius, spacing)
    assert np.array_equal(fast, slow)
    assert (fast & m).sum() == m.sum()


def test_median_majority_vote_matches_itk_binary_median_inside():
    import SimpleITK as sitk

    rng = np.random.default_rng(3)
    m = rng.random((14, 16, 18)) > 0.5
    ours = smooth(m, "median", 1.0, (1.0, 1.0, 1.0))
    f = sitk.BinaryMedianImageFilter()
    f.SetRadius([1, 1, 1])
    f.SetForegroundValue(1)
    theirs = sitk.GetArrayFromImage(f.Execute(sitk.GetImageFromArray(m.astype(np.uint8)))) > 0
    inner = (slice(1, -1),) * 3  # ITK replicates the border; we count outside as background
    assert np.array_equal(ours[inner], theirs[inner])


def test_box_sum_counts_exactly():
    from analysis.morphology import box_sum

    m = np.zeros((5, 6, 7), bool)
    m[2, 3, 3] = True
    m[0, 0, 0] = True
    s = box_sum(m, (1, 2, 0))
    assert s[2, 3, 3] == 1 and s[1, 1, 3] == 1 and s[1, 0, 3] == 0 and s[0, 2, 0] == 1 and s.sum() == 3 * 5 + 2 * 3


def test_fill_between_a_square_and_a_disc_gives_their_morphological_median():
    yy, xx = np.indices((40, 40))
    square = np.zeros((40, 40), bool)
    square[10:30, 10:30] = True
    disc = (yy - 19.5) ** 2 + (xx - 19.5) ** 2 <= 64
    m = np.zeros((9, 40, 40), bool)
    m[0], m[8] = square, disc
    out = interpolate_slices(m, 0, (1.0, 1.0, 1.0))
    assert np.array_equal(out[0], square) and np.array_equal(out[8], disc)
    areas = [int(out[z].sum()) for z in range(9)]
    assert areas == sorted(areas, reverse=True) and areas[0] > areas[1] and areas[7] > areas[8]
    mid = out[4]
    assert (disc & ~mid).sum() == 0 and (mid & ~square).sum() == 0  # between the two shapes
    d_square, d_disc = (mid ^ square).sum(), (mid ^ disc).sum()
    assert abs(d_square - d_disc) <= 0.1 * (square ^ disc).sum()  # halfway between them
    for z in range(1, 8):  # every interpolated slice is one 4-connected shape
        assert connected_components(out[z][None], fully_connected=False).max() == 1


def test_fill_between_shapes_that_do_not_overlap_moves_the_shape():
    yy, xx = np.indices((30, 50))
    m = np.zeros((5, 30, 50), bool)
    m[0] = (yy - 15) ** 2 + (xx - 10) ** 2 <= 25
    m[4] = (yy - 15) ** 2 + (xx - 40) ** 2 <= 25
    out = interpolate_slices(m, 0, (1.0, 1.0, 1.0))
    centre = np.argwhere(out[2]).mean(axis=0)
    assert np.allclose(centre, (15, 25), atol=0.5)
    assert np.array_equal(out[2], (yy - 15) ** 2 + (xx - 25) ** 2 <= 25)  # the same disc, halfway
    cols = [np.argwhere(out[z])[:, 1].mean() for z in range(5)]
    assert cols == sorted(cols)
    # the distance blend of the same input leaves the middle empty: it cannot follow a moving shape
    assert not interpolate_slices(m, 0, (1.0, 1.0, 1.0), method="distance")[2].any()
