from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from analysis._task import Cancelled, TaskContext
from app.io.dicom_write import write_dicom_series
from app.io.errors import MedwsIOError
from app.io.study_index import SCHEMA_VERSION, StudyIndex
from app.model.geometry import Geometry

GEOM = Geometry((4, 8, 8), (2.0, 1.0, 1.0), (-4.0, -4.0, 10.0))


@pytest.fixture
def dicom_root(tmp_path) -> Path:
    """Two patients: Alpha has one CT study with two series, Beta one MR study with one series."""
    root = tmp_path / "dicom"
    rng = np.random.default_rng(0)
    study_a = generate_uid(entropy_srcs=["study-a"])
    for number, (desc, n) in enumerate((("Chest 1mm", 4), ("Chest lung", 3)), start=1):
        arr = rng.integers(-1000, 1000, size=(n, 8, 8)).astype(np.int16)
        write_dicom_series(
            arr,
            GEOM.with_shape((n, 8, 8)),
            root / "alpha" / f"s{number}",
            modality="CT",
            study_uid=study_a,
            series_number=number,
            series_description=desc,
            study_description="CT thorax",
            patient_name="Alpha^Anne",
            patient_id="PA",
            uid_seed=f"alpha-{number}",
        )
    arr = rng.integers(0, 500, size=(5, 8, 8)).astype(np.int16)
    write_dicom_series(
        arr,
        GEOM.with_shape((5, 8, 8)),
        root / "beta",
        modality="MR",
        series_number=7,
        series_description="T1 axial",
        study_description="MR brain",
        patient_name="Beta^Bob",
        patient_id="PB",
        uid_seed="beta",
    )
    return root


@pytest.fixture
def index(tmp_path) -> StudyIndex:
    idx = StudyIndex(tmp_path / "index.sqlite")
    yield idx
    idx.close()


def _counts(index: StudyIndex) -> tuple[int, int, int, int]:
    studies = index.studies()
    n_series = sum(s.n_series for s in studies)
    n_inst = sum(s.n_instances for s in studies)
    return len(index.patients()), len(studies), n_series, n_inst


def test_default_database_lives_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDWS_DATA_DIR", str(tmp_path / "data"))
    with StudyIndex() as idx:
        assert idx.path == tmp_path / "data" / "index.sqlite"
        assert idx.path.is_file()


def test_schema_has_version_wal_and_foreign_keys(index):
    assert index.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(index.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"patients", "studies", "series", "instances"} <= tables
        fks = conn.execute("PRAGMA foreign_key_list(instances)").fetchall()
        assert any(row[2] == "series" for row in fks)
    finally:
        conn.close()


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(MedwsIOError, match="newer"):
        StudyIndex(path)


def test_import_counts_patients_studies_series_and_instances(index, dicom_root):
    stats = index.import_folder(dicom_root)
    assert stats.files_seen == stats.files_read == 12
    assert stats.errors == []
    assert (stats.patients, stats.studies, stats.series, stats.instances) == (2, 2, 3, 12)
    assert _counts(index) == (2, 2, 3, 12)
    names = sorted(p.patient_name for p in index.patients())
    assert names == ["Alpha^Anne", "Beta^Bob"]
    assert "Alpha" not in repr(index.patients()[0]) and "Alpha" not in str(stats)


def test_queries_return_series_and_paths_in_slice_order(index, dicom_root):
    index.import_folder(dicom_root)
    alpha = next(p for p in index.patients() if p.patient_id == "PA")
    (study,) = index.studies(alpha.key)
    assert study.description == "CT thorax" and study.modalities == "CT" and study.n_series == 2
    series = index.series(study.study_uid)
    assert [(s.series_number, s.description, s.n_instances, s.rows, s.columns) for s in series] == [
        (1, "Chest 1mm", 4, 8, 8),
        (2, "Chest lung", 3, 8, 8),
    ]
    paths = index.instances(series[0].series_uid)
    assert paths == sorted((dicom_root / "alpha" / "s1").glob("*.dcm"))
    z = [float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in paths]
    assert z == sorted(z)
    assert index.instances("1.2.3.unknown") == []
    assert dict(series[0])["series_uid"] == series[0].series_uid  # records work as mappings (CLI)


def test_reimport_is_idempotent_and_skips_unchanged_files(index, dicom_root):
    index.import_folder(dicom_root)
    before = (_counts(index), [dict(s) for s in index.studies()])
    stats = index.import_folder(dicom_root)
    assert stats.files_skipped == 12 and stats.files_read == 0
    assert (_counts(index), [dict(s) for s in index.studies()]) == before
    conn = sqlite3.connect(index.path)
    try:
        assert conn.execute("SELECT count(*) FROM instances").fetchone()[0] == 12
        assert conn.execute("SELECT count(DISTINCT path) FROM instances").fetchone()[0] == 12
    finally:
        conn.close()


def test_a_changed_file_is_read_again_and_keeps_its_slice_order(index, dicom_root):
    index.import_folder(dicom_root)
    beta = sorted((dicom_root / "beta").glob("*.dcm"))
    series_uid = pydicom.dcmread(beta[0], stop_before_pixels=True).SeriesInstanceUID
    order = index.instances(series_uid)
    target = order[2]  # a middle slice: re-read alone, it must still sort by position
    ds = pydicom.dcmread(target)
    ds.InstanceNumber = 99
    ds.save_as(target)
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    stats = index.import_folder(dicom_root)
    assert stats.files_read == 1 and stats.files_skipped == 11
    assert _counts(index) == (2, 2, 3, 12)
    assert index.instances(series_uid) == order
    conn = sqlite3.connect(index.path)
    try:
        number = conn.execute("SELECT instance_number FROM instances WHERE path = ?", (str(target),)).fetchone()
    finally:
        conn.close()
    assert number == (99,)


def test_deleted_files_and_removed_folders_are_forgotten(index, dicom_root):
    index.import_folder(dicom_root)
    for path in (dicom_root / "alpha" / "s2").glob("*.dcm"):
        path.unlink()
    stats = index.import_folder(dicom_root)
    assert stats.files_removed == 3
    assert _counts(index) == (2, 2, 2, 9)
    assert index.remove_folder(dicom_root / "beta") == 5
    assert _counts(index) == (1, 1, 1, 4)
    assert index.remove_folder(dicom_root) == 4
    assert _counts(index) == (0, 0, 0, 0)


def test_cancel_at_any_point_rolls_the_import_back(index, dicom_root):
    calls = {"n": 0}
    index.import_folder(dicom_root, ctx=TaskContext(is_cancelled=lambda: calls.__setitem__("n", calls["n"] + 1)))
    total = calls["n"]
    assert total > 3
    for stop_at in range(1, total):
        fresh = StudyIndex(index.path.with_name(f"cancel-{stop_at}.sqlite"))
        seen = {"n": 0}

        def cancelled(seen=seen, stop_at=stop_at) -> bool:
            seen["n"] += 1
            return seen["n"] >= stop_at

        with pytest.raises(Cancelled):
            fresh.import_folder(dicom_root, ctx=TaskContext(is_cancelled=cancelled))
        assert _counts(fresh) == (0, 0, 0, 0), f"cancelled at call {stop_at}"
        fresh.close()


def test_cancelled_reimport_keeps_the_previous_state(index, dicom_root):
    index.import_folder(dicom_root)
    before = [dict(s) for s in index.studies()]
    for path in (dicom_root / "beta").glob("*.dcm"):
        path.unlink()
    with pytest.raises(Cancelled):
        index.import_folder(dicom_root, ctx=TaskContext(is_cancelled=lambda: True))
    assert [dict(s) for s in index.studies()] == before


def _write_sr(path: Path, study_uid: str) -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.SeriesNumber = 99
    ds.SeriesDescription = "Report"
    ds.PatientName = "Beta^Bob"
    ds.PatientID = "PB"
    ds.PatientBirthDate = ""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    pydicom.dcmwrite(path, ds, enforce_file_format=True)


def test_corrupt_files_are_recorded_and_non_image_objects_listed(index, dicom_root):
    (dicom_root / "junk.dcm").write_bytes(b"not a dicom file at all" * 10)
    good = sorted((dicom_root / "beta").glob("*.dcm"))[0]
    (dicom_root / "truncated.dcm").write_bytes(good.read_bytes()[:300])
    beta_study = pydicom.dcmread(good, stop_before_pixels=True).StudyInstanceUID
    _write_sr(dicom_root / "report.dcm", beta_study)
    stats = index.import_folder(dicom_root)
    assert len(stats.errors) == 2 and all(len(e.splitlines()) == 1 for e in stats.errors)
    assert stats.non_image == 1
    assert _counts(index)[:2] == (2, 2)
    errors = {u.path.name: u for u in index.unindexed()}
    assert set(errors) == {"junk.dcm", "truncated.dcm"} and errors["junk.dcm"].kind == "error"
    kinds = {s.kind for s in index.series(beta_study)}
    assert kinds == {"image", "SR"}
    again = index.import_folder(dicom_root)  # errors are remembered: unchanged bad files are skipped too
    assert again.files_read == 0 and again.errors == []


def test_search_matches_patient_study_and_series_text(index, dicom_root):
    index.import_folder(dicom_root)
    assert [s.description for s in index.search("alpha")] == ["CT thorax"]
    assert [s.description for s in index.search("brain t1")] == ["MR brain"]
    assert [s.description for s in index.search("lung CT")] == ["CT thorax"]
    assert index.search("nothing-like-this") == []
    assert index.search("100%_") == []
    assert len(index.search("  ")) == 2


def test_import_runs_in_a_worker_thread_with_progress(index, dicom_root):
    progress: list[float] = []
    result: dict[str, object] = {}

    def work() -> None:
        try:
            result["stats"] = index.import_folder(dicom_root, ctx=TaskContext(report=lambda f, m: progress.append(f)))
            result["worker_counts"] = _counts(index)  # the worker thread gets its own query connection
            index.close()  # each thread closes its own connection
        except BaseException as exc:  # pragma: no cover - reported below
            result["error"] = exc

    _counts(index)  # open the GUI-thread connection first
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    assert "error" not in result, result.get("error")
    assert result["worker_counts"] == (2, 2, 3, 12)
    assert _counts(index) == (2, 2, 3, 12)
    assert progress[0] == 0.0 and progress[-1] == 1.0


def test_missing_folder_is_a_one_line_error(index, tmp_path):
    with pytest.raises(MedwsIOError, match="not a folder"):
        index.import_folder(tmp_path / "nope")


def test_a_version_1_database_is_migrated_and_re_read(tmp_path, dicom_root):
    from app.io import study_index

    path = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    study_index._MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.close()
    with StudyIndex(path) as idx:
        assert idx.schema_version == SCHEMA_VERSION == 2
        first = idx.import_folder(dicom_root)
        assert first.files_read == 12
    conn = sqlite3.connect(path)
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(instances)")}
    finally:
        conn.close()
    assert "slice_location_mm" in columns


def test_a_file_that_is_not_a_database_is_a_one_line_error(tmp_path):
    path = tmp_path / "index.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MedwsIOError, match="cannot open the study index"):
        StudyIndex(path)


def test_headers_are_read_without_holding_the_write_lock(index, dicom_root, monkeypatch):
    from app.io import study_index

    real_scan = study_index.scan_dicom
    removed: dict[str, int] = {}

    def scan_while_another_thread_writes(paths, *, ctx):
        def other() -> None:  # another connection can write during the scan (30 s busy timeout otherwise)
            other_index = StudyIndex(index.path)
            removed["n"] = other_index.remove_folder(dicom_root / "nothing-here")
            other_index.close()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(10)
        return real_scan(paths, ctx=ctx)

    monkeypatch.setattr(study_index, "_BUSY_TIMEOUT_S", 1.0)
    monkeypatch.setattr(study_index, "scan_dicom", scan_while_another_thread_writes)
    index.import_folder(dicom_root)
    assert removed == {"n": 0}
    assert _counts(index) == (2, 2, 3, 12)
