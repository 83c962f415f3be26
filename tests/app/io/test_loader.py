from __future__ import annotations

import json
import shutil
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from app.io.errors import MedwsIOError, NoImageError
from app.io.loader import info_records, load_first_image, load_path
from app.model.geometry import Geometry


def _write_nifti(array: np.ndarray, geometry: Geometry, path: Path) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(geometry.spacing_zyx_mm[::-1])
    image.SetOrigin(geometry.origin_lps_mm)
    image.SetDirection(geometry.direction)
    sitk.WriteImage(image, str(path))
    return path


def test_folder_with_two_series_junk_and_a_structure_set(write_series, ct_array, oblique_geometry, tmp_path):
    write_series(ct_array, oblique_geometry, subdir="study/ct", series_number=2, window=(400.0, 40.0))
    mr = np.random.default_rng(0).integers(0, 900, (6, 32, 32)).astype(np.int16)
    write_series(mr, Geometry(mr.shape, (3.0, 1.0, 1.0)), subdir="study/mr", modality="MR", series_number=1)
    (tmp_path / "study" / "ct" / "broken.dcm").write_bytes(b"DICM" * 10)
    (tmp_path / "study" / "readme.txt").write_text("hello")
    shutil.copy(get_testdata_file("rtstruct.dcm"), tmp_path / "study" / "rs.dcm")

    result = load_path(tmp_path / "study")
    assert [im.modality for im in result.images] == ["MR", "CT"]  # series-number order
    assert np.array_equal(result.images[1].array, ct_array) and np.array_equal(result.images[0].array, mr)
    assert sorted(Path(e.path).name for e in result.errors) == ["broken.dcm", "readme.txt"]
    assert [o.kind for o in result.non_image] == ["RTSTRUCT"]
    records = result.to_records()
    json.dumps(records)
    ct = records[1]
    assert ct["modality"] == "CT" and ct["dtype"] == "int16" and ct["n_files"] == 40
    assert ct["shape_zyx"] == [40, 64, 64] and len(ct["direction"]) == 9
    assert np.allclose(ct["spacing_zyx_mm"], [2.5, 0.8, 0.7]) and ct["errors"] == [] and ct["warnings"] == []
    assert np.allclose(ct["origin_lps_mm"], oblique_geometry.origin_lps_mm, atol=1e-3)
    assert "Anonymous" not in json.dumps(records) and "MEDWS0001" not in json.dumps(records)


def test_dicom_and_nifti_of_the_same_volume_agree_voxel_for_voxel_in_lps(
    write_series, ct_array, oblique_geometry, tmp_path
):
    write_series(ct_array, oblique_geometry, file_names="shuffled")
    nifti = _write_nifti(ct_array, oblique_geometry, tmp_path / "ct.nii.gz")
    dicom_image = load_first_image(tmp_path / "ct")
    nifti_image = load_first_image(nifti)
    assert dicom_image.geometry.same_grid(nifti_image.geometry, tol_mm=1e-3)
    assert np.array_equal(dicom_image.array, nifti_image.array)
    # and sample by physical position: the same LPS point holds the same value in both
    rng = np.random.default_rng(5)
    lps_mm = dicom_image.geometry.index_zyx_to_lps(rng.integers(0, 40, (50, 3)) + rng.uniform(-0.4, 0.4, (50, 3)))
    for point in lps_mm:
        a = np.rint(dicom_image.geometry.lps_to_index_zyx(point)).astype(int)
        b = np.rint(nifti_image.geometry.lps_to_index_zyx(point)).astype(int)
        assert np.array_equal(a, b) and dicom_image.array[tuple(a)] == nifti_image.array[tuple(b)]
    record = load_path(nifti).to_records()[0]
    assert record["source"] == "nii.gz" and record["n_files"] == 1


def test_preview_is_forwarded_for_the_first_series(write_series, ct_array, tmp_path):
    write_series(ct_array, Geometry(ct_array.shape))
    seen = []
    load_path(tmp_path / "ct", on_preview=lambda z, plane: seen.append((z, plane.shape)))
    assert seen == [(20, (64, 64))]


def test_nothing_loadable_raises_no_image_error(tmp_path):
    (tmp_path / "a.dcm").write_bytes(b"\0" * 200)
    with pytest.raises(NoImageError, match="a.dcm"):
        load_first_image(tmp_path)
    with pytest.raises(MedwsIOError, match="no such file"):
        load_path(tmp_path / "missing")


def test_info_records_describe_series_without_reading_pixels(write_series, ct_array, tmp_path):
    paths = write_series(ct_array, Geometry(ct_array.shape))
    with open(paths[3], "r+b") as fh:  # corrupt pixel bytes only: headers stay valid
        fh.seek(-100, 2)
        fh.write(b"\xff" * 100)
    (tmp_path / "ct" / "junk.dcm").write_bytes(b"junk")
    records = info_records(tmp_path / "ct")
    assert records[0]["dtype"] == "int16" and records[0]["shape_zyx"] == [40, 64, 64]
    assert records[1]["path"].endswith("junk.dcm") and "not a DICOM" in records[1]["error"]


# ------------------------------------------------------------------ fuzzing real DICOM bytes
_FUZZ_FILES = {name: Path(get_testdata_file(name)).read_bytes() for name in ("CT_small.dcm", "MR_small_RLE.dcm")}

_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.integers(0, 255)),
    # flips concentrated on the header, where lengths and VRs live
    st.tuples(st.just("flip"), st.integers(128, 1200), st.integers(0, 255)),
)


def _mutate(data: bytes, mutations) -> bytes:
    buf = bytearray(data)
    for kind, pos, value in mutations:
        pos = pos % max(1, len(buf))
        if kind == "flip" and buf:
            buf[pos] ^= value or 1
        elif kind == "truncate":
            del buf[pos:]
        else:
            buf[pos:pos] = bytes([value]) * (1 + value % 7)
    return bytes(buf)


class _Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Hang("loading a mutated file took more than 10 s")


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="the hang guard needs SIGALRM (POSIX)")
@pytest.mark.parametrize("name", sorted(_FUZZ_FILES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(_mutation, min_size=1, max_size=4))
@example(mutations=[("flip", 340, 0)])  # CT_small: VR "CS" -> "BS" (was a NotImplementedError)
# MR_small_RLE: a damaged RLE frame used to be retried through GDCM, which took 2-10+ s to fail
@example(mutations=[("flip", 13084, 80), ("truncate", 3600, 0), ("insert", 6279, 138), ("flip", 42, 241)])
def test_mutated_real_dicom_never_raises_undocumented_errors(name, mutations):
    """Scanning and loading damaged bytes only ever reports MedwsIOError (RLE panics included)."""
    data = _mutate(_FUZZ_FILES[name], mutations)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mutated.dcm"
        path.write_bytes(data)
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(10)
        try:
            result = load_path(folder)
        except MedwsIOError:
            return
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    assert len(result.images) + len(result.errors) + len(result.non_image) >= 1
    for error in result.errors:
        assert isinstance(error, MedwsIOError) and "\n" not in str(error)
    for image in result.images:
        assert image.array.ndim == 3 and not image.array.flags.writeable


def test_phantom_fixture_is_realistic(ct_array):
    assert ct_array.dtype == np.int16 and ct_array.min() >= -1024 and ct_array.max() > 500
    assert len(np.unique(ct_array)) > 50


def test_a_single_dicom_file_loads_as_a_one_slice_series():
    result = load_path(get_testdata_file("CT_small.dcm"))
    assert [im.geometry.shape_zyx for im in result.images] == [(1, 128, 128)]
    assert result.images[0].dtype == np.int16 and result.to_records()[0]["n_files"] == 1


def test_pointing_at_a_dicomdir_scans_its_media_folder():
    result = load_path(get_testdata_file("DICOMDIR"))
    assert "DICOMDIR" in [o.kind for o in result.non_image]
    # pydicom's media folder holds header-only test files: each is reported, none crashes the load
    assert len(result.errors) > 10 and all("\n" not in str(e) for e in result.errors)
