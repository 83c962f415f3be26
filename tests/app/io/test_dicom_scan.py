from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from analysis._task import Cancelled, TaskContext
from app.io.dicom_scan import scan_dicom
from app.io.errors import DicomFileError
from app.model.geometry import Geometry


def _only(scan):
    assert not scan.errors, [str(e) for e in scan.errors]
    assert len(scan.series) == 1, scan.series
    return scan.series[0]


def test_oblique_series_geometry_round_trips(write_series, ct_array, oblique_geometry, tmp_path):
    write_series(ct_array, oblique_geometry)
    series = _only(scan_dicom([tmp_path / "ct"]))
    assert series.geometry.same_grid(oblique_geometry, tol_mm=1e-3)
    assert series.warnings == []
    assert [inst.index_z for inst in series.instances] == list(range(40))
    for inst in series.instances:
        assert np.allclose(inst.position_lps_mm, oblique_geometry.index_zyx_to_lps([inst.index_z, 0, 0]), atol=1e-3)
    index_zyx = np.random.default_rng(1).uniform(0, 39, size=(20, 3))
    back = series.geometry.lps_to_index_zyx(series.geometry.index_zyx_to_lps(index_zyx))
    assert np.allclose(back, index_zyx, atol=1e-9)


def test_gantry_tilt_gives_sheared_geometry_and_warning(write_series, ct_array, tilted_geometry, tmp_path):
    write_series(ct_array, tilted_geometry)
    series = _only(scan_dicom([tmp_path / "ct"]))
    assert series.geometry.same_grid(tilted_geometry, tol_mm=1e-3)
    assert series.geometry.shear_deg == pytest.approx(15.0, abs=1e-3)
    assert any("gantry tilt" in w for w in series.warnings)


def test_shuffled_names_and_scrambled_instance_numbers_still_sort_by_position(
    write_series, ct_array, oblique_geometry, tmp_path
):
    scrambled = list(np.random.default_rng(3).permutation(40) + 1)
    write_series(ct_array, oblique_geometry, file_names="shuffled", instance_numbers=scrambled)
    series = _only(scan_dicom([tmp_path / "ct"]))
    assert series.geometry.same_grid(oblique_geometry, tol_mm=1e-3)
    normal = oblique_geometry.slice_normal_lps
    along = [float(np.dot(inst.position_lps_mm, normal)) for inst in series.instances]
    assert along == sorted(along)
    assert [inst.instance_number for inst in series.instances] == scrambled


def test_two_orientations_in_one_series_uid_become_two_series(write_series, ct_array, oblique_geometry, tmp_path):
    uid = generate_uid(entropy_srcs=["split-test"])
    axial = Geometry((40, 64, 64), (2.0, 0.5, 0.5))
    write_series(ct_array, axial, subdir="a", series_uid=uid, study_uid="1.2.3")
    write_series(ct_array, oblique_geometry, subdir="b", series_uid=uid, study_uid="1.2.3")
    scan = scan_dicom([tmp_path])
    assert len(scan.series) == 2
    assert {s.series_uid for s in scan.series} == {uid}
    assert len({s.key for s in scan.series}) == 2
    assert sorted(s.geometry.same_grid(axial) for s in scan.series) == [False, True]
    assert any(s.geometry.same_grid(oblique_geometry, tol_mm=1e-3) for s in scan.series)


def test_two_image_sizes_in_one_series_uid_become_two_series(write_series, ct_array, tmp_path):
    uid = generate_uid(entropy_srcs=["size-test"])
    write_series(ct_array, Geometry(ct_array.shape), subdir="a", series_uid=uid, study_uid="1.2.3")
    small = ct_array[:10, :32, :32]
    write_series(small, Geometry(small.shape, origin_lps_mm=(0, 0, 100)), subdir="b", series_uid=uid, study_uid="1.2.3")
    scan = scan_dicom([tmp_path])
    assert sorted(s.geometry.shape_zyx for s in scan.series) == [(10, 32, 32), (40, 64, 64)]


def test_missing_slice_is_detected_and_keeps_the_grid(write_series, ct_array, oblique_geometry, tmp_path):
    paths = write_series(ct_array, oblique_geometry)
    paths[10].unlink()
    paths[11].unlink()
    series = _only(scan_dicom([tmp_path / "ct"]))
    assert series.geometry.same_grid(oblique_geometry, tol_mm=1e-3)
    assert len(series.instances) == 38
    assert 10 not in {i.index_z for i in series.instances} and 12 in {i.index_z for i in series.instances}
    assert any("2 missing slice" in w for w in series.warnings)


def test_non_uniform_spacing_is_warned(write_series, ct_array, tmp_path):
    paths = write_series(ct_array, Geometry(ct_array.shape, (2.0, 0.5, 0.5)))
    for path in paths[20:]:
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + 0.7
        ds.save_as(path)
    series = _only(scan_dicom([tmp_path / "ct"]))
    assert any("non-uniform" in w for w in series.warnings)
    assert series.geometry.shape_zyx == (40, 64, 64)


def _copy_with(paths, folder, **tags):
    folder.mkdir()
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for key, value in tags.items():
            setattr(ds, key, value)
        ds.save_as(folder / path.name)


def test_echoes_sharing_positions_are_split_by_echo_number(write_series, ct_array, tmp_path):
    paths = write_series(ct_array, Geometry(ct_array.shape), modality="MR", rescale_intercept=-1024)
    _copy_with(paths, tmp_path / "echo2", EchoNumbers=2)
    scan = scan_dicom([tmp_path])
    assert [s.key.rsplit("#", 1)[-1] for s in scan.series] == ["echo=1", "echo=2"]
    assert all(s.geometry.shape_zyx == (40, 64, 64) and len(s.instances) == 40 for s in scan.series)


def test_exact_duplicates_are_dropped_with_a_warning(write_series, ct_array, tmp_path):
    paths = write_series(ct_array, Geometry(ct_array.shape))
    _copy_with(paths[:5], tmp_path / "dup")
    series = _only(scan_dicom([tmp_path]))
    assert len(series.instances) == 40
    assert any("5 frames at duplicate positions dropped" in w for w in series.warnings)


def test_enhanced_multiframe_ct_is_one_series_sorted_by_position():
    path = get_testdata_file("eCT_Supplemental.dcm")
    series = _only(scan_dicom([path]))
    assert series.is_multiframe and series.n_files == 1
    assert series.geometry.shape_zyx == (2, 512, 512)
    assert [i.frame_index for i in series.instances] == [1, 0]  # frame 1 lies lower along the normal
    assert series.instances[0].rescale_intercept == -1024.0
    assert series.geometry.spacing_zyx_mm[0] == pytest.approx(10.0)


def test_non_image_objects_are_listed_not_loaded(tmp_path):
    for name in ("rtstruct.dcm", "reportsi.dcm"):
        shutil.copy(get_testdata_file(name), tmp_path / name)
    scan = scan_dicom([tmp_path, get_testdata_file("DICOMDIR")])
    assert not scan.series and not scan.errors
    assert sorted(o.kind for o in scan.non_image) == ["DICOMDIR", "RTSTRUCT", "SR"]
    rt = next(o for o in scan.non_image if o.kind == "RTSTRUCT")
    assert rt.series_uid and rt.path.name == "rtstruct.dcm"


def test_bad_files_give_one_line_errors_and_good_series_survive(write_series, ct_array, tmp_path):
    folder = tmp_path / "ct"
    paths = write_series(ct_array[:8], Geometry((8, 64, 64)))
    good = paths[0].read_bytes()
    (folder / "truncated.dcm").write_bytes(good[: len(good) // 2])
    (folder / "header_cut.dcm").write_bytes(good[:300])
    (folder / "random.bin").write_bytes(np.random.default_rng(0).bytes(4000))
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "notes.txt").write_text("radiology report draft\nline 2\n")
    ds = pydicom.dcmread(paths[1])
    del ds.PixelData
    ds.SeriesInstanceUID = generate_uid()
    ds.save_as(folder / "nopixels.dcm")
    scan = scan_dicom([folder])
    assert len(scan.series) == 1 and len(scan.series[0].instances) == 8
    reasons = {os.path.basename(e.path): e.reason for e in scan.errors}
    assert set(reasons) == {"truncated.dcm", "header_cut.dcm", "random.bin", "empty.dcm", "notes.txt", "nopixels.dcm"}
    assert reasons["truncated.dcm"].startswith("truncated")
    assert reasons["empty.dcm"] == "empty file"
    assert reasons["nopixels.dcm"].startswith("no pixel data")
    assert "not a DICOM file" in reasons["notes.txt"] and "not a DICOM file" in reasons["random.bin"]
    for err in scan.errors:
        assert isinstance(err, DicomFileError)
        assert "\n" not in str(err) and str(err).startswith(err.path)
        assert "Anonymous" not in str(err) and "MEDWS0001" not in str(err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_file_is_reported(write_series, ct_array, tmp_path):
    paths = write_series(ct_array[:3], Geometry((3, 64, 64)))
    paths[0].chmod(0)
    try:
        scan = scan_dicom([tmp_path / "ct"])
    finally:
        paths[0].chmod(0o644)
    assert len(scan.series) == 1 and [e.path for e in scan.errors] == [str(paths[0])]
    assert "cannot read" in scan.errors[0].reason


def test_scan_reports_progress_and_can_be_cancelled(write_series, ct_array, tmp_path):
    write_series(ct_array, Geometry(ct_array.shape))
    fractions = []
    scan_dicom([tmp_path], ctx=TaskContext(lambda f, m: fractions.append(f)))
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    with pytest.raises(Cancelled):
        scan_dicom([tmp_path], ctx=TaskContext(is_cancelled=lambda: len(fractions) > 0))


def test_keys_are_stable_and_reprs_hide_patient_tags(write_series, ct_array, tmp_path):
    write_series(ct_array, Geometry(ct_array.shape), patient_name="Secret^Person", patient_id="ID-SECRET")
    first, second = scan_dicom([tmp_path]), scan_dicom([tmp_path])
    assert [s.key for s in first.series] == [s.key for s in second.series]
    series = first.series[0]
    assert series.patient_name == "Secret^Person" and series.patient_id == "ID-SECRET"
    assert "Secret" not in repr(series) and "ID-SECRET" not in repr(series)


def test_scanning_300_files_is_fast(tmp_path):
    array = np.zeros((300, 16, 16), np.int16)
    from app.io.dicom_write import write_dicom_series

    write_dicom_series(array, Geometry(array.shape), tmp_path / "many", uid_seed="many")
    scan_dicom([tmp_path / "many"])  # warm the page cache
    start = time.perf_counter()
    scan = scan_dicom([tmp_path / "many"])
    elapsed = time.perf_counter() - start
    assert len(scan.series[0].instances) == 300
    assert elapsed < 1.0, f"scan of 300 files took {elapsed:.2f} s"


def test_dangling_link_is_reported_as_unreadable(write_series, ct_array, tmp_path):
    write_series(ct_array[:3], Geometry((3, 64, 64)))
    (tmp_path / "ct" / "gone.dcm").symlink_to(tmp_path / "does-not-exist.dcm")
    scan = scan_dicom([tmp_path / "ct"])
    assert len(scan.series) == 1
    assert [(os.path.basename(e.path), e.reason) for e in scan.errors] == [
        ("gone.dcm", "cannot read: No such file or directory")
    ]


def test_orientation_jitter_across_a_rounding_boundary_stays_one_series(write_series, ct_array, tmp_path):
    paths = write_series(ct_array[:10], Geometry((10, 64, 64)))
    for n, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.ImageOrientationPatient = [1, 0.00049 if n % 2 else 0.00051, 0, 0, 1, 0]
        ds.save_as(path)
    series = _only(scan_dicom([tmp_path / "ct"]))
    assert len(series.instances) == 10
