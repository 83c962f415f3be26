"""Schema, migrations and record types of the study index (:mod:`app.io.study_index`).

The database's ``PRAGMA user_version`` is :data:`SCHEMA_VERSION`; ``_MIGRATIONS[n]`` upgrades a
database at version n to n + 1 inside the caller's transaction. Records are frozen dataclasses that
also read like mappings (``dict(record)``); none of them shows patient tags in its ``repr``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "ImportStats",
    "PatientRecord",
    "SeriesRecord",
    "StudyRecord",
    "UnindexedFile",
]

SCHEMA_VERSION = 2
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
