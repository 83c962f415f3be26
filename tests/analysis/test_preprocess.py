from __future__ import annotations

import numpy as np
import pytest

from analysis import preprocess as P
from analysis._task import Cancelled, TaskContext

SPACING = (2.0, 1.0, 1.0)


def _cube(noise_sd: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    clean = np.zeros((20, 40, 40), np.float32)
    clean[5:15, 10:30, 10:30] = 100
    noisy = clean + np.random.default_rng(seed).normal(0, noise_sd, clean.shape).astype(np.float32)
    return clean, noisy


@pytest.mark.parametrize("op", ["gaussian", "median", "curvature-flow", "anisotropic-diffusion", "nlm"])
def test_denoisers_reduce_error_and_keep_the_input(op):
    clean, noisy = _cube(noise_sd=10)
    before = noisy.copy()
    out = P.OPS[op].func(noisy, SPACING, **P.OPS[op].defaults)
    assert out.shape == noisy.shape
    assert np.abs(out - clean).mean() < 0.95 * np.abs(noisy - clean).mean()
    assert np.array_equal(noisy, before)


def test_gaussian_sigma_is_in_millimetres():
    impulse = np.zeros((5, 5, 101), np.float32)
    impulse[:, :, 50] = 1  # a plane: the blur along x alone shows sigma
    fine = P.gaussian(impulse, (1, 1, 0.5), sigma_mm=2.0)[2, 2]
    x_mm = (np.arange(101) - 50) * 0.5
    sd_mm = np.sqrt((fine * x_mm**2).sum() / fine.sum())
    assert sd_mm == pytest.approx(2.0, rel=0.1)


def test_median_keeps_integer_dtype_and_removes_salt():
    img = np.full((9, 9, 9), 40, np.int16)
    img[4, 4, 4] = 3000
    out = P.median(img, (1, 1, 1), radius_mm=1)
    assert out.dtype == np.int16 and out[4, 4, 4] == 40


def test_n4_flattens_a_smooth_multiplicative_bias():
    z, y, x = np.mgrid[0:24, 0:48, 0:48].astype(np.float32)
    tissue = np.where((y - 24) ** 2 + (x - 24) ** 2 < 20**2, 100.0, 0.0).astype(np.float32)
    bias = 1.0 + 0.4 * (x / 47.0)  # 40 % left-right shading
    biased = tissue * bias
    out = P.n4_bias_correction(biased, (1, 1, 1), shrink=2, iterations=50)
    inside = tissue > 0

    def cv(a):
        return a[inside].std() / a[inside].mean()

    assert cv(out) < 0.5 * cv(biased)
    assert out[inside].mean() == pytest.approx(biased[inside].mean(), rel=0.05)


def test_intensity_normalisations():
    arr = np.arange(1000, dtype=np.int16).reshape(10, 10, 10)
    z = P.zscore(arr)
    assert z.mean() == pytest.approx(0, abs=1e-4) and z.std() == pytest.approx(1, abs=1e-4)
    clip = P.percentile_clip(arr, low=10, high=90)
    assert clip.min() == 0 and clip.max() == 1 and clip.dtype == np.float32
    win = P.ct_window(np.array([[[-1000, 40, 240, 3000]]], np.int16), width=400, level=40)
    assert win.ravel().tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0])


def test_resample_linear_for_images_nearest_for_labels():
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[2:8, 2:8, 2:8] = 3
    out, spacing = P.resample(labels, (2, 2, 2), new_spacing_zyx_mm=(1, 1, 1), interpolation="nearest")
    assert out.shape == (20, 20, 20) and spacing == (1, 1, 1)
    assert out.dtype == np.uint8 and set(np.unique(out)) == {0, 3}
    # physical volume of the labelled region is preserved (216 voxels of 8 mm³)
    assert abs(int((out == 3).sum()) - 216 * 8) <= 0.1 * 216 * 8
    ramp = np.tile(np.arange(10, dtype=np.float32), (4, 4, 1))
    fine, _ = P.resample(ramp, (1, 1, 1), new_spacing_zyx_mm=(1, 1, 0.5), interpolation="linear")
    assert fine.shape == (4, 4, 20)
    assert fine[0, 0, 4] == pytest.approx(2.0)  # voxel centre 2 mm → halfway between samples 2 and 2
    with pytest.raises(ValueError):
        P.resample(ramp, (1, 1, 1), new_spacing_zyx_mm=(1, 1, 1), interpolation="cubic-ish")


def test_body_box_and_crop():
    ct = np.full((10, 30, 30), -1000, np.int16)
    ct[2:8, 5:25, 8:20] = 40
    ct[0, 0, 0] = 500  # a speck outside the body is ignored
    start, stop = P.body_box(ct, margin_vox=1)
    assert start == (1, 4, 7) and stop == (9, 26, 21)
    assert P.crop_to_box(ct, start, stop).shape == (8, 22, 14)


def test_edges_find_the_cube_faces():
    clean, _ = _cube()
    clean *= 10  # a 1000-unit step
    gm = P.gradient_magnitude(clean, SPACING, sigma_mm=1.0)
    assert gm[10, 20, 10] > 10 * gm[10, 20, 20]  # face vs centre
    sob = P.sobel(clean, SPACING)
    assert sob[10, 20, 10] > 0 and sob[10, 20, 20] == 0
    edges = P.canny(clean, SPACING, sigma_mm=1.0, lower=50, upper=150)
    assert edges.dtype == np.uint8 and edges[10, 20, 9:11].any() and not edges[10, 20, 15:25].any()


def test_cancel_stops_an_itk_filter():
    _, noisy = _cube(noise_sd=10)
    ctx = TaskContext(is_cancelled=lambda: True)
    with pytest.raises(Cancelled):
        P.anisotropic_diffusion(noisy, SPACING, iterations=50, ctx=ctx)


def test_registry_rejects_duplicates():
    with pytest.raises(ValueError):
        P.register_op(P.OPS["gaussian"])
