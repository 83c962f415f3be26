from __future__ import annotations

import errno
import os
import time

import numpy as np
import pytest

from app.io.errors import MedwsIOError
from app.model import Box, Finding, Provenance, Segment
from app.session import (
    Autosaver,
    discard_journal,
    has_recoverable_changes,
    load_session,
    read_manifest,
    recover,
    save_session,
)
from app.session.journal import read_journal
from app.session.recovery import pending_records
from tests.app.session._helpers import assert_same_session, make_session


def _ball(r):
    g = np.arange(-r, r + 1)
    return (g[:, None, None] ** 2 + g[None, :, None] ** 2 + g[None, None, :] ** 2) <= r * r


def _edit(session):
    """Strokes, an undo, a new segment, box/finding edits, a new segmentation: every record type."""
    labels = session.segmentations[0]
    with labels.transaction("Brush", coalesce=True):
        for z in range(2, 9):
            labels.paint((slice(z - 2, z + 3), slice(3, 8), slice(4, 9)), _ball(2), 1)
    with labels.transaction("Erase"):
        labels.paint((slice(0, 12), slice(0, 4), slice(0, 4)), None, 0)
    labels.undo()
    labels.table.add(Segment(7, "vessel", (10, 20, 30), provenance=Provenance(source="manual", created_at=1.0)))
    labels.paint((slice(10, 12), slice(18, 20), slice(20, 24)), None, 7)
    labels.table.update(1, name="right lung", status="flagged")
    labels.table.remove(2)
    box = session.boxes.add(Box((0, 0, 0), (5, 5, 5), id="b1"))
    session.boxes.update(box.id, note="checked", provenance=Provenance(status="accepted", created_at=2.0))
    session.boxes.remove(next(b.id for b in session.boxes if b.id != "b1"))
    session.findings.update(next(iter(session.findings)).id, value="no")
    session.findings.add(Finding("emphysema", id="f2"))
    extra = session.new_segmentation("Airways")
    extra.table.new_segment("trachea")
    extra.paint((slice(0, 3), slice(0, 3), slice(0, 3)), None, 1)


def test_journal_replay_recovers_every_kind_of_edit(session, tmp_path):
    folder = tmp_path / "s.medws"
    autosaver = Autosaver(session, folder, compact_interval_s=3600).start()
    _edit(session)
    assert autosaver.flush()
    assert has_recoverable_changes(folder)
    assert_same_session(session, recover(folder, commit=False))
    autosaver._writer.close()  # the process "dies": no final save, lock left behind
    assert_same_session(session, recover(folder))  # committed: a full save, journal dropped
    assert not has_recoverable_changes(folder)
    assert_same_session(session, load_session(folder))


def test_records_after_the_last_tick_are_not_replayed(session, tmp_path):
    folder = tmp_path / "s.medws"
    autosaver = Autosaver(session, folder, compact_interval_s=3600).start()
    session.segmentations[0].paint((slice(0, 2), slice(0, 2), slice(0, 2)), None, 2)
    autosaver.flush()
    expected = session.segmentations[0].array.copy()
    session.boxes.add(Box((0, 0, 0), (1, 1, 1), id="late"))  # journaled at once, committed by the next tick
    autosaver._writer.sync()
    info = pending_records(folder)
    assert info["uncommitted"] == 1
    recovered = recover(folder, commit=False)
    assert np.array_equal(recovered.segmentations[0].array, expected)
    assert "late" not in {b.id for b in recovered.boxes}
    autosaver.close(save=False)


def test_compaction_writes_a_full_save_and_truncates_the_journal(session, tmp_path):
    folder = tmp_path / "s.medws"
    autosaver = Autosaver(session, folder, compact_interval_s=0.0).start()
    generation = read_manifest(folder)["generation"]
    _edit(session)
    autosaver.tick()  # due at once: snapshot now, written by the compaction thread
    autosaver._compactor.join(10)
    autosaver._writer.sync()
    manifest = read_manifest(folder)
    assert manifest["generation"] == generation + 1
    assert read_journal(folder / "journal.wal")[1] == []  # truncated through applied_seq
    assert manifest["journal"]["applied_seq"] > 0 and not has_recoverable_changes(folder)
    assert_same_session(session, load_session(folder))
    # edits after the compaction are journaled on top of it
    session.segmentations[0].paint((slice(5, 6), slice(5, 6), slice(5, 6)), None, 7)
    autosaver.flush()
    assert_same_session(session, recover(folder, commit=False))
    autosaver.close()
    assert_same_session(session, load_session(folder))


def test_compaction_by_journal_size(session, tmp_path):
    folder = tmp_path / "s.medws"
    autosaver = Autosaver(session, folder, compact_interval_s=3600, compact_bytes=1).start()
    session.segmentations[0].paint((slice(0, 12), slice(0, 20), slice(0, 24)), None, 1)
    autosaver.flush()
    autosaver.tick()
    autosaver._compactor.join(10)
    assert read_manifest(folder)["generation"] == 2
    autosaver.close()


def test_crash_between_commit_and_truncation_replays_nothing_twice(session, tmp_path):
    folder = tmp_path / "s.medws"
    autosaver = Autosaver(session, folder, compact_interval_s=3600).start()
    _edit(session)
    autosaver.flush()
    journal_before = (folder / "journal.wal").read_bytes()
    autosaver.save()  # commit + truncate
    (folder / "journal.wal").write_bytes(journal_before)  # as if the truncation never happened
    assert not has_recoverable_changes(folder)  # every record is <= applied_seq
    assert_same_session(session, recover(folder, commit=False))
    autosaver.close()


def test_failed_compaction_is_reported_and_the_journal_keeps_everything(session, tmp_path, monkeypatch):
    from app.session import autosave as autosave_mod

    errors = []
    folder = tmp_path / "s.medws"
    autosaver = Autosaver(session, folder, compact_interval_s=0.0, on_error=errors.append).start()

    def broken(*args, **kwargs):
        raise MedwsIOError(folder, "disk full")

    monkeypatch.setattr(autosave_mod, "write_snapshot", broken)
    _edit(session)
    autosaver.tick()
    autosaver._compactor.join(10)
    autosaver.tick()
    assert errors and "disk full" in str(errors[0])
    monkeypatch.undo()
    autosaver.flush()
    assert_same_session(session, recover(folder, commit=False))
    autosaver.close()


def test_close_saves_and_releases_the_lock(session, tmp_path):
    folder = tmp_path / "s.medws"
    autosaver = Autosaver(session, folder).start()
    assert (folder / "lock.json").exists()
    _edit(session)
    autosaver.close()
    assert not (folder / "lock.json").exists() and not has_recoverable_changes(folder)
    assert_same_session(session, load_session(folder))
    assert not autosaver.running


def test_reopen_continue_and_recover(session, tmp_path):
    folder = save_session(session, tmp_path / "s.medws")
    reopened = load_session(folder)
    reopened.add_image(session.images[0])  # the GUI re-opens the source image
    autosaver = Autosaver(reopened, folder).start()  # no full save: only a new journal id is committed
    assert read_manifest(folder)["generation"] == 1
    _edit(reopened)
    autosaver.flush()
    autosaver._writer.close()
    autosaver.lock.release()
    # the next start refuses to overwrite unrecovered edits
    with pytest.raises(MedwsIOError, match="not recovered"):
        Autosaver(load_session(folder), folder).start()
    assert not (folder / "lock.json").exists()
    recovered = recover(folder)
    assert_same_session(reopened, recovered)
    Autosaver(recovered, folder).start().close()


def test_discard_journal_drops_unrecovered_edits(session, tmp_path):
    folder = tmp_path / "s.medws"
    autosaver = Autosaver(session, folder).start()
    before = load_session(folder)
    _edit(session)
    autosaver.flush()
    autosaver._writer.close()
    autosaver.lock.release()
    discard_journal(folder)
    assert not has_recoverable_changes(folder)
    assert_same_session(before, load_session(folder))


def test_start_refuses_a_folder_of_another_session(session, tmp_path):
    folder = save_session(make_session(), tmp_path / "other.medws")
    with pytest.raises(MedwsIOError, match="another session"):
        Autosaver(session, folder).start()
    assert not (folder / "lock.json").exists()


def test_save_as_moves_autosaving(session, tmp_path):
    autosaver = Autosaver(session, tmp_path / "a.medws").start()
    _edit(session)
    autosaver.save_as(tmp_path / "b.medws")
    assert not (tmp_path / "a.medws" / "lock.json").exists() and (tmp_path / "b.medws" / "lock.json").exists()
    session.boxes.add(Box((1, 1, 1), (2, 2, 2), id="after"))
    autosaver.flush()
    assert_same_session(session, recover(tmp_path / "b.medws", commit=False))
    assert "after" not in {b.id for b in load_session(tmp_path / "a.medws").boxes}
    autosaver.close()


def test_tick_is_cheap_and_merges_dab_boxes(tmp_path):
    session = make_session((40, 128, 128))
    labels = session.segmentations[0]
    autosaver = Autosaver(session, tmp_path / "s.medws", compact_interval_s=3600).start()
    with labels.transaction("Brush", coalesce=True):
        for x in range(10, 100):
            labels.paint((slice(18, 23), slice(60, 65), slice(x - 2, x + 3)), _ball(2), 1)
    assert len(autosaver._dirty[0]) == 1  # 90 dabs along a line: one merged box
    t0 = time.perf_counter()
    autosaver.tick()
    assert time.perf_counter() - t0 < 0.25  # ~0.1 ms measured; generous for loaded CI machines
    autosaver.flush()
    assert_same_session(session, recover(tmp_path / "s.medws", commit=False))
    autosaver.close()


def test_a_bad_record_is_skipped_and_the_rest_recovered(session, tmp_path):
    folder = tmp_path / "s.medws"
    autosaver = Autosaver(session, folder).start()
    autosaver._append({"t": "labels", "seg": 9, "box": [[0, 1], [0, 1], [0, 1]], "dtype": "uint8", "shape": [1, 1, 1]},
                      b"\x01")
    autosaver._append({"t": "from_the_future", "x": 1})
    session.boxes.add(Box((0, 0, 0), (1, 1, 1), id="kept"))
    autosaver.flush()
    assert "kept" in {b.id for b in recover(folder, commit=False).boxes}
    autosaver.close()


def test_disk_full_mid_record_keeps_the_journal_well_formed_and_forces_a_full_save(session, tmp_path, monkeypatch):
    from app.session import journal as journal_mod

    errors = []
    folder = tmp_path / "s.medws"
    autosaver = Autosaver(session, folder, compact_interval_s=3600, on_error=errors.append).start()
    real_write, calls = os.write, []

    def full_disk(fd, data):
        if not calls:
            calls.append(1)
            real_write(fd, bytes(data)[: len(data) // 2])  # half a frame reaches the disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(journal_mod.os, "write", full_disk)
    session.segmentations[0].paint((slice(0, 4), slice(0, 4), slice(0, 4)), None, 2)
    autosaver.flush()
    monkeypatch.undo()
    assert errors and "No space" in str(errors[0])
    assert read_journal(folder / "journal.wal")[2] == 0  # no torn bytes left in the middle
    generation = read_manifest(folder)["generation"]
    session.boxes.add(Box((0, 0, 0), (1, 1, 1), id="later"))
    autosaver.tick()  # the lost record can only be made good by a full save
    autosaver._compactor.join(10)
    assert read_manifest(folder)["generation"] == generation + 1
    autosaver.flush()
    assert_same_session(session, recover(folder, commit=False))
    autosaver.close()


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root ignores permissions")
def test_unwritable_folder_is_a_one_line_error(session, tmp_path):
    folder = tmp_path / "ro.medws"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(MedwsIOError) as err:
            Autosaver(session, folder).start()
        assert "\n" not in str(err.value)
    finally:
        folder.chmod(0o700)
