from __future__ import annotations

import glob
import io
import os

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, JPEGLSLossless, RLELossless

import app.io.dicom_pixels as dicom_pixels
from analysis._task import Cancelled, TaskContext
from app.io.dicom_pixels import output_dtype, read_dicom_series
from app.io.dicom_scan import scan_dicom
from app.model.geometry import Geometry


def _shm_files() -> set[str]:
    return set(glob.glob(f"/dev/shm/medws-volume-{os.getpid()}-*"))  # this process only: tests may run in parallel


def _series(folder):
    scan = scan_dicom([folder])
    assert not scan.errors and len(scan.series) == 1
    return scan.series[0]


@pytest.mark.parametrize("workers", [1, 2, None])
def test_synthetic_ct_reads_back_exactly_as_read_only_int16(
    write_series, ct_array, oblique_geometry, tmp_path, workers
):
    write_series(
        ct_array,
        oblique_geometry,
        window=(400.0, 40.0),
        series_description="phantom",
        patient_name="Secret^Person",
        patient_id="ID-SECRET",
    )
    series = _series(tmp_path / "ct")
    image = read_dicom_series(series, workers=workers)
    assert image.dtype == np.int16 and output_dtype(series) == np.int16
    assert np.array_equal(image.array, ct_array)
    assert not image.array.flags.writeable
    assert image.geometry.same_grid(oblique_geometry, tol_mm=1e-3)
    assert image.modality == "CT" and image.units == "HU" and image.name == "phantom"
    meta = image.metadata
    assert meta["window"] == (400.0, 40.0) and meta["series_uid"] == series.series_uid
    assert meta["study_uid"] == series.study_uid and meta["warnings"] == []
    assert "Secret" not in repr(meta) and "ID-SECRET" not in repr(meta)


def test_preview_of_the_middle_slice_comes_before_the_rest(write_series, ct_array, tmp_path):
    write_series(ct_array, Geometry(ct_array.shape))
    events = []
    image = read_dicom_series(
        _series(tmp_path / "ct"),
        ctx=TaskContext(lambda f, m: events.append(("progress", f))),
        on_preview=lambda z, plane: events.append(("preview", z, plane.copy())),
    )
    previews = [e for e in events if e[0] == "preview"]
    assert len(previews) == 1
    _, z, plane = previews[0]
    assert z == 20 and plane.dtype == np.int16 and np.array_equal(plane, ct_array[20])
    before = events[: events.index(previews[0])]
    assert all(e[0] == "progress" and e[1] == 0.0 for e in before)
    assert events[-1][0] == "progress" and np.array_equal(image.array, ct_array)


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless])
def test_compressed_series_decoded_in_worker_processes_into_shared_memory(
    write_series, ct_array, tmp_path, monkeypatch, syntax
):
    write_series(ct_array, Geometry(ct_array.shape), transfer_syntax=syntax)
    monkeypatch.setattr(dicom_pixels, "_PROCESS_MIN_VOXELS", 0)
    before = _shm_files()
    image = read_dicom_series(_series(tmp_path / "ct"), workers=2)
    assert image.dtype == np.int16 and np.array_equal(image.array, ct_array)
    assert _shm_files() == before


@pytest.mark.parametrize("use_processes", [True, False])
def test_cancel_raises_and_leaves_no_shared_memory_file(write_series, ct_array, tmp_path, monkeypatch, use_processes):
    syntax = RLELossless if use_processes else pydicom.uid.ExplicitVRLittleEndian
    write_series(ct_array, Geometry(ct_array.shape), transfer_syntax=syntax)
    monkeypatch.setattr(dicom_pixels, "_PROCESS_MIN_VOXELS", 0)
    cancelled = []
    before = _shm_files()
    with pytest.raises(Cancelled):
        read_dicom_series(
            _series(tmp_path / "ct"),
            ctx=TaskContext(is_cancelled=lambda: bool(cancelled)),
            on_preview=lambda z, plane: cancelled.append(z),
            workers=2,
        )
    assert cancelled == [20]
    assert _shm_files() == before


def test_missing_slices_are_filled_with_the_minimum(write_series, ct_array, tmp_path):
    paths = write_series(ct_array, Geometry(ct_array.shape))
    paths[7].unlink()
    image = read_dicom_series(_series(tmp_path / "ct"))
    assert image.array.shape == ct_array.shape
    assert np.all(image.array[7] == ct_array[np.arange(40) != 7].min())
    assert np.array_equal(image.array[8:], ct_array[8:]) and any("missing" in w for w in image.metadata["warnings"])


def test_non_integer_slope_gives_float32(write_series, tmp_path):
    values = np.linspace(0.0, 10.0, 4 * 8 * 8).reshape(4, 8, 8)
    write_series(values, Geometry(values.shape), modality="MR", rescale_intercept=0.0, rescale_slope=0.01)
    image = read_dicom_series(_series(tmp_path / "ct"))
    assert image.dtype == np.float32
    assert np.allclose(image.array, values, atol=0.006)


def test_per_slice_rescale_gives_float32(write_series, ct_array, tmp_path):
    paths = write_series(ct_array[:4], Geometry((4, 64, 64)))
    ds = pydicom.dcmread(paths[2])
    ds.RescaleIntercept = -1000  # this slice's values shift by +24
    ds.save_as(paths[2])
    image = read_dicom_series(_series(tmp_path / "ct"))
    assert image.dtype == np.float32
    expected = ct_array[:4].astype(np.float32)
    expected[2] += 24
    assert np.array_equal(image.array, expected)


def test_wide_unsigned_storage_narrows_to_int16_from_the_values(write_series, ct_array, tmp_path):
    values = ct_array.copy()
    values[0, 0, 0] = 3500  # > 4095 - 1024: needs 16 stored bits, header range no longer fits int16
    write_series(values, Geometry(values.shape))
    series = _series(tmp_path / "ct")
    assert series.instances[0].pixel_format.bits_stored == 16
    assert output_dtype(series) == np.int32
    image = read_dicom_series(series)
    assert image.dtype == np.int16 and np.array_equal(image.array, values)


def test_large_unsigned_mr_values_give_uint16(write_series, tmp_path):
    values = np.random.default_rng(0).integers(0, 60000, (3, 16, 16)).astype(np.int32)
    write_series(values, Geometry(values.shape), modality="MR")
    image = read_dicom_series(_series(tmp_path / "ct"))
    assert image.dtype == np.uint16 and np.array_equal(image.array, values)


@pytest.mark.parametrize("signed", [False, True])
def test_unused_high_bits_are_masked_or_sign_extended(write_series, tmp_path, signed):
    values = (
        np.arange(-100, 156, dtype=np.int16).reshape(1, 16, 16)
        if signed
        else np.arange(0, 256, dtype=np.int16).reshape(1, 16, 16) * 16
    )
    paths = write_series(values, Geometry(values.shape), modality="MR", rescale_intercept=0)
    ds = pydicom.dcmread(paths[0])
    assert ds.BitsStored == 12 and ds.PixelRepresentation == int(signed)
    stored = np.frombuffer(ds.PixelData, np.uint16).copy()
    stored = (stored & 0x0FFF) | 0x5000  # garbage (e.g. overlay bits) above BitsStored
    ds.PixelData = stored.tobytes()
    ds.save_as(paths[0])
    image = read_dicom_series(_series(tmp_path / "ct"))
    assert np.array_equal(image.array, values)


# ------------------------------------------------------------------ pydicom's own test files
def _pydicom_values(name: str) -> np.ndarray:
    ds = pydicom.dcmread(get_testdata_file(name))
    values = ds.pixel_array.astype(np.float64)
    values = values * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    return values if values.ndim == 3 else values[None]


def _sitk_values(name: str) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(get_testdata_file(name))).astype(np.float64)


LOSSLESS = [
    # (file, uncompressed reference read by pydicom, expected dtype)
    ("CT_small.dcm", "CT_small.dcm", np.int16),
    ("MR_small.dcm", "MR_small.dcm", np.int16),
    ("MR_small_RLE.dcm", "MR_small.dcm", np.int16),
    ("MR_small_jp2klossless.dcm", "MR_small.dcm", np.int16),
    ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm", np.int16),
    ("MR_small_bigendian.dcm", "MR_small.dcm", np.int16),
    ("MR_small_implicit.dcm", "MR_small.dcm", np.int16),
    ("MR_small_expb.dcm", "MR_small.dcm", np.int16),
    ("MR_small_padded.dcm", "MR_small.dcm", np.int16),
    ("emri_small.dcm", "emri_small.dcm", np.int16),
    ("emri_small_RLE.dcm", "emri_small.dcm", np.int16),
    ("emri_small_jpeg_ls_lossless.dcm", "emri_small.dcm", np.int16),
    ("emri_small_big_endian.dcm", "emri_small.dcm", np.int16),
    ("emri_small_jpeg_2k_lossless.dcm", "emri_small.dcm", np.int16),
    ("image_dfl.dcm", "image_dfl.dcm", np.uint8),
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm", np.uint8),
    ("RG1_J2KR.dcm", "RG1_UNCR.dcm", np.int16),
    ("693_J2KR.dcm", "693_UNCR.dcm", np.int16),
    ("JPEG2000_UNC.dcm", "JPEG2000_UNC.dcm", np.int16),
    ("MR-SIEMENS-DICOM-WithOverlays.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", np.int16),
    ("explicit_VR-UN.dcm", "explicit_VR-UN.dcm", np.int16),
]


@pytest.mark.parametrize(("name", "reference", "dtype"), LOSSLESS)
def test_lossless_test_files_match_their_uncompressed_reference(name, reference, dtype):
    series = _series(get_testdata_file(name))
    image = read_dicom_series(series)
    assert image.dtype == dtype
    assert np.array_equal(image.array, _pydicom_values(reference))


@pytest.mark.parametrize(
    ("name", "tolerance"),
    [("JPEG-LL.dcm", 0), ("JPEG2000.dcm", 0), ("JPGExtended.dcm", 1), ("JPEG-lossy.dcm", 1)],
)
def test_jpeg_test_files_match_gdcm(name, tolerance):
    """JPEG-lossy.dcm fails in pylibjpeg (misplaced marker); the reader falls back to GDCM for it."""
    image = read_dicom_series(_series(get_testdata_file(name)))
    assert image.dtype == np.int16
    assert np.abs(image.array - _sitk_values(name)).max() <= tolerance


def test_enhanced_multiframe_ct_frames_follow_position_order():
    image = read_dicom_series(_series(get_testdata_file("eCT_Supplemental.dcm")))
    assert image.dtype == np.int16 and image.modality == "CT"
    assert np.array_equal(image.array, _pydicom_values("eCT_Supplemental.dcm")[::-1] - 1024)
    assert image.metadata["window"] == (102.0, 49.0)


def test_non_integer_rescale_jpeg2000_matches_its_uncompressed_twin():
    image = read_dicom_series(_series(get_testdata_file("MR2_J2KR.dcm")))
    assert image.dtype == np.float32
    assert np.allclose(image.array, _pydicom_values("MR2_UNCR.dcm"), rtol=1e-6, atol=1e-3)


def test_cut_off_encapsulated_pixel_data_is_reported_as_truncated():
    scan = scan_dicom([get_testdata_file("emri_small_jpeg_2k_lossless_too_short.dcm")])
    assert not scan.series and scan.errors[0].reason.startswith("truncated")


def test_grayscale_jpeg_baseline_decodes(write_series, tmp_path):
    plane = (np.add.outer(np.arange(64), np.arange(64)) * 2).astype(np.uint8)
    paths = write_series(plane[None].astype(np.int16), Geometry((1, 64, 64)), modality="MR", rescale_intercept=0)
    buffer = io.BytesIO()
    Image.fromarray(plane, mode="L").save(buffer, format="JPEG", quality=95)
    ds = pydicom.dcmread(paths[0])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.save_as(paths[0], enforce_file_format=True)
    image = read_dicom_series(_series(tmp_path / "ct"))
    assert image.dtype == np.uint8
    reference = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
    assert np.abs(image.array[0].astype(int) - reference).max() <= 2
    assert np.abs(image.array[0].astype(int) - plane).max() <= 8


def test_without_room_in_shared_memory_compressed_series_decode_on_threads(
    write_series, ct_array, tmp_path, monkeypatch
):
    write_series(ct_array, Geometry(ct_array.shape), transfer_syntax=RLELossless)
    monkeypatch.setattr(dicom_pixels, "_PROCESS_MIN_VOXELS", 0)
    monkeypatch.setattr(dicom_pixels, "_SHM_DIR", str(tmp_path / "no-shm-here"))
    image = read_dicom_series(_series(tmp_path / "ct"), workers=2)
    assert np.array_equal(image.array, ct_array)
