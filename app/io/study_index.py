"""A local SQLite index of the DICOM studies found in folders (patients → studies → series → instances).

The index stores header values and file locations only, never pixels. Folders are imported with
:meth:`StudyIndex.import_folder`, which reads the headers of new or changed files through
:func:`app.io.dicom_scan.scan_dicom`, skips files whose modification time and size are unchanged,
forgets files that disappeared, and writes everything in **one transaction**, so a cancelled or
failed import leaves the database exactly as it was. Headers are read before that transaction
takes the write lock, so other writers wait only for the short write phase.

Thread rule
-----------
``sqlite3`` connections must not be shared between threads. A :class:`StudyIndex` object may be
shared: every thread that queries gets its own connection (kept in a ``threading.local``), and each
import opens a private connection that it closes when done. The GUI therefore creates one
``StudyIndex`` on the GUI thread and may run ``import_folder`` in a ``QThreadPool`` job; queries
from the GUI thread see the import once it commits (WAL mode lets readers proceed meanwhile).

Patient tags (name, id, birth date, sex) are stored because browsing needs them, but they are
never logged and never appear in ``repr`` of the records or in :class:`ImportStats`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pydicom

from analysis._task import NULL_CONTEXT, TaskContext
from app.io.dicom_scan import DicomScan, DicomSeries, NonImageObject, iter_files, scan_dicom
from app.io.errors import MedwsIOError
from app.paths import data_dir

__all__ = [
    "SCHEMA_VERSION",
    "ImportStats",
    "PatientRecord",
    "SeriesRecord",
    "StudyIndex",
    "StudyRecord",
    "UnindexedFile",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_BUSY_TIMEOUT_S = 30.0
#: Header tags read once per series (and per non-image object); SQL parameters use these names.
_TAGS = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate", "StudyTime")
_TAGS += ("StudyDescription", "AccessionNumber", "StudyID", "SeriesInstanceUID", "SeriesNumber", "Modality")
_TAGS += ("SeriesDescription", "SOPClassUID", "FrameOfReferenceUID", "Rows", "Columns", "SOPInstanceUID")
_TAGS += ("InstanceNumber",)
_INT_TAGS = frozenset({"SeriesNumber", "Rows", "Columns", "InstanceNumber"})

_SCHEMA_V1 = """
CREATE TABLE patients (
    id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL,
    patient_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex TEXT NOT NULL DEFAULT '',
    UNIQUE (patient_id, patient_name, birth_date)
);
CREATE TABLE studies (
    id INTEGER PRIMARY KEY,
    study_uid TEXT NOT NULL UNIQUE,
    patient_ref INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    study_date TEXT NOT NULL DEFAULT '',
    study_time TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    accession_number TEXT NOT NULL DEFAULT '',
    study_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    series_uid TEXT NOT NULL UNIQUE,
    study_ref INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    series_number INTEGER,
    modality TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'image',
    sop_class_uid TEXT NOT NULL DEFAULT '',
    frame_of_reference_uid TEXT NOT NULL DEFAULT '',
    rows INTEGER,
    columns INTEGER,
    n_instances INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE instances (
    id INTEGER PRIMARY KEY,
    series_ref INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    frame_index INTEGER NOT NULL DEFAULT 0,
    sop_instance_uid TEXT NOT NULL DEFAULT '',
    instance_number INTEGER,
    slice_index INTEGER,
    position_x_lps_mm REAL,
    position_y_lps_mm REAL,
    position_z_lps_mm REAL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    UNIQUE (path, frame_index)
);
CREATE TABLE unindexed_files (
    path TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX idx_studies_patient ON studies(patient_ref);
CREATE INDEX idx_studies_date ON studies(study_date);
CREATE INDEX idx_series_study ON series(study_ref);
CREATE INDEX idx_instances_series ON instances(series_ref);
CREATE INDEX idx_instances_sop ON instances(sop_instance_uid);
"""


def _migrate_0_to_1(conn: sqlite3.Connection) -> None:
    # Not executescript(): it would COMMIT the migration transaction first.
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    # slice_index was the index within one scan, wrong after a partial re-import; the location
    # along the slice normal sorts correctly. Unknown mtimes make the next import re-read all.
    conn.execute("ALTER TABLE instances ADD COLUMN slice_location_mm REAL")
    conn.execute("UPDATE instances SET mtime_ns = -1")
    conn.execute("UPDATE unindexed_files SET mtime_ns = -1")


#: ``_MIGRATIONS[n]`` upgrades a database at ``user_version`` n to n + 1 (inside one transaction).
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _migrate_0_to_1, 1: _migrate_1_to_2}


# ----------------------------------------------------------------------------- records
class _Record:
    """Dataclass mixin making records usable as mappings (``dict(record)``)."""

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)]  # type: ignore[arg-type]

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in ((k, self[k]) for k in self.keys())}


@dataclass(frozen=True, repr=False)
class PatientRecord(_Record):
    """One patient. ``key`` is the database id used by :meth:`StudyIndex.studies`."""

    key: int
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    n_studies: int

    def __repr__(self) -> str:  # no patient tags in reprs (they end up in logs and tracebacks)
        return f"PatientRecord(key={self.key}, n_studies={self.n_studies})"


@dataclass(frozen=True)
class StudyRecord(_Record):
    """One study with a summary of its series (dates are DICOM ``YYYYMMDD``/``HHMMSS`` strings)."""

    study_uid: str
    patient_key: int
    study_date: str
    study_time: str
    description: str
    accession_number: str = field(repr=False)  # may identify the patient: kept out of logs
    modalities: str
    n_series: int
    n_instances: int


@dataclass(frozen=True)
class SeriesRecord(_Record):
    """One series. ``kind`` is "image" or a non-image kind ("SEG", "SR", "RTSTRUCT", ...)."""

    series_uid: str
    study_uid: str
    series_number: int | None
    modality: str
    description: str
    kind: str
    rows: int | None
    columns: int | None
    n_instances: int


@dataclass(frozen=True)
class UnindexedFile(_Record):
    """A file under an imported folder that holds no indexed object (``kind`` "error" or "skipped")."""

    path: Path
    kind: str
    reason: str


@dataclass
class ImportStats:
    """What one :meth:`StudyIndex.import_folder` did. Holds no patient tags.

    ``files_read`` were new or changed and had their headers read; ``files_skipped`` were unchanged
    (same mtime and size); ``files_removed`` had disappeared and were dropped from the index.
    ``errors`` are one-line messages (file: reason). The totals count the whole database after
    the import.
    """

    folder: Path
    files_seen: int = 0
    files_read: int = 0
    files_skipped: int = 0
    files_removed: int = 0
    instances_written: int = 0
    non_image: int = 0
    errors: list[str] = field(default_factory=list)
    patients: int = 0
    studies: int = 0
    series: int = 0
    instances: int = 0

    def __str__(self) -> str:
        return (
            f"{self.folder}: {self.files_seen} files ({self.files_read} read, {self.files_skipped} unchanged, "
            f"{self.files_removed} removed, {len(self.errors)} errors); index holds {self.patients} patients, "
            f"{self.studies} studies, {self.series} series, {self.instances} instances"
        )


# ----------------------------------------------------------------------------- helpers
def _prefix_range(folder: Path) -> tuple[str, str]:
    """Return [lo, hi) bounds selecting every path string inside ``folder`` (index friendly)."""
    lo = str(folder).rstrip(os.sep) + os.sep
    return lo, lo[:-1] + chr(ord(os.sep) + 1)


def _sub(ctx: TaskContext, lo: float, hi: float) -> TaskContext:
    def report(fraction: float, message: str) -> None:
        ctx.report(lo + (hi - lo) * max(0.0, min(1.0, fraction)), message)

    return TaskContext(report=report, is_cancelled=ctx.is_cancelled)


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


# ----------------------------------------------------------------------------- the index
class StudyIndex:
    """The study index database (``data_dir()/index.sqlite`` by default).

    Parameters
    ----------
    path
        Database file; created with the current schema when missing, migrated when older.

    Notes
    -----
    Any thread may use one ``StudyIndex``; each thread gets its own sqlite3 connection (see the
    module docstring). :meth:`close` closes the calling thread's connection.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / "index.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        conn = self._connect()
        try:
            self._migrate(conn)
        finally:
            conn.close()

    # ------------------------------------------------------------------ connections
    def _connect(self) -> sqlite3.Connection:
        conn = None
        try:
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise MedwsIOError(self.path, f"cannot open the study index ({exc})") from None
        return conn

    def _conn(self) -> sqlite3.Connection:
        """Return this thread's query connection, opening it on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def close(self) -> None:
        """Close the calling thread's query connection (a later query reopens it)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __enter__(self) -> StudyIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise MedwsIOError(
                    self.path, f"study index schema {version} is newer than this MedWS ({SCHEMA_VERSION})"
                )
            while version < SCHEMA_VERSION:
                _MIGRATIONS[version](conn)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        """The database's ``PRAGMA user_version``."""
        return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

    # ------------------------------------------------------------------ import
    def import_folder(self, folder: str | os.PathLike[str], *, ctx: TaskContext = NULL_CONTEXT) -> ImportStats:
        """Index every DICOM file under ``folder`` (recursively); safe to repeat.

        Unchanged files (same mtime and size) are skipped, changed files are re-read, vanished
        files are dropped, and unreadable files are recorded (see :meth:`unindexed`) instead of
        failing the import.

        Parameters
        ----------
        folder
            Folder to import.
        ctx
            Progress and cancellation. Any thread may call this (it uses a private connection).

        Returns
        -------
        ImportStats

        Raises
        ------
        Cancelled
            When ``ctx`` asks to stop; the whole import is rolled back.
        MedwsIOError
            ``folder`` is not a folder, or the database cannot be written.
        """
        folder = Path(folder).expanduser().resolve()
        if not folder.is_dir():
            raise MedwsIOError(folder, "not a folder")
        stats = ImportStats(folder)
        ctx.step(0.0, "Listing files")
        conn = self._connect()
        try:
            to_read, stale, signature = self._plan(conn, folder, stats, ctx)
            # Header reading may take minutes: it runs before the write lock is taken.
            ctx.step(0.05, f"Reading {len(to_read)} new or changed files")
            scan = scan_dicom(to_read, ctx=_sub(ctx, 0.05, 0.85)) if to_read else None
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._write(conn, stale, scan, signature, stats, ctx)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._fill_totals(conn, stats)
        except sqlite3.Error as exc:
            raise MedwsIOError(self.path, f"study index error ({exc})") from None
        finally:
            conn.close()
        log.info(
            "indexed %s: %d read, %d unchanged, %d removed, %d errors",
            folder,
            stats.files_read,
            stats.files_skipped,
            stats.files_removed,
            len(stats.errors),
        )
        ctx.step(1.0, "Index updated")
        return stats

    def _plan(
        self, conn: sqlite3.Connection, folder: Path, stats: ImportStats, ctx: TaskContext
    ) -> tuple[list[Path], list[str], dict[str, tuple[int, int]]]:
        """Return (files to read, indexed paths to forget, path → (mtime_ns, size)); writes nothing."""
        lo, hi = _prefix_range(folder)
        known: dict[str, tuple[int, int]] = {}
        for row in conn.execute(
            "SELECT path, mtime_ns, size FROM instances WHERE path >= ? AND path < ? "
            "UNION SELECT path, mtime_ns, size FROM unindexed_files WHERE path >= ? AND path < ?",
            (lo, hi, lo, hi),
        ):
            known[row["path"]] = (row["mtime_ns"], row["size"])
        to_read: list[Path] = []
        signature: dict[str, tuple[int, int]] = {}
        for n, path in enumerate(iter_files([folder])):
            if n % 256 == 0:
                ctx.check()
            try:
                st = path.stat()
            except OSError:
                continue
            key = str(path)
            signature[key] = (st.st_mtime_ns, st.st_size)
            if known.get(key) == signature[key]:
                stats.files_skipped += 1
            else:
                to_read.append(path)
        stats.files_seen = len(signature)
        stats.files_read = len(to_read)
        stats.files_removed = sum(1 for p in known if p not in signature)
        stale = [p for p in known if known[p] != signature.get(p)]
        return to_read, stale, signature

    def _write(
        self,
        conn: sqlite3.Connection,
        stale: list[str],
        scan: DicomScan | None,
        signature: dict[str, tuple[int, int]],
        stats: ImportStats,
        ctx: TaskContext,
    ) -> None:
        """Apply one import inside the caller's transaction."""
        self._forget(conn, stale)
        if scan is not None:
            total = max(1, len(scan.series) + len(scan.non_image))
            for n, series in enumerate(scan.series):
                ctx.step(0.85 + 0.1 * n / total, "Writing the index")
                stats.instances_written += self._write_series(conn, series, signature)
            for n, obj in enumerate(scan.non_image):
                ctx.step(0.85 + 0.1 * (len(scan.series) + n) / total, "Writing the index")
                self._write_non_image(conn, obj, signature, stats)
            for err in scan.errors:
                stats.errors.append(str(err))
                self._write_unindexed(conn, Path(err.path), "error", err.reason, signature)
        self._prune(conn)
        ctx.check()

    def _forget(self, conn: sqlite3.Connection, paths: Iterable[str]) -> None:
        for p in paths:
            conn.execute("DELETE FROM instances WHERE path = ?", (p,))
            conn.execute("DELETE FROM unindexed_files WHERE path = ?", (p,))

    def _upsert(self, conn: sqlite3.Connection, tags: dict[str, Any], kind: str) -> int:
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

    def _write_series(
        self, conn: sqlite3.Connection, series: DicomSeries, signature: dict[str, tuple[int, int]]
    ) -> int:
        if not series.instances:
            return 0
        tags = _tags(series.instances[0].path)
        # The scan's grouping is authoritative (a split series keeps its SeriesInstanceUID).
        tags.update(StudyInstanceUID=series.study_uid, SeriesInstanceUID=series.series_uid, Modality=series.modality)
        series_ref = self._upsert(conn, tags, "image")
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

    def _write_non_image(
        self, conn: sqlite3.Connection, obj: NonImageObject, signature: dict[str, tuple[int, int]], stats: ImportStats
    ) -> None:
        if not obj.study_uid or not obj.series_uid:  # DICOMDIR and friends: nothing to browse
            self._write_unindexed(conn, obj.path, "skipped", f"{obj.kind} object without study/series", signature)
            return
        tags = _tags(obj.path)
        tags.update(StudyInstanceUID=obj.study_uid, SeriesInstanceUID=obj.series_uid, Modality=obj.modality)
        tags.update(FrameOfReferenceUID="", Rows=None, Columns=None)
        series_ref = self._upsert(conn, tags, obj.kind)
        row = (series_ref, str(obj.path), tags["SOPInstanceUID"], tags["InstanceNumber"])
        conn.execute(
            "INSERT OR REPLACE INTO instances (series_ref, path, frame_index, sop_instance_uid, instance_number, "
            "mtime_ns, size) VALUES (?, ?, 0, ?, ?, ?, ?)",
            (*row, *signature.get(str(obj.path), (0, 0))),
        )
        stats.non_image += 1

    def _write_unindexed(
        self, conn: sqlite3.Connection, path: Path, kind: str, reason: str, signature: dict[str, tuple[int, int]]
    ) -> None:
        mtime_ns, size = signature.get(str(path), (0, 0))
        conn.execute(
            "INSERT OR REPLACE INTO unindexed_files (path, kind, reason, mtime_ns, size) VALUES (?, ?, ?, ?, ?)",
            (str(path), kind, reason, mtime_ns, size),
        )

    def _prune(self, conn: sqlite3.Connection) -> None:
        """Recount instances and delete empty series, studies and patients."""
        conn.execute("UPDATE series SET n_instances = (SELECT count(*) FROM instances WHERE series_ref = series.id)")
        conn.execute("DELETE FROM series WHERE n_instances = 0")
        conn.execute("DELETE FROM studies WHERE NOT EXISTS (SELECT 1 FROM series WHERE study_ref = studies.id)")
        conn.execute("DELETE FROM patients WHERE NOT EXISTS (SELECT 1 FROM studies WHERE patient_ref = patients.id)")

    def _fill_totals(self, conn: sqlite3.Connection, stats: ImportStats) -> None:
        for table in ("patients", "studies", "series", "instances"):
            setattr(stats, table, conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def remove_folder(self, folder: str | os.PathLike[str]) -> int:
        """Forget every file under ``folder`` (files on disk are untouched); return how many.

        Call from any thread; it runs in one transaction on the calling thread's connection.
        """
        lo, hi = _prefix_range(Path(folder).expanduser().resolve())
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            n = conn.execute(
                "SELECT count(*) FROM (SELECT path FROM instances WHERE path >= ? AND path < ? "
                "UNION SELECT path FROM unindexed_files WHERE path >= ? AND path < ?)",
                (lo, hi, lo, hi),
            ).fetchone()[0]
            conn.execute("DELETE FROM instances WHERE path >= ? AND path < ?", (lo, hi))
            conn.execute("DELETE FROM unindexed_files WHERE path >= ? AND path < ?", (lo, hi))
            self._prune(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(n)

    # ------------------------------------------------------------------ queries
    def patients(self) -> list[PatientRecord]:
        """Return every patient, ordered by name."""
        rows = self._conn().execute(
            "SELECT p.id, p.patient_id, p.patient_name, p.birth_date, p.sex, count(s.id) AS n FROM patients p "
            "LEFT JOIN studies s ON s.patient_ref = p.id GROUP BY p.id ORDER BY p.patient_name, p.patient_id"
        )
        return [PatientRecord(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    _STUDY_SELECT = (
        "SELECT st.study_uid, st.patient_ref, st.study_date, st.study_time, st.description, st.accession_number, "
        "coalesce(group_concat(DISTINCT se.modality), '') AS modalities, count(DISTINCT se.id) AS n_series, "
        "coalesce(sum(se.n_instances), 0) AS n_instances FROM studies st JOIN series se ON se.study_ref = st.id "
    )

    def _studies(self, where: str, params: tuple[Any, ...]) -> list[StudyRecord]:
        sql = f"{self._STUDY_SELECT} {where} GROUP BY st.id ORDER BY st.study_date DESC, st.study_time DESC"
        return [StudyRecord(*tuple(r)) for r in self._conn().execute(sql, params)]

    def studies(self, patient_key: int | None = None) -> list[StudyRecord]:
        """Return the studies of one patient (``PatientRecord.key``) or of everyone, newest first."""
        if patient_key is None:
            return self._studies("", ())
        return self._studies("WHERE st.patient_ref = ?", (int(patient_key),))

    def series(self, study_uid: str) -> list[SeriesRecord]:
        """Return the series of a study ordered by series number."""
        rows = self._conn().execute(
            "SELECT se.series_uid, st.study_uid, se.series_number, se.modality, se.description, se.kind, se.rows, "
            "se.columns, se.n_instances FROM series se JOIN studies st ON se.study_ref = st.id "
            "WHERE st.study_uid = ? ORDER BY se.series_number IS NULL, se.series_number, se.series_uid",
            (study_uid,),
        )
        return [SeriesRecord(*tuple(r)) for r in rows]

    def instances(self, series_uid: str) -> list[Path]:
        """Return the files of a series in slice order (each file once)."""
        rows = self._conn().execute(
            "SELECT i.path FROM instances i JOIN series se ON i.series_ref = se.id WHERE se.series_uid = ? "
            "GROUP BY i.path ORDER BY min(i.slice_location_mm), min(i.instance_number), i.path",
            (series_uid,),
        )
        return [Path(r[0]) for r in rows]

    def unindexed(self) -> list[UnindexedFile]:
        """Return the files that were seen but hold nothing indexable (errors, DICOMDIR...)."""
        rows = self._conn().execute("SELECT path, kind, reason FROM unindexed_files ORDER BY path")
        return [UnindexedFile(Path(r[0]), r[1], r[2]) for r in rows]

    def search(self, text: str) -> list[StudyRecord]:
        """Return studies matching every word of ``text`` (case-insensitive substring).

        Words are matched against patient name and id, study date, description and accession,
        study UID, series modality and description.
        """
        words = text.split()
        if not words:
            return self.studies()
        columns = (
            "p.patient_name",
            "p.patient_id",
            "s2.study_date",
            "s2.description",
            "s2.accession_number",
            "s2.study_uid",
            "sx.modality",
            "sx.description",
        )
        match_any = " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns)
        subquery = (
            "st.id IN (SELECT s2.id FROM studies s2 JOIN patients p ON s2.patient_ref = p.id "
            f"JOIN series sx ON sx.study_ref = s2.id WHERE {match_any})"
        )
        params: list[str] = []
        for word in words:  # every word must match somewhere in the study, not necessarily one series
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [pattern] * len(columns)
        where = "WHERE " + " AND ".join([subquery] * len(words))
        return self._studies(where, tuple(params))
