"""Replay an autosave journal onto the last save: crash recovery.

:func:`has_recoverable_changes` tells whether ``journal.wal`` holds edits newer than the committed
save (same journal id as ``session.json``, records with ``seq`` above its ``applied_seq``).
:func:`recover` loads the save, applies those records in order and, by default, commits the result
as a new save (which drops the journal). Label records carry the values of a whole box, so
applying one twice, or on top of a save that already contains it, gives the same voxels; the
``original`` and ``review`` records carry whole values too (an original proposal, the review
clock's seconds). Journals written before those records existed recover as before: boxes and
findings still proposed get their originals back when replayed, segment originals and review
time not in the save are lost. The review tracker's automatic ``edited`` marking is off during
the replay: the journal holds every status change, including the automatic ones.
Any thread may call these functions on a session nobody else is editing.
"""

from __future__ import annotations

import logging
import os
import zlib
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from app.model.labels import LabelVolume
from app.model.review import AnnotationRef
from app.model.session import Session
from app.session import _codec, _review_codec
from app.session.folder import JOURNAL_NAME, SessionFormatError, load_session, read_manifest, save_session
from app.session.journal import JournalRecord, read_journal

__all__ = ["RecoveryInfo", "apply_record", "has_recoverable_changes", "pending_records", "recover"]

log = logging.getLogger(__name__)


class RecoveryInfo(dict):
    """What :func:`pending_records` found.

    Keys: ``records`` (to replay), ``torn_bytes`` (ignored torn tail), ``uncommitted`` (intact
    records after the last ``commit``, ignored), ``journal_id`` and ``applied_seq`` of the save.
    """


def pending_records(folder: str | os.PathLike[str]) -> RecoveryInfo:
    """Return the journal records of ``folder`` not yet in its committed save.

    A journal with another id than the one committed in ``session.json`` is stale (its edits are
    already in a later save, or it belongs to a discarded run) and yields no records.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    committed = manifest.get("journal") or {}
    head, records, torn = read_journal(folder / JOURNAL_NAME)
    info = RecoveryInfo(records=[], torn_bytes=torn, uncommitted=0, journal_id=committed.get("id"),
                        applied_seq=int(committed.get("applied_seq", 0)))
    if head is None or not committed or head.get("journal_id") != committed.get("id"):
        return info
    # only whole ticks: records after the last commit were cut off by the crash
    last_commit = max((n for n, r in enumerate(records) if r.type == "commit"), default=-1)
    info["uncommitted"] = len(records) - last_commit - 1
    info["records"] = [r for r in records[:last_commit + 1] if r.seq > info["applied_seq"] and r.type != "commit"]
    return info


def has_recoverable_changes(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` has autosaved edits newer than its last save (offer recovery on open)."""
    try:
        return bool(pending_records(folder)["records"])
    except SessionFormatError:
        return False


def _box(record: JournalRecord) -> tuple[slice, slice, slice]:
    return tuple(slice(int(a), int(b)) for a, b in record.header["box"])  # type: ignore[return-value]


def _segment_fields(segment: Any) -> dict[str, Any]:
    return {f.name: getattr(segment, f.name) for f in fields(segment) if f.name != "id"}


def apply_record(session: Session, record: JournalRecord) -> None:
    """Apply one journal record to ``session`` (the thread that owns ``session`` only).

    Unknown record types are skipped with a warning (written by a newer MedWS).
    """
    h, kind = record.header, record.type
    if kind == "labels":
        labels = session.segmentations[int(h["seg"])]
        values = np.frombuffer(_blob(record), dtype=np.dtype(h["dtype"])).reshape(h["shape"])
        if values.dtype.itemsize > labels.array.dtype.itemsize:
            labels.array = labels.array.astype(values.dtype)
        box = _box(record)
        labels.array[box] = values
        labels.changed.emit(box)
    elif kind == "seg_new":
        index = int(h["seg"])
        if index < len(session.segmentations):
            return  # already in the save
        geometry = _codec.geometry_from_dict(h["geometry"])
        labels = LabelVolume(geometry, _codec.table_from_dict(h["label_table"]), name=h.get("name", ""),
                             array=np.zeros(geometry.shape_zyx, np.dtype(h.get("dtype", "uint8"))))
        session.segmentations.append(labels)
        session.segmentation_added.emit(labels)
    elif kind == "segment":
        table = session.segmentations[int(h["seg"])].table
        label_id, data = int(h["id"]), h.get("segment")
        if data is None:
            if label_id in table:
                table.remove(label_id)
        elif label_id in table:
            table.update(label_id, **_segment_fields(_codec.segment_from_dict(data)))
        else:
            table.add(_codec.segment_from_dict(data))
    elif kind in ("box_put", "finding_put"):
        items, decode = ((session.boxes, _codec.box_from_dict) if kind == "box_put"
                         else (session.findings, _codec.finding_from_dict))
        item = decode(h["item"])
        if any(i.id == item.id for i in items):
            items.update(item.id, **{f.name: getattr(item, f.name) for f in fields(item) if f.name != "id"})
        else:
            items.add(item)
    elif kind in ("box_del", "finding_del"):
        items = session.boxes if kind == "box_del" else session.findings
        if any(i.id == h["id"] for i in items):
            items.remove(h["id"])
    elif kind == "source":
        if h["ref"] not in session.sources:
            session.sources.append(dict(h["ref"]))
        if h["ref"].get("study_uid") and not session.study_uid:
            session.study_uid = h["ref"]["study_uid"]
    elif kind == "original":
        ref, original = _review_codec.original_from_journal(h, _blob(record))
        session.original_proposals[ref] = original
    elif kind == "original_del":
        session.original_proposals.pop(AnnotationRef.from_key(h["ref"]), None)
    elif kind == "review":
        session.review_clock.seconds = float(h["active_seconds"])
    else:
        log.warning("skipping unknown journal record type %r", kind)


def _blob(record: JournalRecord) -> bytes:
    """The record's blob, decompressed when the writer compressed it."""
    if record.header.get("codec") == "zlib":
        try:
            return zlib.decompress(record.blob)
        except zlib.error as exc:
            raise ValueError(f"corrupt compressed blob ({exc})") from None
    return record.blob


def recover(folder: str | os.PathLike[str], *, commit: bool = True) -> Session:
    """Load the last save of ``folder`` and replay its newer journal records onto it.

    Parameters
    ----------
    folder
        A session folder.
    commit
        Save the recovered session as a new generation (dropping the journal), so the recovery
        happens once. The caller should hold the folder's lock (:class:`~app.session.lock.SessionLock`).

    Returns
    -------
    Session
        The recovered session (images not loaded; see :func:`~app.session.folder.load_session`).
    """
    folder = Path(folder)
    info = pending_records(folder)
    session = load_session(folder)
    skipped = 0
    with session.review.suspended():  # statuses come from the journal, not from replayed voxels
        for record in info["records"]:
            try:
                apply_record(session, record)
            except (IndexError, KeyError, TypeError, ValueError) as exc:  # recover what can be recovered
                skipped += 1
                log.warning("skipping journal record %d (%s): %s", record.seq, record.type, exc)
    info["skipped"] = skipped
    if info["torn_bytes"]:
        log.warning("ignored a torn journal tail of %d bytes", info["torn_bytes"])
    log.info("recovered %d journal records", len(info["records"]))
    if commit and info["records"]:
        save_session(session, folder)
    return session
