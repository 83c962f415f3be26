from __future__ import annotations

import zlib

from app.session.journal import JOURNAL_MAGIC, JournalWriter, encode_frame, read_journal


def _write(path, n=5, **kwargs):
    writer = JournalWriter(path, "j1", "s1", **kwargs)
    for seq in range(1, n + 1):
        writer.append({"t": "labels", "seq": seq}, bytes([seq]) * 1000, compress=True)
    assert writer.sync()
    return writer


def test_records_round_trip_with_compressed_blobs(tmp_path):
    path = tmp_path / "journal.wal"
    _write(path).close()
    head, records, torn = read_journal(path)
    assert head["journal_id"] == "j1" and head["session_uid"] == "s1"
    assert [r.seq for r in records] == [1, 2, 3, 4, 5] and torn == 0
    assert zlib.decompress(records[2].blob) == bytes([3]) * 1000 and records[2].header["codec"] == "zlib"


def test_torn_last_record_is_detected_and_ignored(tmp_path):
    path = tmp_path / "journal.wal"
    _write(path).close()
    data = path.read_bytes()
    for cut in (1, 5, 12):  # in the blob, in the JSON header
        path.write_bytes(data[:-cut])
        _, records, torn = read_journal(path)
        assert [r.seq for r in records] == [1, 2, 3, 4] and torn > 0


def test_crc_mismatch_stops_reading(tmp_path):
    path = tmp_path / "journal.wal"
    _write(path).close()
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # flip bits in the last record's blob: same length, wrong CRC
    path.write_bytes(bytes(data))
    _, records, torn = read_journal(path)
    assert [r.seq for r in records] == [1, 2, 3, 4] and torn > 0


def test_garbage_length_is_not_allocated(tmp_path):
    path = tmp_path / "journal.wal"
    _write(path, n=1).close()
    path.write_bytes(path.read_bytes() + b"\xff\xff\xff\xff\x00\x00\x00\x00")
    _, records, torn = read_journal(path)
    assert len(records) == 1 and torn == 8


def test_reopening_appends_after_a_torn_tail(tmp_path):
    path = tmp_path / "journal.wal"
    _write(path, n=3).close()
    path.write_bytes(path.read_bytes() + encode_frame({"t": "labels", "seq": 4})[:-2])
    writer = JournalWriter(path, "j1", "s1")
    writer.append({"t": "labels", "seq": 4})
    writer.close()
    _, records, torn = read_journal(path)
    assert [r.seq for r in records] == [1, 2, 3, 4] and torn == 0


def test_foreign_journal_is_replaced(tmp_path):
    path = tmp_path / "journal.wal"
    _write(path, n=3).close()
    JournalWriter(path, "other", "s1").close()
    head, records, _ = read_journal(path)
    assert head["journal_id"] == "other" and records == []


def test_truncate_through_keeps_later_records_and_appending_continues(tmp_path):
    path = tmp_path / "journal.wal"
    writer = _write(path, n=5)
    writer.truncate_through(3)
    writer.append({"t": "commit", "seq": 6})
    writer.close()
    head, records, torn = read_journal(path)
    assert head["journal_id"] == "j1" and [r.seq for r in records] == [4, 5, 6] and torn == 0
    assert zlib.decompress(records[0].blob) == bytes([4]) * 1000


def test_truncate_everything_leaves_only_the_header(tmp_path):
    path = tmp_path / "journal.wal"
    writer = _write(path, n=2)
    writer.truncate_through(2)
    writer.close()
    assert read_journal(path)[1] == []
    assert path.read_bytes().startswith(JOURNAL_MAGIC)


def test_not_a_journal(tmp_path):
    path = tmp_path / "journal.wal"
    path.write_bytes(b"hello")
    assert read_journal(path) == (None, [], 5)
    assert read_journal(tmp_path / "missing.wal") == (None, [], 0)
