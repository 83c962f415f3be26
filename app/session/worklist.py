"""Worklists: the cases (studies) of a reading project, with a status per reader.

A worklist is one UTF-8 JSON file, replaced atomically on every change::

    {"format": "medws-worklist", "version": 1, "name": "lung study", "created_at": ISO,
     "cases": [{"id": "case-001", "input": "/data/ct1", "study_uid": "1.2..." | null,
                "session": "/data/ct1.medws" | null,
                "readers": {"alice": {"status": "in_progress", "started_at": ISO, "updated_at": ISO,
                                      "done_at": null}}}]}

``input`` is what the viewer opens (a DICOM folder, a volume file or a sample name); ``session``
the case's session folder when known (else it is found from ``study_uid`` / ``input`` as the GUI
does). A reader with no entry has status ``not_started``. Times are ISO 8601 UTC. Statuses:
:data:`CASE_STATUSES`. Any thread, one writer at a time per file (last writer wins).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.io.errors import MedwsIOError
from app.paths import reader_name
from app.session._atomic import atomic_write_json, read_json

__all__ = ["CASE_STATUSES", "FORMAT", "Case", "Worklist", "WorklistError"]

FORMAT = "medws-worklist"
VERSION = 1
CASE_STATUSES = ("not_started", "in_progress", "done")


class WorklistError(MedwsIOError):
    """Unreadable or invalid worklist file, unknown case or status."""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Case:
    """One study of the worklist. ``readers`` maps reader name → status record."""

    id: str
    input: str
    study_uid: str | None = None
    session: str | None = None
    readers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def status(self, reader: str) -> str:
        """The case's status for ``reader`` (``not_started`` when the reader has no record)."""
        return str(self.readers.get(reader, {}).get("status", "not_started"))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "input": self.input, "study_uid": self.study_uid, "session": self.session,
                "readers": self.readers}


class Worklist:
    """A worklist file in memory; :meth:`save` writes it atomically (:meth:`set_status` saves)."""

    def __init__(self, path: str | os.PathLike[str], cases: list[Case] | None = None, name: str = "",
                 created_at: str | None = None) -> None:
        self.path = Path(path)
        self.cases = list(cases or [])
        self.name = name or self.path.stem
        self.created_at = created_at or _now_iso()

    # ------------------------------------------------------------------ files
    @classmethod
    def create(cls, path: str | os.PathLike[str], inputs: list[str], *, name: str = "") -> Worklist:
        """Write a new worklist of ``inputs`` (image paths, sample names or ``.medws`` session folders).

        A session folder contributes its study UID and first source path. Refuses to overwrite.
        """
        path = Path(path)
        if path.exists():
            raise WorklistError(path, "already exists")
        if not inputs:
            raise WorklistError(path, "no cases given")
        cases = []
        for n, spec in enumerate(inputs, 1):
            case = Case(f"case-{n:03d}", str(spec))
            folder = Path(spec)
            if (folder / "session.json").is_file():
                from app.session.folder import read_manifest

                manifest = read_manifest(folder)
                case.session = str(folder.resolve())
                case.study_uid = (manifest.get("study") or {}).get("study_uid")
                case.input = next((r["source_path"] for r in manifest.get("sources", []) if r.get("source_path")),
                                  str(folder))
            elif folder.exists():
                case.input = str(folder.resolve())
            cases.append(case)
        worklist = cls(path, cases, name=name)
        worklist.save()
        return worklist

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Worklist:
        """Read a worklist file; a missing, unreadable or foreign file raises :class:`WorklistError`."""
        path = Path(path)
        try:
            data = read_json(path)
        except FileNotFoundError:
            raise WorklistError(path, "no such worklist") from None
        except (OSError, ValueError) as exc:
            raise WorklistError(path, f"unreadable ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise WorklistError(path, f"not a {FORMAT} file")
        if int(data.get("version", 1)) > VERSION:
            raise WorklistError(path, f"version {data['version']} is newer than this MedWS reads ({VERSION})")
        try:
            cases = [Case(str(c["id"]), str(c["input"]), c.get("study_uid"), c.get("session"),
                          {str(k): dict(v) for k, v in (c.get("readers") or {}).items()}) for c in data["cases"]]
        except (KeyError, TypeError, AttributeError) as exc:
            raise WorklistError(path, f"malformed case entry ({exc})") from None
        return cls(path, cases, name=str(data.get("name") or ""), created_at=data.get("created_at"))

    def save(self) -> None:
        """Replace the file atomically."""
        atomic_write_json(self.path, {"format": FORMAT, "version": VERSION, "name": self.name,
                                      "created_at": self.created_at, "cases": [c.to_dict() for c in self.cases]})

    # ------------------------------------------------------------------ cases
    def find(self, key: str) -> Case:
        """A case by id, 1-based position, or input path."""
        for case in self.cases:
            if key in (case.id, case.input) or (Path(key).exists() and Path(key).resolve() == Path(case.input)):
                return case
        if key.isdigit() and 1 <= int(key) <= len(self.cases):
            return self.cases[int(key) - 1]
        raise WorklistError(self.path, f"no case {key!r}")

    def next_case(self, reader: str | None = None, after: str | None = None) -> Case | None:
        """The first case after ``after`` (a case id; wrapping around) that ``reader`` has not done.

        Without ``after``, cases in progress come first, then the first not started. None when all are done.
        """
        reader = reader or reader_name()
        pending = [c for c in self.cases if c.status(reader) != "done"]
        if after is None:
            return next((c for c in pending if c.status(reader) == "in_progress"), pending[0] if pending else None)
        ids = [c.id for c in self.cases]
        start = ids.index(after) + 1 if after in ids else 0
        ordered = self.cases[start:] + self.cases[:start]
        return next((c for c in ordered if c.id != after and c.status(reader) != "done"), None)

    def set_status(self, case: Case | str, status: str, reader: str | None = None) -> Case:
        """Set ``reader``'s status of a case (stamping start/update/done times) and save the file."""
        if status not in CASE_STATUSES:
            raise WorklistError(self.path, f"unknown status {status!r}; expected one of {', '.join(CASE_STATUSES)}")
        case = self.find(case) if isinstance(case, str) else case
        reader = reader or reader_name()
        now = _now_iso()
        record = case.readers.setdefault(reader, {"status": "not_started", "started_at": None, "done_at": None})
        record["status"], record["updated_at"] = status, now
        if status == "in_progress" and not record.get("started_at"):
            record["started_at"] = now
        record["done_at"] = now if status == "done" else None
        if status == "not_started":
            record["started_at"] = None
        self.save()
        return case

    def counts(self, reader: str | None = None) -> dict[str, int]:
        """Number of cases per status for ``reader``."""
        reader = reader or reader_name()
        out = dict.fromkeys(CASE_STATUSES, 0)
        for case in self.cases:
            out[case.status(reader)] += 1
        return out

    def session_folder(self, case: Case) -> Path | None:
        """The case's session folder: its ``session`` entry, else the one MedWS finds for its study/input."""
        if case.session and Path(case.session, "session.json").is_file():
            return Path(case.session)
        from app.session.folder import find_session_for

        image_path = case.input if Path(case.input).exists() else None
        if not case.study_uid and image_path is None:
            return None
        return find_session_for(case.study_uid, image_path)
