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

Layout: this module holds connections, the import plan and the queries; the schema, migrations and
record types live in :mod:`app.io._study_index_schema`, and the write phase of an import in
:mod:`app.io._study_index_write`. Everything public is re-exported here.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from analysis._task import NULL_CONTEXT, TaskContext
from app.io._study_index_schema import (
    _MIGRATIONS,
    SCHEMA_VERSION,
    ImportStats,
    PatientRecord,
    SeriesRecord,
    StudyRecord,
    UnindexedFile,
)
from app.io._study_index_write import prune, write_import
from app.io.dicom_scan import iter_files, scan_dicom
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

_BUSY_TIMEOUT_S = 30.0


# ----------------------------------------------------------------------------- helpers
def _prefix_range(folder: Path) -> tuple[str, str]:
    """Return [lo, hi) bounds selecting every path string inside ``folder`` (index friendly)."""
    lo = str(folder).rstrip(os.sep) + os.sep
    return lo, lo[:-1] + chr(ord(os.sep) + 1)


def _sub(ctx: TaskContext, lo: float, hi: float) -> TaskContext:
    def report(fraction: float, message: str) -> None:
        ctx.report(lo + (hi - lo) * max(0.0, min(1.0, fraction)), message)

    return TaskContext(report=report, is_cancelled=ctx.is_cancelled)


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
                write_import(conn, stale, scan, signature, stats, ctx)
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
            prune(conn)
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
