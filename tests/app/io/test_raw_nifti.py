"""The uncompressed-NIfTI fast path of ``read_volume`` gives exactly what ITK's reader gives."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from app.io import volume_files
from app.io.volume_files import read_volume


def _itk_read(path):
    image = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(image), image


def _assert_same_as_itk(path, monkeypatch, *, fast: bool) -> None:
    calls = []
    original = volume_files._raw_nifti_voxels
    monkeypatch.setattr(volume_files, "_raw_nifti_voxels",
                        lambda *a, **k: calls.append(r := original(*a, **k)) or r)
    volume = read_volume(path)
    expected, image = _itk_read(path)
    assert bool(calls and calls[0] is not None) == fast
    assert volume.array.dtype == expected.dtype
    np.testing.assert_array_equal(volume.array, expected)
    g = volume.geometry
    assert g.shape_zyx == expected.shape
    np.testing.assert_allclose(g.spacing_zyx_mm, image.GetSpacing()[::-1])
    np.testing.assert_allclose(g.origin_lps_mm, image.GetOrigin())
    np.testing.assert_allclose(np.ravel(g.direction), image.GetDirection())


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint16, np.int32, np.float32, np.float64])
def test_sitk_written_files_read_identically(tmp_path, monkeypatch, dtype):
    rng = np.random.default_rng(3)
    array = (rng.normal(0, 50, (7, 11, 13))).astype(dtype)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 0.8, 2.5))
    image.SetOrigin((-10.0, 20.0, 33.0))
    c, s = np.cos(0.3), np.sin(0.3)
    image.SetDirection((c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0))
    path = tmp_path / "vol.nii"
    sitk.WriteImage(image, str(path))
    _assert_same_as_itk(path, monkeypatch, fast=True)
    assert read_volume(path).array.flags.c_contiguous


def test_big_endian_and_sform_only_files(tmp_path, monkeypatch):
    data = np.arange(4 * 5 * 6, dtype=">i2").reshape(6, 5, 4).T  # nibabel: x, y, z
    affine = np.array([[-0.9, 0.1, 0, 30], [0.1, 0.9, 0, -20], [0, 0, 3.0, 5], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, affine)
    img.set_qform(None, code=0)
    img.set_sform(affine, code=2)
    path = tmp_path / "be.nii"
    header = img.header.copy()
    header.set_data_dtype(">i2")
    nib.Nifti1Image(data, affine, header.as_byteswapped(">")).to_filename(path)
    assert path.read_bytes()[:4] == (348).to_bytes(4, "big")
    _assert_same_as_itk(path, monkeypatch, fast=True)


def test_scaled_4d_and_compressed_files_use_itk(tmp_path, monkeypatch):
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    scaled = nib.Nifti1Image(data, np.eye(4))
    scaled.header.set_slope_inter(2.0, -1.0)
    scaled.to_filename(tmp_path / "scaled.nii")
    _assert_same_as_itk(tmp_path / "scaled.nii", monkeypatch, fast=False)
    assert read_volume(tmp_path / "scaled.nii").array.dtype != np.int16  # ITK applied the scaling
    nib.Nifti1Image(data, np.eye(4)).to_filename(tmp_path / "gz.nii.gz")
    _assert_same_as_itk(tmp_path / "gz.nii.gz", monkeypatch, fast=False)


def test_truncated_file_gives_the_one_line_error(tmp_path):  # ITK's reader alone does not notice
    image = sitk.GetImageFromArray(np.zeros((8, 8, 8), np.int16))
    path = tmp_path / "cut.nii"
    sitk.WriteImage(image, str(path))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(volume_files.MedwsIOError) as err:
        read_volume(path)
    assert "cut.nii" in str(err.value) and "truncated" in str(err.value) and "\n" not in str(err.value)
