"""Records, errors and validation shared by the DICOMweb and DIMSE clients.

Nothing here talks to the network. Records never show patient tags in their ``repr`` (they end
up in logs and tracebacks); :meth:`StudyResult.to_dict` gives them to the caller that asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from analysis._task import TaskContext
from app.io.errors import MedwsIOError

_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_DATE_RE = re.compile(r"^(\d{8})?(-)?(\d{8})?$")
_ISO_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MODALITY_RE = re.compile(r"^[A-Z0-9_]{1,16}$")


class PacsError(MedwsIOError):
    """A PACS operation failed: unreachable server, refused credentials, lost connection...

    ``str(error)`` is one line, ``<server>: <reason>``; it never holds a secret or patient tags.
    """

    def __init__(self, server: str, reason: str) -> None:
        super().__init__(f"PACS server '{server}'", reason)
        self.server = server


def check_uid(uid: str, what: str = "UID") -> str:
    """Return ``uid`` stripped when it is a valid DICOM UID, else raise ``ValueError``.

    UIDs from a server become folder names, so this also stops path tricks ("..", "/").
    """
    uid = str(uid).strip().rstrip("\x00")
    if not (0 < len(uid) <= 64 and _UID_RE.match(uid)):
        raise ValueError(f"not a valid DICOM {what}: {uid[:70]!r}")
    return uid


def parse_date_range(text: str) -> str:
    """Validate a DICOM date or range (``YYYYMMDD``, ``FROM-TO``, ``FROM-``, ``-TO``); return the DICOM form.

    ISO dates (``2024-01-31``) are accepted on either side and converted.
    """
    text = _ISO_DATE_RE.sub(r"\1\2\3", text.strip())
    m = _DATE_RE.match(text)
    if not text or text == "-" or not m or (m.group(2) is None and m.group(3)):
        raise ValueError(f"study date must be YYYYMMDD or FROM-TO (YYYYMMDD-YYYYMMDD), got {text!r}")
    return text


@dataclass(frozen=True)
class StudyQuery:
    """Study-level search keys; empty strings match everything.

    ``patient_name`` and ``patient_id`` accept DICOM wildcards (``*`` any run, ``?`` one
    character) and are matched case-insensitively by most servers. ``study_date`` is a DICOM date
    or range (see :func:`parse_date_range`). ``modality`` matches ModalitiesInStudy.
    """

    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    modality: str = ""
    accession_number: str = ""
    study_uid: str = ""
    limit: int = 500

    def __post_init__(self) -> None:
        if self.study_date:
            object.__setattr__(self, "study_date", parse_date_range(self.study_date))
        if self.modality and not _MODALITY_RE.match(self.modality.upper()):
            raise ValueError(f"not a modality: {self.modality!r}")
        object.__setattr__(self, "modality", self.modality.upper())
        if self.study_uid:
            check_uid(self.study_uid, "StudyInstanceUID")

    def __repr__(self) -> str:  # keys may identify a patient
        return "StudyQuery(...)"


class _Record:
    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (includes patient tags: do not log it)."""
        out = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class StudyResult(_Record):
    """One study found on a server (dates are DICOM ``YYYYMMDD``/``HHMMSS`` strings)."""

    study_uid: str
    patient_name: str = field(repr=False)
    patient_id: str = field(repr=False)
    study_date: str
    study_time: str = ""
    description: str = ""
    accession_number: str = field(default="", repr=False)
    modalities: tuple[str, ...] = ()
    n_series: int | None = None
    n_instances: int | None = None


@dataclass(frozen=True)
class SeriesResult(_Record):
    """One series of a study on a server."""

    series_uid: str
    study_uid: str
    modality: str = ""
    series_number: int | None = None
    description: str = ""
    n_instances: int | None = None


@dataclass(frozen=True)
class InstanceRef:
    """One instance of a series on a server (what a retrieve must end up with)."""

    sop_instance_uid: str
    sop_class_uid: str = ""


@dataclass
class RetrieveResult:
    """What one retrieve did. Holds no patient tags.

    ``received`` instances were transferred, ``skipped`` were already in the managed storage
    (resume), ``bytes_received`` counts transferred file bytes, ``series_dirs`` are the managed
    folders of the series now complete and indexed, ``seconds`` is the wall time.
    """

    study_uid: str
    series_dirs: list[str] = field(default_factory=list)
    received: int = 0
    skipped: int = 0
    bytes_received: int = 0
    seconds: float = 0.0
    dest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __str__(self) -> str:
        mb = self.bytes_received / 1e6
        return (
            f"{len(self.series_dirs)} series complete: {self.received} instances received, {self.skipped} already "
            f"present, {mb:.1f} MB in {self.seconds:.1f} s"
        )


@dataclass
class SendResult:
    """What one send did: instances stored on the server, and the (PHI-free) failures."""

    sent: int = 0
    bytes_sent: int = 0
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def sub_context(ctx: TaskContext, lo: float, hi: float) -> TaskContext:
    """Return a context mapping progress [0, 1] onto [lo, hi] of ``ctx`` (same cancel flag)."""

    def report(fraction: float, message: str) -> None:
        ctx.report(lo + (hi - lo) * max(0.0, min(1.0, fraction)), message)

    return TaskContext(report=report, is_cancelled=ctx.is_cancelled)


def as_int(value: Any) -> int | None:
    """Return ``value`` as int, or None when missing or not a number."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
