"""Originals of proposals and review time survive save / load / recovery; version-1 folders still load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.model import Box, Finding, Provenance, Segment
from app.model.review import AnnotationRef, SegmentProposal, record_segment_proposals, set_status
from app.session import SessionFormatError, load_session, read_manifest, save_session
from tests.app.session._helpers import make_session

PROPOSED = Provenance(source="net@2", status="proposed")


def _with_proposals():
    s = make_session()
    labels = s.new_segmentation("AI")
    labels.table.add(Segment(1, "lesion", (255, 0, 0), provenance=PROPOSED))
    shape = labels.array.shape
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    ball = (zz - 6) ** 2 + (yy - 10) ** 2 + (xx - 12) ** 2 <= 16
    with labels.transaction("AI"):
        labels.write((slice(0, shape[0]), slice(0, shape[1]), slice(0, shape[2])), ball, 1)
    record_segment_proposals(s, labels)
    with labels.transaction("erase"):  # the reader trims the proposal: auto 'edited'
        labels.paint((slice(5, 8), slice(9, 12), slice(11, 14)), None, 0)
    box = s.boxes.add(Box((0, 0, 0), (10, 10, 10), confidence=0.8, provenance=PROPOSED))
    s.boxes.update(box.id, lps_max=(8, 10, 10))
    f = s.findings.add(Finding("nodule", value="benign", provenance=PROPOSED))
    set_status(s, AnnotationRef("finding", f.id), "rejected", reader="dr_b")
    s.review_clock.seconds = 123.5
    return s, ball, box, f


def test_originals_and_review_time_round_trip(tmp_path):
    s, ball, box, f = _with_proposals()
    folder = save_session(s, tmp_path / "case.medws")
    loaded = load_session(folder)
    assert loaded.review_clock.seconds == 123.5
    assert set(loaded.original_proposals) == set(s.original_proposals)
    seg_ref = AnnotationRef("segment", "1", 1)
    kept = loaded.original_proposals[seg_ref]
    assert isinstance(kept, SegmentProposal) and kept.voxels == ball.sum()
    np.testing.assert_array_equal(kept.mask(ball.shape), ball)
    assert loaded.segmentations[1].table[1].provenance.status == "edited"
    assert loaded.original_proposals[AnnotationRef("box", box.id)].lps_max == (10.0, 10.0, 10.0)
    assert loaded.boxes[box.id].lps_max == (8.0, 10.0, 10.0) and loaded.boxes[box.id].provenance.status == "edited"
    assert loaded.findings[f.id].provenance.edited_by == "dr_b"
    # the mask file holds the bounding box only, bit-packed
    manifest = read_manifest(folder)
    notes = json.loads((folder / manifest["annotations"]).read_text())
    assert notes["version"] == 2 and notes["review"] == {"active_seconds": 123.5}
    rec = next(r for r in notes["originals"] if r["ref"] == "segment:1:1")
    assert rec["start_zyx"] == [2, 6, 8] and rec["shape_zyx"] == [9, 9, 9]
    with np.load(folder / manifest["data"] / notes["proposal_masks"]) as masks:
        assert masks[rec["mask"]].shape == (9, 9, 2) and masks[rec["mask"]].dtype == np.uint8


def test_version_1_annotations_still_load(tmp_path):
    s, *_ = _with_proposals()
    folder = save_session(s, tmp_path / "case.medws")
    manifest = read_manifest(folder)
    path = folder / manifest["annotations"]
    notes = json.loads(path.read_text())
    v1 = {k: notes[k] for k in ("format", "boxes", "findings", "measurements")}  # what version 1 wrote
    path.write_text(json.dumps(v1))
    (folder / manifest["data"] / "proposals.npz").unlink()
    loaded = load_session(folder)
    assert len(loaded.boxes) == 2 and loaded.review_clock.seconds == 0
    # boxes still proposed on load are kept as their own originals; nothing else is invented
    assert {r.kind for r in loaded.original_proposals} <= {"box"}


def test_missing_mask_file_is_a_clear_error(tmp_path):
    s, *_ = _with_proposals()
    folder = save_session(s, tmp_path / "case.medws")
    (folder / read_manifest(folder)["data"] / "proposals.npz").unlink()
    with pytest.raises(SessionFormatError, match="original proposals unreadable"):
        load_session(folder)


def test_recovery_and_autosave_keep_originals(tmp_path):
    from app.session import Autosaver, recover

    s, ball, *_ = _with_proposals()
    folder = tmp_path / "case.medws"
    saver = Autosaver(s, folder).start()
    try:
        s.review_clock.seconds = 200.0
        saver.save()
    finally:
        saver.close(save=False)
    loaded = recover(folder, commit=False)
    assert loaded.review_clock.seconds == 200.0
    np.testing.assert_array_equal(loaded.original_proposals[AnnotationRef("segment", "1", 1)].mask(ball.shape), ball)


# ------------------------------------------------------------------ the journal between saves
def _land_and_edit(s):
    """A proposal lands after the autosaver started (segment + box), the reader edits both."""
    labels = s.new_segmentation("AI")
    shape = labels.array.shape
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    ball = (zz - 6) ** 2 + (yy - 10) ** 2 + (xx - 12) ** 2 <= 16
    with labels.transaction("AI"):
        labels.table.add(Segment(1, "lesion", (255, 0, 0), provenance=PROPOSED))
        labels.write((slice(0, shape[0]), slice(0, shape[1]), slice(0, shape[2])), ball, 1)
    record_segment_proposals(s, labels)
    box = s.boxes.add(Box((0, 0, 0), (10, 10, 10), confidence=0.8, provenance=PROPOSED))
    labels.paint((slice(5, 8), slice(9, 12), slice(11, 14)), None, 0)  # bare paint: auto 'edited'
    s.boxes.update(box.id, lps_max=(8, 10, 10))
    return labels, ball


def _records(folder, kind):
    from app.session.journal import read_journal

    return [r for r in read_journal(folder / "journal.wal")[1] if r.type == kind]


def test_journal_carries_new_originals_and_review_time_until_the_next_save(tmp_path):
    from app.session import Autosaver, recover

    s = make_session()
    folder = tmp_path / "case.medws"
    saver = Autosaver(s, folder, compact_interval_s=3600).start()
    labels, ball = _land_and_edit(s)
    s.review_clock.seconds = 42.25
    assert saver.flush()
    seg_ref = AnnotationRef("segment", "1", 1)
    rec = next(r for r in _records(folder, "original") if r.header["ref"] == seg_ref.key)
    assert rec.header["codec"] == "zlib" and rec.header["shape_zyx"] == [9, 9, 9]  # bounding box, packed bits
    assert set(load_session(folder).original_proposals) == {AnnotationRef("box", next(iter(s.boxes)).id)}  # saved
    recovered = recover(folder, commit=False)
    assert set(recovered.original_proposals) == set(s.original_proposals)
    kept, live = recovered.original_proposals[seg_ref], s.original_proposals[seg_ref]
    assert (kept.start_zyx, kept.shape_zyx, kept.voxels) == (live.start_zyx, live.shape_zyx, live.voxels)
    np.testing.assert_array_equal(kept.packed, live.packed)
    np.testing.assert_array_equal(kept.mask(ball.shape), ball)
    for ref in s.original_proposals:
        if ref.kind != "segment":
            assert recovered.original_proposals[ref] == s.original_proposals[ref]
    assert recovered.review_clock.seconds == 42.25
    assert recovered.segmentations[1].table[1].provenance == labels.table[1].provenance
    saver.save()  # the save holds them now; nothing is journaled again
    s.review_clock.seconds += 1.0
    saver.flush()
    assert [r.header["active_seconds"] for r in _records(folder, "review")] == [43.25]
    assert not _records(folder, "original")
    saver.close()
    assert load_session(folder).review_clock.seconds == 43.25


def test_review_time_is_coalesced_and_rides_along_with_edits(tmp_path):
    from app.session import Autosaver, recover

    s = make_session()
    folder = tmp_path / "case.medws"
    saver = Autosaver(s, folder, compact_interval_s=0.0, review_interval_s=3600).start()
    generation = read_manifest(folder)["generation"]
    for k in range(5):  # reading only: the clock moves, nothing else; no record, no compaction
        s.review_clock.seconds = 1.0 + k
        saver.tick()
    saver._writer.sync()
    assert not _records(folder, "review") and read_manifest(folder)["generation"] == generation
    s.boxes.add(Box((0, 0, 0), (1, 1, 1), id="m1"))  # an edit: the clock rides along in its tick
    s.review_clock.seconds = 7.5
    saver.tick()
    saver._writer.sync()
    assert [r.header["active_seconds"] for r in _records(folder, "review")] == [7.5]
    saver.review_interval_s = 0.0  # interval elapsed: the clock alone is journaled
    s.review_clock.seconds = 8.0
    saver.tick()
    saver.tick()  # unchanged: nothing more
    saver._writer.sync()
    assert [r.header["active_seconds"] for r in _records(folder, "review")] == [7.5, 8.0]
    saver.close(save=False)
    assert recover(folder, commit=False).review_clock.seconds == 8.0


def test_journal_from_before_review_records_still_recovers(tmp_path):
    """A journal without ``original`` / ``review`` records (older MedWS): edits and box originals come back."""
    from app.session import Autosaver, recover
    from app.session.journal import JOURNAL_MAGIC, encode_frame, read_journal

    s = make_session()
    folder = tmp_path / "case.medws"
    saver = Autosaver(s, folder, compact_interval_s=3600).start()
    labels, _ = _land_and_edit(s)
    s.review_clock.seconds = 9.0
    saver.flush()
    saver._writer.close()  # the process dies
    saver.lock.release()
    path = folder / "journal.wal"
    head, records, _ = read_journal(path)
    old = [r for r in records if r.type not in ("original", "original_del", "review")]
    assert len(old) < len(records)
    path.write_bytes(JOURNAL_MAGIC + encode_frame(head) + b"".join(encode_frame(r.header, r.blob) for r in old))
    recovered = recover(folder)
    np.testing.assert_array_equal(recovered.segmentations[1].array, labels.array)
    assert recovered.segmentations[1].table[1].provenance == labels.table[1].provenance
    assert {r.kind for r in recovered.original_proposals} == {"box"}  # still proposed when added: kept
    assert recovered.review_clock.seconds == 0.0  # the save's value


def test_replay_keeps_the_journaled_status_not_one_inferred_from_replayed_voxels(tmp_path):
    """Edit then accept in one tick: the status records precede the tick's voxel record in the journal."""
    from app.session import Autosaver, recover

    s = make_session()
    folder = tmp_path / "case.medws"
    saver = Autosaver(s, folder, compact_interval_s=3600).start()
    labels, _ = _land_and_edit(s)
    saver.flush()
    labels.paint((slice(1, 2), slice(1, 2), slice(1, 2)), None, 1)  # outside the proposal
    set_status(s, AnnotationRef("segment", "1", 1), "accepted", reader="dr_a")  # the reader accepts it as is
    saver.flush()
    recovered = recover(folder, commit=False)
    assert recovered.segmentations[1].table[1].provenance == labels.table[1].provenance
    assert labels.table[1].provenance.status == "accepted"
    saver.close()
