"""Write one folder import into the study index (rows from a :class:`~app.io.dicom_scan.DicomScan`).

Every function here runs inside the caller's transaction on the caller's connection (see
:meth:`app.io.study_index.StudyIndex.import_folder`); none commits. Patient tags pass through SQL
parameters only and are never logged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pydicom

from analysis._task import TaskContext
from app.io._study_index_schema import ImportStats
from app.io.dicom_scan import DicomScan, DicomSeries, NonImageObject

#: Header tags read once per series (and per non-image object); SQL parameters use these names.
_TAGS = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate", "StudyTime")
_TAGS += ("StudyDescription", "AccessionNumber", "StudyID", "SeriesInstanceUID", "SeriesNumber", "Modality")
_TAGS += ("SeriesDescription", "SOPClassUID", "FrameOfReferenceUID", "Rows", "Columns", "SOPInstanceUID")
_TAGS += ("InstanceNumber",)
_INT_TAGS = frozenset({"SeriesNumber", "Rows", "Columns", "InstanceNumber"})

#: ``path → (mtime_ns, size)`` of every file seen by the import.
Signature = dict[str, tuple[int, int]]


def _slice_location_mm(
    position_lps_mm: tuple[float, float, float] | None, orientation: tuple[float, ...] | None
) -> float | None:
    """Return the position projected on the slice normal (mm): sorts a stack without re-reading it."""
    if position_lps_mm is None or orientation is None or len(orientation) != 6:
        return None
    r, c = orientation[:3], orientation[3:]
    normal = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    return float(sum(p * n for p, n in zip(position_lps_mm, normal, strict=True)))


def _int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _tags(path: Path) -> dict[str, Any]:
    """Read :data:`_TAGS` of one file (text, or int/None for counts); missing or bad values are empty.

    The scan records do not carry every tag the index keeps (sex, study time...); the file was
    just read by the scan, so a failure here only loses optional values.
    """
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(_TAGS))
    except Exception:
        ds = None
    tags: dict[str, Any] = {}
    for keyword in _TAGS:
        try:
            value = "" if ds is None else ds.get(keyword, "")
        except Exception:  # a malformed value must not stop the import
            value = ""
        text = "" if value is None else str(value).strip()
        tags[keyword] = _int_or_none(text) if keyword in _INT_TAGS else text
    return tags


def write_import(
    conn: sqlite3.Connection,
    stale: list[str],
    scan: DicomScan | None,
    signature: Signature,
    stats: ImportStats,
    ctx: TaskContext,
) -> None:
    """Apply one import inside the caller's transaction.

    Parameters
    ----------
    conn
        The import's private connection, inside ``BEGIN IMMEDIATE``.
    stale
        Indexed paths that changed or vanished: their rows are deleted first.
    scan
        Headers of the new or changed files, or None when there were none.
    signature
        ``path → (mtime_ns, size)`` of every file seen.
    stats
        Updated in place (instances written, non-image objects, errors).
    ctx
        Progress in [0.85, 0.95] and cancellation.
    """
    forget(conn, stale)
    if scan is not None:
        total = max(1, len(scan.series) + len(scan.non_image))
        for n, series in enumerate(scan.series):
            ctx.step(0.85 + 0.1 * n / total, "Writing the index")
            stats.instances_written += _write_series(conn, series, signature)
        for n, obj in enumerate(scan.non_image):
            ctx.step(0.85 + 0.1 * (len(scan.series) + n) / total, "Writing the index")
            _write_non_image(conn, obj, signature, stats)
        for err in scan.errors:
            stats.errors.append(str(err))
            _write_unindexed(conn, Path(err.path), "error", err.reason, signature)
    prune(conn)
    ctx.check()


def forget(conn: sqlite3.Connection, paths: Iterable[str]) -> None:
    """Delete the rows of ``paths`` (instances and unindexed files)."""
    for p in paths:
        conn.execute("DELETE FROM instances WHERE path = ?", (p,))
        conn.execute("DELETE FROM unindexed_files WHERE path = ?", (p,))


def prune(conn: sqlite3.Connection) -> None:
    """Recount instances and delete empty series, studies and patients."""
    conn.execute("UPDATE series SET n_instances = (SELECT count(*) FROM instances WHERE series_ref = series.id)")
    conn.execute("DELETE FROM series WHERE n_instances = 0")
    conn.execute("DELETE FROM studies WHERE NOT EXISTS (SELECT 1 FROM series WHERE study_ref = studies.id)")
    conn.execute("DELETE FROM patients WHERE NOT EXISTS (SELECT 1 FROM studies WHERE patient_ref = patients.id)")


def _upsert(conn: sqlite3.Connection, tags: dict[str, Any], kind: str) -> int:
    """Insert or update the patient, study and series described by ``tags``; return the series id."""
    conn.execute(
        "INSERT INTO patients (patient_id, patient_name, birth_date, sex) VALUES (:PatientID, :PatientName, "
        ":PatientBirthDate, :PatientSex) ON CONFLICT (patient_id, patient_name, birth_date) DO UPDATE SET "
        "sex = CASE WHEN excluded.sex != '' THEN excluded.sex ELSE sex END",
        tags,
    )
    (patient_ref,) = conn.execute(
        "SELECT id FROM patients WHERE patient_id = :PatientID AND patient_name = :PatientName AND "
        "birth_date = :PatientBirthDate",
        tags,
    ).fetchone()
    conn.execute(
        "INSERT INTO studies (study_uid, patient_ref, study_date, study_time, description, accession_number, "
        "study_id) VALUES (:StudyInstanceUID, :patient_ref, :StudyDate, :StudyTime, :StudyDescription, "
        ":AccessionNumber, :StudyID) ON CONFLICT (study_uid) DO UPDATE SET patient_ref = excluded.patient_ref, "
        "study_date = excluded.study_date, study_time = excluded.study_time, description = excluded.description, "
        "accession_number = excluded.accession_number, study_id = excluded.study_id",
        {**tags, "patient_ref": patient_ref},
    )
    (study_ref,) = conn.execute("SELECT id FROM studies WHERE study_uid = :StudyInstanceUID", tags).fetchone()
    conn.execute(
        "INSERT INTO series (series_uid, study_ref, series_number, modality, description, kind, sop_class_uid, "
        "frame_of_reference_uid, rows, columns) VALUES (:SeriesInstanceUID, :study_ref, :SeriesNumber, "
        ":Modality, :SeriesDescription, :kind, :SOPClassUID, :FrameOfReferenceUID, :Rows, :Columns) "
        "ON CONFLICT (series_uid) DO UPDATE SET study_ref = excluded.study_ref, "
        "series_number = excluded.series_number, modality = excluded.modality, "
        "description = excluded.description, kind = excluded.kind, sop_class_uid = excluded.sop_class_uid, "
        "frame_of_reference_uid = excluded.frame_of_reference_uid, rows = coalesce(excluded.rows, rows), "
        "columns = coalesce(excluded.columns, columns)",
        {**tags, "study_ref": study_ref, "kind": kind},
    )
    return conn.execute("SELECT id FROM series WHERE series_uid = :SeriesInstanceUID", tags).fetchone()[0]


def _write_series(conn: sqlite3.Connection, series: DicomSeries, signature: Signature) -> int:
    if not series.instances:
        return 0
    tags = _tags(series.instances[0].path)
    # The scan's grouping is authoritative (a split series keeps its SeriesInstanceUID).
    tags.update(StudyInstanceUID=series.study_uid, SeriesInstanceUID=series.series_uid, Modality=series.modality)
    series_ref = _upsert(conn, tags, "image")
    rows = []
    for inst in series.instances:
        x, y, z = inst.position_lps_mm or (None, None, None)
        location = _slice_location_mm(inst.position_lps_mm, inst.orientation)
        row = (series_ref, str(inst.path), inst.frame_index, inst.sop_instance_uid, inst.instance_number)
        rows.append((*row, location, x, y, z, *signature.get(str(inst.path), (0, 0))))
    conn.executemany(
        "INSERT OR REPLACE INTO instances (series_ref, path, frame_index, sop_instance_uid, instance_number, "
        "slice_location_mm, position_x_lps_mm, position_y_lps_mm, position_z_lps_mm, mtime_ns, size) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return len(rows)


def _write_non_image(conn: sqlite3.Connection, obj: NonImageObject, signature: Signature, stats: ImportStats) -> None:
    if not obj.study_uid or not obj.series_uid:  # DICOMDIR and friends: nothing to browse
        _write_unindexed(conn, obj.path, "skipped", f"{obj.kind} object without study/series", signature)
        return
    tags = _tags(obj.path)
    tags.update(StudyInstanceUID=obj.study_uid, SeriesInstanceUID=obj.series_uid, Modality=obj.modality)
    tags.update(FrameOfReferenceUID="", Rows=None, Columns=None)
    series_ref = _upsert(conn, tags, obj.kind)
    row = (series_ref, str(obj.path), tags["SOPInstanceUID"], tags["InstanceNumber"])
    conn.execute(
        "INSERT OR REPLACE INTO instances (series_ref, path, frame_index, sop_instance_uid, instance_number, "
        "mtime_ns, size) VALUES (?, ?, 0, ?, ?, ?, ?)",
        (*row, *signature.get(str(obj.path), (0, 0))),
    )
    stats.non_image += 1


def _write_unindexed(conn: sqlite3.Connection, path: Path, kind: str, reason: str, signature: Signature) -> None:
    mtime_ns, size = signature.get(str(path), (0, 0))
    conn.execute(
        "INSERT OR REPLACE INTO unindexed_files (path, kind, reason, mtime_ns, size) VALUES (?, ?, ?, ?, ?)",
        (str(path), kind, reason, mtime_ns, size),
    )
