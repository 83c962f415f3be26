from __future__ import annotations

import time

import numpy as np
import pytest

from analysis.phantom import PHANTOM_LABELS, make_ct_phantom


@pytest.fixture(scope="module")
def phantom():
    return make_ct_phantom()


def test_phantom_has_requested_shape_and_dtypes(phantom):
    ct, labels, names = phantom
    assert ct.shape == labels.shape == (64, 128, 128)
    assert ct.dtype == np.int16
    assert labels.dtype == np.uint8
    assert names == PHANTOM_LABELS
    assert set(names.values()) >= {"body", "lung_left", "lung_right", "bone", "lesion"}


def test_every_label_is_present_and_tissues_have_their_hu(phantom):
    ct, labels, names = phantom
    ids = {v: k for k, v in names.items()}
    assert set(np.unique(labels)) == {0, *names}
    median = {name: float(np.median(ct[labels == i])) for i, name in names.items()}
    assert median["lung_left"] == pytest.approx(-850, abs=10)
    assert median["lung_right"] == pytest.approx(-850, abs=10)
    assert median["bone"] == pytest.approx(700, abs=10)
    assert median["lesion"] == pytest.approx(30, abs=10)
    assert median["heart"] == pytest.approx(40, abs=10)
    assert (ct[labels == 0] == -1000).all()  # air outside the body, no noise
    body = ct[labels == ids["body"]]
    assert ((body > -160) & (body < 100)).mean() > 0.95  # fat rim and soft tissue
    assert (body < -50).mean() > 0.05  # a real fat rim exists


def test_left_lung_lies_on_patient_left_and_spine_posterior(phantom):
    _, labels, names = phantom
    ids = {v: k for k, v in names.items()}
    x_left = np.nonzero(labels == ids["lung_left"])[2].mean()
    x_right = np.nonzero(labels == ids["lung_right"])[2].mean()
    assert x_left > 64 > x_right  # LPS: +x is the patient's left
    y_bone = np.nonzero(labels == ids["bone"])[1]
    y_heart = np.nonzero(labels == ids["heart"])[1].mean()
    assert np.median(y_bone) > y_heart  # spine behind the heart (+y is posterior)


def test_lesions_are_several_separate_spheres_inside_lung_regions(phantom):
    ct, labels, names = phantom
    ids = {v: k for k, v in names.items()}
    lesion = labels == ids["lesion"]
    # Count the separate blobs.
    import SimpleITK as sitk

    cc = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(lesion.astype(np.uint8))))
    sizes = np.bincount(cc.ravel())[1:]
    assert len(sizes) >= 3
    assert len(set(sizes.tolist())) == len(sizes)  # different sizes
    # Every lesion voxel is surrounded by lung or lesion in-plane (it sits inside a lung).
    zs, ys, xs = np.nonzero(lesion)
    around = labels[zs, ys, np.clip(xs + 8, 0, 127)]
    assert np.isin(around, [ids["lung_left"], ids["lung_right"], ids["lesion"]]).mean() > 0.9


def test_same_seed_gives_same_phantom_and_other_seed_differs():
    a = make_ct_phantom((16, 32, 32), (2.0, 2.0, 2.0), seed=3)
    b = make_ct_phantom((16, 32, 32), (2.0, 2.0, 2.0), seed=3)
    c = make_ct_phantom((16, 32, 32), (2.0, 2.0, 2.0), seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_large_phantom_builds_in_under_a_second():
    make_ct_phantom((16, 32, 32))  # warm up
    start = time.perf_counter()
    ct, labels, _ = make_ct_phantom((128, 256, 256), (2.5, 1.5, 1.5))
    elapsed = time.perf_counter() - start
    assert ct.shape == (128, 256, 256)
    assert elapsed < 2.0, f"phantom took {elapsed:.2f} s"  # < 1 s on a developer machine; CI slack


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError):
        make_ct_phantom((4, 32, 32))
    with pytest.raises(ValueError):
        make_ct_phantom((16, 32, 32), (0.0, 1.0, 1.0))
