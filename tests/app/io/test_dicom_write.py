from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from app.io.dicom_write import choose_stored_encoding, write_dicom_series
from app.model.geometry import Geometry


def _sitk_read(paths):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in paths])
    return reader.Execute()


@pytest.mark.parametrize(
    "syntax",
    [
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        ExplicitVRBigEndian,
        RLELossless,
        JPEGLSLossless,
        JPEG2000Lossless,
    ],
)
def test_written_series_reads_back_in_simpleitk_with_values_and_geometry(
    write_series, ct_array, oblique_geometry, syntax
):
    paths = write_series(ct_array, oblique_geometry, transfer_syntax=syntax)
    image = _sitk_read(paths)
    assert np.array_equal(sitk.GetArrayFromImage(image), ct_array)
    assert np.allclose(image.GetOrigin(), oblique_geometry.origin_lps_mm, atol=1e-4)
    assert np.allclose(image.GetDirection(), oblique_geometry.direction, atol=1e-5)
    assert np.allclose(image.GetSpacing(), oblique_geometry.spacing_zyx_mm[::-1], atol=1e-4)
    assert str(pydicom.dcmread(paths[0]).file_meta.TransferSyntaxUID) == syntax


def test_headers_follow_the_geometry(write_series, ct_array, oblique_geometry):
    paths = write_series(ct_array, oblique_geometry, window=(400.0, 40.0), series_description="abdomen")
    first, last = pydicom.dcmread(paths[0]), pydicom.dcmread(paths[-1])
    d = oblique_geometry.direction_matrix
    assert np.allclose([float(v) for v in first.ImageOrientationPatient], [*d[:, 0], *d[:, 1]], atol=1e-6)
    assert [float(v) for v in first.PixelSpacing] == [0.8, 0.7]  # row spacing (y) \ column spacing (x)
    assert float(first.SliceThickness) == pytest.approx(2.5)
    assert float(first.SpacingBetweenSlices) == pytest.approx(2.5)
    lps_last = oblique_geometry.index_zyx_to_lps([39, 0, 0])
    assert np.allclose([float(v) for v in last.ImagePositionPatient], lps_last, atol=1e-4)
    assert (first.InstanceNumber, last.InstanceNumber) == (1, 40)
    assert (float(first.WindowCenter), float(first.WindowWidth)) == (40.0, 400.0)
    assert first.SeriesDescription == "abdomen"
    assert first.FrameOfReferenceUID == last.FrameOfReferenceUID
    assert first.SeriesInstanceUID == last.SeriesInstanceUID != first.SOPInstanceUID
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    # CT default: unsigned 12-bit storage with a -1024 intercept, like most scanners
    assert (first.PixelRepresentation, first.BitsStored, float(first.RescaleIntercept)) == (0, 12, -1024.0)


def test_uids_are_deterministic_with_a_seed_and_unique_without(tmp_path, ct_array, oblique_geometry):
    a = write_dicom_series(ct_array[:2], oblique_geometry.with_shape((2, 64, 64)), tmp_path / "a", uid_seed="s")
    b = write_dicom_series(ct_array[:2], oblique_geometry.with_shape((2, 64, 64)), tmp_path / "b", uid_seed="s")
    c = write_dicom_series(ct_array[:2], oblique_geometry.with_shape((2, 64, 64)), tmp_path / "c")
    uids = [[pydicom.dcmread(p).SOPInstanceUID for p in paths] for paths in (a, b, c)]
    assert uids[0] == uids[1] and not set(uids[0]) & set(uids[2])
    assert len(set(uids[0])) == 2


def test_shuffled_names_hide_the_order_and_no_temp_files_remain(tmp_path, ct_array, oblique_geometry):
    paths = write_dicom_series(ct_array, oblique_geometry, tmp_path / "s", file_names="shuffled", uid_seed="x")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted(p.name for p in paths)
    assert [p.name for p in paths] != sorted(p.name for p in paths)
    assert [pydicom.dcmread(p).InstanceNumber for p in paths] == list(range(1, 41))


def test_gantry_tilt_writes_sheared_positions_and_tilt_tag(write_series, ct_array, tilted_geometry):
    paths = write_series(ct_array, tilted_geometry)
    ds = pydicom.dcmread(paths[1])
    assert float(ds.GantryDetectorTilt) == pytest.approx(15.0, abs=1e-3)
    assert float(ds.SpacingBetweenSlices) == pytest.approx(2.0 * np.cos(np.radians(15)), abs=1e-6)
    assert np.allclose(
        [float(v) for v in ds.ImagePositionPatient], tilted_geometry.index_zyx_to_lps([1, 0, 0]), atol=1e-4
    )


@pytest.mark.parametrize(
    ("values", "modality", "expected"),
    [
        ([-1024, 3071], "CT", (-1024.0, 0, 12)),
        ([-2000, 100], "CT", (0.0, 1, 12)),
        ([-3000, 100], "CT", (0.0, 1, 16)),
        ([0, 4095], "MR", (0.0, 0, 12)),
        ([0, 60000], "MR", (0.0, 0, 16)),
    ],
)
def test_stored_encoding_is_exact(values, modality, expected):
    array = np.array(values, dtype=np.int32)
    stored, intercept, slope, bits, rep = choose_stored_encoding(array, modality, None, 1.0)
    assert (intercept, rep, bits) == expected
    assert np.array_equal(stored.astype(np.int64) * slope + intercept, array)


def test_bad_arguments_raise_value_error(tmp_path):
    g = Geometry((2, 3, 4))
    with pytest.raises(ValueError, match="shape"):
        write_dicom_series(np.zeros((2, 3, 5)), g, tmp_path)
    with pytest.raises(ValueError, match="modality"):
        write_dicom_series(np.zeros((2, 3, 4)), g, tmp_path, modality="PT")
    with pytest.raises(ValueError, match="16-bit"):
        write_dicom_series(np.full((2, 3, 4), 1e9), g, tmp_path, rescale_intercept=0)
