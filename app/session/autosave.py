"""Autosave: journal every edit of a :class:`~app.model.session.Session` and compact periodically.

Thread rules
------------
* Every public method of :class:`Autosaver` runs on the thread that edits the session (the GUI
  thread). The GUI calls :meth:`Autosaver.tick` from a ``QTimer`` every ~0.5 s and on idle; a
  CLI or test calls it from its own loop. Nothing here needs Qt.
* Model signals are handled on the GUI thread and only record what changed (cheap): label boxes
  are merged into a short dirty list, box/finding/segment edits become JSON records at once.
* :meth:`tick` copies the dirty label boxes (GUI thread, ``memcpy`` of the boxes only) and hands
  them to the :class:`~app.session.journal.JournalWriter` thread, which compresses, appends and
  fsyncs (when idle, and at least every ``fsync_interval_s`` under load).
* Review state has no signals: :meth:`tick` journals every original proposal that appeared in
  ``session.original_proposals`` since the last tick (a segment's bit-packed bounding-box mask as
  the blob; one dict scan: an idle tick with 1000 originals takes ~0.3 ms) and the review
  clock's seconds, coalesced: with the other records of a tick, else at most every
  ``review_interval_s`` seconds.
* Compaction snapshots the model on the GUI thread and writes the full save from a short-lived
  ``medws-compact`` thread; the journal is truncated only after ``session.json`` committed it.

What survives a ``kill -9``: everything seen by the last :meth:`tick` (the writer appends within
milliseconds; the page cache keeps it when the process dies), except review time while nothing
else is edited: up to ``review_interval_s`` plus one tick period of it. A power cut may also lose
up to ``fsync_interval_s`` more.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.io.errors import MedwsIOError
from app.model.labels import LabelVolume
from app.model.session import Session
from app.session import _codec, _review_codec
from app.session.folder import (
    JOURNAL_NAME,
    MANIFEST_NAME,
    read_manifest,
    set_journal,
    snapshot_session,
    write_snapshot,
)
from app.session.journal import JournalWriter
from app.session.lock import SessionLock
from app.session.recovery import has_recoverable_changes

__all__ = ["Autosaver"]

log = logging.getLogger(__name__)

_Box = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
#: Dirty boxes kept per segmentation before they are merged into one.
_MAX_BOXES = 64


def _volume(box: _Box) -> int:
    return (box[0][1] - box[0][0]) * (box[1][1] - box[1][0]) * (box[2][1] - box[2][0])


def _union(a: _Box, b: _Box) -> _Box:
    return tuple((min(p[0], q[0]), max(p[1], q[1])) for p, q in zip(a, b, strict=True))  # type: ignore[return-value]


class Autosaver:
    """Journal a session's edits to ``<folder>/journal.wal`` and compact them into full saves.

    Parameters
    ----------
    session
        The session to watch (GUI thread).
    folder
        Its session folder. :meth:`start` writes a first full save when the folder has none;
        otherwise the session must be the one loaded from there (same ``uid``, not edited since).
    lock
        The folder lock held by this process; released by :meth:`close`. None: take it in
        :meth:`start`.
    fsync_interval_s
        Longest time between fsyncs of the journal while edits keep coming (seconds).
    compact_interval_s, compact_bytes
        Compact (full save, journal truncated) when journal records are older than this many
        seconds, or the journal has grown past this many bytes.
    on_error
        Called on the GUI thread (from :meth:`tick`) with an exception from the writer or a
        compaction; by default it is logged. The journal keeps going after a failed compaction.
    review_interval_s
        Longest time (seconds) between journal records of the review clock while only the clock
        changes; it rides along with any other record of a tick, and :meth:`flush` writes it.
        Review records alone do not make a compaction due.

    Notes
    -----
    Segmentations are identified by their index in ``session.segmentations`` (a Session only
    appends; add them with ``Session.new_segmentation`` or emit ``segmentation_added``).
    """

    def __init__(self, session: Session, folder: str | os.PathLike[str], *, lock: SessionLock | None = None,
                 fsync_interval_s: float = 1.0, compact_interval_s: float = 300.0,
                 compact_bytes: int = 64 * 2**20, on_error: Callable[[BaseException], None] | None = None,
                 review_interval_s: float = 5.0) -> None:
        self.session = session
        self.folder = Path(folder)
        self.lock = lock
        self.fsync_interval_s = fsync_interval_s
        self.compact_interval_s = compact_interval_s
        self.compact_bytes = compact_bytes
        self.on_error = on_error or (lambda exc: log.error("autosave failed: %s", exc))
        self.review_interval_s = float(review_interval_s)
        self._originals: dict[Any, Any] = {}  # originals in the save or the journal (ref -> object)
        self._review_seconds = 0.0  # review clock value in the save or the journal
        self._review_at = 0.0  # monotonic time of the last review record
        self._writer: JournalWriter | None = None
        self._journal_id = ""
        self._seq = 0
        self._dirty: dict[int, list[_Box]] = {}
        self._connections: list[tuple[Any, Callable[..., None]]] = []
        self._compactor: threading.Thread | None = None
        self._compact_error: BaseException | None = None
        self._last_compact = time.monotonic()
        self._records_since_compact = 0
        self._uncommitted = False
        self._needs_full_save = False
        self._retry_at = 0.0

    #: Seconds before a failed compaction is tried again.
    RETRY_S = 10.0

    # ------------------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`close`."""
        return self._writer is not None

    def start(self) -> Autosaver:
        """Lock the folder, commit a fresh journal id, start the writer and subscribe to the model.

        Raises
        ------
        SessionLockedError
            Another live instance edits the folder.
        MedwsIOError
            The folder holds autosaved edits not yet recovered: call :func:`app.session.recover`
            (or :func:`app.session.discard_journal`) first.
        """
        took_lock = self.lock is None
        try:
            if self.lock is None:
                self.lock = SessionLock.acquire(self.folder)
            self._begin()
        except OSError as exc:
            self._abort_start(took_lock)
            raise MedwsIOError(self.folder, f"cannot autosave here ({exc.strerror or exc})") from None
        except BaseException:
            self._abort_start(took_lock)
            raise
        self._last_compact = time.monotonic()
        self._subscribe()
        return self

    def _abort_start(self, took_lock: bool) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if took_lock and self.lock is not None:
            self.lock.release()
            self.lock = None

    def _begin(self) -> None:
        self._journal_id = uuid.uuid4().hex
        self._seq = 0
        self._originals = dict(self.session.original_proposals)  # in the save (existing or written below)
        self._review_seconds, self._review_at = float(self.session.review_clock.seconds), time.monotonic()
        journal = {"id": self._journal_id, "applied_seq": 0}
        existing = read_manifest(self.folder) if (self.folder / MANIFEST_NAME).exists() else None
        if existing is not None and existing.get("uid") != self.session.uid:
            raise MedwsIOError(self.folder, "holds another session; load it, or save this one elsewhere")
        same = existing is not None
        if same and has_recoverable_changes(self.folder):
            raise MedwsIOError(self.folder, "has autosaved edits that were not recovered; recover or discard them")
        # the writer replaces any old journal file with a new, empty one before the manifest names it
        self._writer = JournalWriter(self.folder / JOURNAL_NAME, self._journal_id, self.session.uid,
                                     fsync_interval_s=self.fsync_interval_s)
        if same:
            set_journal(self.folder, journal)
        else:
            write_snapshot(snapshot_session(self.session), self.folder, journal=journal)

    def close(self, *, save: bool = True) -> None:
        """Stop autosaving: a final full save (or just a flushed journal), writer stopped, lock released."""
        if self._writer is None:
            return
        try:
            if save:
                self.save()
            else:
                self.flush()
        finally:
            self._unsubscribe()
            if self._compactor is not None:
                self._compactor.join()
                self._compactor = None
            self._writer.close()
            self._writer = None
            if self.lock is not None:
                self.lock.release()

    # ------------------------------------------------------------------------------ GUI thread
    def tick(self) -> None:
        """Hand the label boxes changed since the last tick to the writer; compact when due.

        Call every ~0.5 s (a ``QTimer``) and on idle; cheap when nothing changed.
        """
        if self._writer is None:
            return
        self._flush_labels()
        self._flush_originals()
        self._flush_review(force=False)
        self._commit()
        self._report_errors()
        if self._compactor is not None and not self._compactor.is_alive():
            self._compactor = None
        due = self._needs_full_save or self._records_since_compact and (
            self._writer.bytes_written >= self.compact_bytes
            or time.monotonic() - self._last_compact >= self.compact_interval_s)
        if due and self._compactor is None and time.monotonic() >= self._retry_at:
            self._compact(background=True)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Tick, then block until the journal holds (fsynced) every edit so far; False on failure."""
        if self._writer is None:
            return False
        self._flush_review(force=True)
        self.tick()
        ok = self._writer.sync(timeout)
        self._report_errors()
        return ok

    def save(self, *, wait: bool = True) -> None:
        """Write a full save now (File > Save), after any background compaction.

        The model is copied at once (GUI thread, milliseconds); with ``wait=False`` the files are
        written by the compaction thread and errors reach ``on_error`` from a later :meth:`tick`.
        A 300×512×512 label map takes ~1.3 s to write.
        """
        if self._writer is None:
            raise RuntimeError("Autosaver is not running")
        if self._compactor is not None:
            self._compactor.join()
            self._compactor = None
        self._flush_labels()  # everything journaled first: a failed save loses nothing
        self._flush_originals()
        self._flush_review(force=True)
        self._commit()
        self._compact(background=not wait)
        if wait:
            self._report_errors()

    def save_as(self, folder: str | os.PathLike[str]) -> None:
        """Move autosaving to a new folder (Save As): full save there under a new session uid."""
        self.close(save=True)
        self.session.uid = uuid.uuid4().hex
        self.folder, self.lock = Path(folder), None
        self.start()

    # ------------------------------------------------------------------------------ internals
    def _append(self, header: dict[str, Any], blob: bytes = b"", *, compress: bool = False,
                counts: bool = True) -> None:
        """Queue one record; ``counts`` False: it alone does not make a compaction due."""
        self._seq += 1
        self._records_since_compact += counts
        self._uncommitted = True
        self._writer.append({**header, "seq": self._seq}, blob, compress=compress)  # type: ignore[union-attr]

    def _commit(self) -> None:
        """Close the records of this tick: recovery replays whole ticks only (a consistent state)."""
        if self._uncommitted:
            self._append({"t": "commit", "time": time.time()})
            self._uncommitted = False

    def _flush_labels(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for index, boxes in dirty.items():
            labels = self.session.segmentations[index]
            for box in boxes:
                values = labels.array[tuple(slice(a, b) for a, b in box)]
                self._append({"t": "labels", "seg": index, "box": [list(p) for p in box],
                              "dtype": str(values.dtype), "shape": list(values.shape)},
                             values.tobytes(), compress=True)

    def _flush_originals(self) -> None:
        """Journal originals added (or replaced, or dropped) since the last tick."""
        current, known = self.session.original_proposals, self._originals
        if len(current) == len(known) and all(known.get(ref) is original for ref, original in current.items()):
            return
        for ref, original in current.items():
            if known.get(ref) is not original:
                encoded = _review_codec.original_to_journal(ref, original)
                if encoded is not None:
                    header, blob = encoded
                    self._append({"t": "original", **header}, blob, compress=bool(blob))
        for ref in known.keys() - current.keys():
            self._append({"t": "original_del", "ref": ref.key})
        self._originals = dict(current)

    def _flush_review(self, *, force: bool) -> None:
        """Journal the review clock when it moved and a record is due (see ``review_interval_s``)."""
        seconds = float(self.session.review_clock.seconds)
        if seconds == self._review_seconds:
            return
        now = time.monotonic()
        if force or self._uncommitted or now - self._review_at >= self.review_interval_s:
            self._append({"t": "review", "active_seconds": seconds}, counts=False)
            self._review_seconds, self._review_at = seconds, now

    def _compact(self, *, background: bool) -> None:
        snapshot = snapshot_session(self.session)  # GUI thread: consistent copy
        self._originals = dict(self.session.original_proposals)  # all in the snapshot now
        self._review_seconds = float(snapshot.annotations["review"]["active_seconds"])
        applied, writer, folder = self._seq, self._writer, self.folder
        journal = {"id": self._journal_id, "applied_seq": applied}
        self._last_compact = time.monotonic()
        self._records_since_compact = 0
        self._needs_full_save = False

        def run() -> None:
            try:
                write_snapshot(snapshot, folder, journal=journal)
            except Exception as exc:  # reported on the GUI thread by tick()
                self._compact_error = exc
                self._needs_full_save = True
                return
            writer.truncate_through(applied)  # type: ignore[union-attr]

        if background:
            self._compactor = threading.Thread(target=run, name="medws-compact", daemon=True)
            self._compactor.start()
        else:
            run()
            writer.sync()  # type: ignore[union-attr]

    def _report_errors(self) -> None:
        if self._writer is not None and self._writer.error is not None:
            self._needs_full_save = True  # a record was lost: only a full save is consistent again
        if self._compact_error is not None:  # e.g. disk full: retry, but not on every tick
            self._retry_at = time.monotonic() + self.RETRY_S
        for exc in (self._compact_error, self._writer.error if self._writer else None):
            if exc is not None:
                self.on_error(exc)
        self._compact_error = None
        if self._writer is not None:
            self._writer.error = None

    # ------------------------------------------------------------------------------ signals
    def _connect(self, signal: Any, callback: Callable[..., None]) -> None:
        signal.connect(callback)
        self._connections.append((signal, callback))

    def _unsubscribe(self) -> None:
        for signal, callback in self._connections:
            signal.disconnect(callback)
        self._connections.clear()

    def _subscribe(self) -> None:
        s = self.session
        for labels in s.segmentations:
            self._watch_labels(labels)
        self._connect(s.segmentation_added, self._on_session_segmentation_added)
        self._connect(s.image_added, self._on_session_image_added)
        for items, kind, encode in ((s.boxes, "box", _codec.box_to_dict), (s.findings, "finding",
                                                                         _codec.finding_to_dict)):
            self._connect(items.added, lambda item, k=kind, e=encode: self._append({"t": f"{k}_put", "item": e(item)}))
            self._connect(items.changed,
                          lambda _old, new, k=kind, e=encode: self._append({"t": f"{k}_put", "item": e(new)}))
            self._connect(items.removed, lambda item, k=kind: self._append({"t": f"{k}_del", "id": item.id}))

    def _watch_labels(self, labels: LabelVolume) -> int:
        index = self.session.segmentations.index(labels)
        self._connect(labels.changed, lambda box, i=index: self._on_labels_changed(i, box))
        self._connect(labels.table.changed,
                      lambda label_id, lv=labels, i=index: self._on_table_changed(i, lv, label_id))
        return index

    def _on_session_segmentation_added(self, labels: LabelVolume) -> None:
        index = self._watch_labels(labels)
        self._append({"t": "seg_new", "seg": index, "name": labels.name, "dtype": str(labels.array.dtype),
                      "geometry": _codec.geometry_to_dict(labels.geometry),
                      "label_table": _codec.table_to_dict(labels.table)})
        if labels.array.any():  # created with content (an AI result): journal it whole
            self._on_labels_changed(index, tuple(slice(0, n) for n in labels.array.shape))

    def _on_session_image_added(self, image: Any) -> None:
        self._append({"t": "source", "ref": _codec.image_ref(image)})

    def _on_table_changed(self, index: int, labels: LabelVolume, label_id: int) -> None:
        seg = labels.table[label_id] if label_id in labels.table else None
        self._append({"t": "segment", "seg": index, "id": int(label_id),
                      "segment": None if seg is None else _codec.segment_to_dict(seg)})

    def _on_labels_changed(self, index: int, box: tuple[slice, ...]) -> None:
        shape = self.session.segmentations[index].array.shape
        new: _Box = tuple(s.indices(n)[:2] for s, n in zip(box, shape, strict=True))  # type: ignore[assignment]
        if _volume(new) <= 0:
            return
        boxes = self._dirty.setdefault(index, [])
        for k, old in enumerate(boxes):
            merged = _union(old, new)
            if _volume(merged) <= 1.5 * (_volume(old) + _volume(new)) + 4096:
                boxes[k] = merged
                return
        boxes.append(new)
        if len(boxes) > _MAX_BOXES:
            whole = boxes[0]
            for b in boxes[1:]:
                whole = _union(whole, b)
            boxes[:] = [whole]
