from __future__ import annotations

import os

import numpy as np
import pytest
import SimpleITK as sitk

from app.io.errors import MedwsIOError
from app.io.volume_files import is_volume_file, read_volume, volume_suffix, write_volume
from app.model.geometry import Geometry

OBLIQUE = Geometry((4, 5, 6), (2.0, 1.0, 0.5), (10.0, -20.0, 30.0), (0, 1, 0, 1, 0, 0, 0, 0, -1))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha", ".seg.nrrd"])
def test_round_trip_keeps_values_dtype_and_lps_geometry(tmp_path, suffix):
    arr = (np.arange(120, dtype=np.int16) - 60).reshape(4, 5, 6)
    path = write_volume(arr, OBLIQUE, tmp_path / f"vol{suffix}")
    assert volume_suffix(path) == suffix and is_volume_file(path)
    img = read_volume(path)
    assert img.dtype == np.int16 and np.array_equal(img.array, arr)
    assert img.geometry.same_grid(OBLIQUE)
    assert not img.array.flags.writeable
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left


def test_nifti_header_holds_ras_while_medws_sees_lps(tmp_path):
    path = write_volume(np.zeros((4, 5, 6), np.uint8), OBLIQUE, tmp_path / "v.nii.gz")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    # NIfTI stores RAS: L and P are negated relative to the LPS origin (10, -20, 30)
    assert [float(reader.GetMetaData(f"qoffset_{a}")) for a in "xyz"] == [-10.0, 20.0, 30.0]
    assert np.allclose(read_volume(path).geometry.origin_lps_mm, (10, -20, 30))


def test_unreadable_and_wrong_files_give_one_line_errors(tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not a nifti at all")
    with pytest.raises(MedwsIOError) as info:
        read_volume(bad)
    assert str(info.value).startswith(str(bad)) and "\n" not in str(info.value)
    with pytest.raises(MedwsIOError, match="no such file"):
        read_volume(tmp_path / "missing.nrrd")
    img2d = sitk.Image(4, 4, sitk.sitkUInt8)
    sitk.WriteImage(img2d, str(tmp_path / "flat.nrrd"))
    with pytest.raises(MedwsIOError, match="3-D"):
        read_volume(tmp_path / "flat.nrrd")


def test_write_refuses_unknown_suffix_and_keeps_existing_file(tmp_path):
    target = tmp_path / "keep.nrrd"
    write_volume(np.ones((2, 2, 2), np.uint8), Geometry((2, 2, 2)), target)
    before = target.read_bytes()
    with pytest.raises(MedwsIOError):
        write_volume(np.ones((2, 2, 3), np.uint8), Geometry((2, 2, 2)), target)  # shape mismatch
    with pytest.raises(MedwsIOError):
        write_volume(np.ones((2, 2, 2), np.uint8), Geometry((2, 2, 2)), tmp_path / "x.png")
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.nrrd"]
