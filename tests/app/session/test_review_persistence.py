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
