"""The autosave journal: a write-ahead log of edits appended between full saves.

File layout (``journal.wal`` in the session folder), all integers little endian::

    b"MEDWSWAL"                       8-byte magic
    frame*                            the first frame is the journal header record
    frame := u32 length | u32 crc32(payload) | payload[length]
    payload := u32 n | JSON header (n bytes, UTF-8) | blob (the rest; may be empty)

The JSON header of the first frame is ``{"t": "journal", "journal_id": hex, "session_uid": hex,
"format_version": 1}``; every later record has ``"t"`` (its type) and ``"seq"`` (strictly
increasing). A frame whose length runs past the end of the file or whose CRC does not match is a
torn write (the process died mid-append): reading stops there and the rest is ignored. Records are
described in :mod:`app.session`.

Thread rules: :class:`JournalWriter` owns one writer thread; :meth:`JournalWriter.append`,
:meth:`~JournalWriter.truncate_through` and :meth:`~JournalWriter.sync` may be called from any
thread and only enqueue work. :func:`read_journal` may be called from any thread.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.session._atomic import fsync_dir

__all__ = ["JOURNAL_MAGIC", "JournalRecord", "JournalWriter", "encode_frame", "read_journal"]

log = logging.getLogger(__name__)

JOURNAL_MAGIC = b"MEDWSWAL"
_FRAME = struct.Struct("<II")
_HLEN = struct.Struct("<I")
#: Largest frame accepted when reading (a garbage length must not make us allocate gigabytes).
_MAX_FRAME = 1 << 34


@dataclass(frozen=True)
class JournalRecord:
    """One decoded record: its JSON header and binary blob (``b""`` when none)."""

    header: dict[str, Any]
    blob: bytes = b""

    @property
    def seq(self) -> int:
        """Sequence number (0 for the journal header)."""
        return int(self.header.get("seq", 0))

    @property
    def type(self) -> str:
        """Record type (``"t"``)."""
        return str(self.header["t"])


def encode_frame(header: dict[str, Any], blob: bytes = b"") -> bytes:
    """Return one framed record: length, CRC-32 and payload."""
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    payload = _HLEN.pack(len(text)) + text + blob
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def _iter_frames(data: bytes) -> Iterator[tuple[int, int, JournalRecord]]:
    """Yield (start offset, end offset, record) of each intact frame; stop at the first torn one."""
    pos = len(JOURNAL_MAGIC)
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        start, end = pos + _FRAME.size, pos + _FRAME.size + length
        if length < _HLEN.size or length > _MAX_FRAME or end > len(data):
            return
        payload = data[start:end]
        if zlib.crc32(payload) != crc:
            return
        (n,) = _HLEN.unpack_from(payload, 0)
        try:
            header = json.loads(payload[_HLEN.size:_HLEN.size + n].decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return
        yield pos, end, JournalRecord(header, bytes(payload[_HLEN.size + n:]))
        pos = end


def read_journal(path: str | os.PathLike[str]) -> tuple[dict[str, Any] | None, list[JournalRecord], int]:
    """Read a journal file.

    Returns
    -------
    header, records, torn_bytes
        The journal header (None when the file is missing, empty or not a journal), the intact
        records after it in file order, and how many trailing bytes were ignored (a torn write).
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None, [], 0
    if not data.startswith(JOURNAL_MAGIC):
        return None, [], len(data)
    frames = list(_iter_frames(data))
    end = frames[-1][1] if frames else len(JOURNAL_MAGIC)
    if not frames or frames[0][2].type != "journal":
        return None, [], len(data) - len(JOURNAL_MAGIC)
    return frames[0][2].header, [f[2] for f in frames[1:]], len(data) - end


class JournalWriter:
    """Append records to a journal file from a small writer thread, fsyncing at most every ``fsync_interval_s``.

    The writer fsyncs when its queue runs empty (idle) and, under a continuous stream of records,
    at least every ``fsync_interval_s`` seconds. Blobs are zlib-compressed on the writer thread, so
    the caller only pays for copying them.

    Parameters
    ----------
    path
        The journal file; created (atomically, with its header) when missing or foreign.
    journal_id, session_uid
        Written in the header; :mod:`app.session.folder` replays a journal only when its id matches
        the one committed in ``session.json``.
    fsync_interval_s
        Upper bound between fsyncs while records keep arriving (seconds).
    """

    def __init__(self, path: str | os.PathLike[str], journal_id: str, session_uid: str, *,
                 fsync_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self.journal_id = journal_id
        self.session_uid = session_uid
        self.fsync_interval_s = float(fsync_interval_s)
        self.error: BaseException | None = None
        self.bytes_written = 0
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._offsets: list[tuple[int, int]] = []  # (seq, start offset) of every record in the file
        self._fd = -1
        self._thread = threading.Thread(target=self._run, name="medws-journal", daemon=True)
        self._open()
        self._thread.start()

    # --------------------------------------------------------------------------- any thread
    def append(self, header: dict[str, Any], blob: bytes = b"", *, compress: bool = False) -> None:
        """Queue one record (``header`` must hold ``t`` and ``seq``); ``compress`` zlib-compresses ``blob``."""
        self._queue.put(("rec", header, blob, compress))

    def truncate_through(self, seq: int) -> None:
        """Queue dropping every record with sequence number <= ``seq`` (they are in a committed save)."""
        self._queue.put(("truncate", int(seq)))

    def sync(self, timeout: float | None = 10.0) -> bool:
        """Block until everything queued so far is written and fsynced; False on timeout or error."""
        done = threading.Event()
        self._queue.put(("sync", done))
        return done.wait(timeout) and self.error is None

    def close(self, timeout: float | None = 10.0) -> None:
        """Write and fsync what is queued, stop the thread and close the file."""
        if self._thread.is_alive():
            self._queue.put(("stop",))
            self._thread.join(timeout)

    # --------------------------------------------------------------------------- writer thread
    def _header_bytes(self) -> bytes:
        header = {"t": "journal", "journal_id": self.journal_id, "session_uid": self.session_uid,
                  "format_version": 1, "created_at": time.time()}
        return JOURNAL_MAGIC + encode_frame(header)

    def _open(self) -> None:
        head, _records, torn = read_journal(self.path)
        if head is None or head.get("journal_id") != self.journal_id:
            self._replace_file(self._header_bytes())
            return
        data = self.path.read_bytes()
        keep = len(data) - torn
        self._offsets = [(r.seq, start) for start, _end, r in list(_iter_frames(data))[1:]]
        self._fd = os.open(self.path, os.O_WRONLY)
        os.ftruncate(self._fd, keep)  # drop a torn tail before appending after it
        os.lseek(self._fd, keep, os.SEEK_SET)

    def _replace_file(self, data: bytes) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        os.lseek(self._fd, 0, os.SEEK_END)

    def _write_record(self, header: dict[str, Any], blob: bytes, compress: bool) -> None:
        if compress and blob:
            blob = zlib.compress(blob, 1)
            header = {**header, "codec": "zlib"}
        frame = encode_frame(header, blob)
        start = os.lseek(self._fd, 0, os.SEEK_END)
        view = memoryview(frame)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:
            # disk full: cut the partial frame, or every later record would sit behind a torn one
            os.ftruncate(self._fd, start)
            raise
        self._offsets.append((int(header["seq"]), start))
        self.bytes_written += len(frame)

    def _truncate(self, seq: int) -> None:
        keep_from = next((o for s, o in self._offsets if s > seq), None)
        size = os.lseek(self._fd, 0, os.SEEK_END)
        tail = b""
        if keep_from is not None:
            with open(self.path, "rb") as fh:
                fh.seek(keep_from)
                tail = fh.read(size - keep_from)
        head = self._header_bytes()
        self._replace_file(head + tail)
        shift = len(head) - (keep_from if keep_from is not None else size)
        self._offsets = [(s, o + shift) for s, o in self._offsets if s > seq]
        self.bytes_written = len(tail)

    def _run(self) -> None:
        dirty, last_sync = False, time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=self.fsync_interval_s if dirty else None)
            except queue.Empty:
                item = ("idle",)
            kind = item[0]
            try:
                if kind == "rec":
                    self._write_record(*item[1:])
                    dirty = True
                elif kind == "truncate":
                    self._truncate(item[1])
                    dirty, last_sync = False, time.monotonic()
                if dirty and (kind in ("sync", "stop", "idle") or self._queue.empty()
                              or time.monotonic() - last_sync >= self.fsync_interval_s):
                    os.fsync(self._fd)
                    dirty, last_sync = False, time.monotonic()
            except Exception as exc:  # a full disk must not kill the GUI; the owner reports it
                log.exception("autosave journal write failed")
                self.error = exc
            if kind == "sync":
                item[1].set()
            elif kind == "stop":
                os.close(self._fd)
                self._fd = -1
                return
