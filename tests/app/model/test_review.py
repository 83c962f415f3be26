from __future__ import annotations

import numpy as np
import pytest

from app.model import Box, Finding, Provenance
from app.model.geometry import Geometry
from app.model.labels import Segment
from app.model.review import (
    AnnotationRef,
    ReviewClock,
    SegmentProposal,
    iter_annotations,
    record_segment_proposals,
    segment_centroids_lps,
    set_status,
)
from app.model.session import Session
from app.paths import reader_name, set_reader_name

PROPOSED = Provenance(source="det@1", status="proposed")


def _ball(shape, centre_zyx, radius):
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return (zz - centre_zyx[0]) ** 2 + (yy - centre_zyx[1]) ** 2 + (xx - centre_zyx[2]) ** 2 <= radius**2


def _session_with_proposed_segment(shape=(30, 40, 50)):
    """A session whose segmentation 0 holds label 1 = model proposal (a ball), label 2 = manual."""
    s = Session()
    g = Geometry(shape, (2.0, 1.0, 0.5), (10.0, -20.0, 5.0))
    from app.model.image import ImageVolume

    s.add_image(ImageVolume(np.zeros(shape, np.int16), g, modality="CT", name="img"))
    labels = s.new_segmentation("AI")
    labels.table.add(Segment(1, "ball", (255, 0, 0), provenance=Provenance(source="net@2", status="proposed")))
    labels.table.add(Segment(2, "manual", (0, 255, 0)))
    ball = _ball(shape, (15, 20, 25), 6)
    with labels.transaction("AI"):
        labels.write((slice(0, shape[0]), slice(0, shape[1]), slice(0, shape[2])), ball, 1)
    with labels.transaction("manual"):
        labels.paint((slice(0, 3), slice(0, 3), slice(0, 3)), None, 2)
    record_segment_proposals(s, labels)
    return s, labels, ball


def test_iter_annotations_lists_every_kind_with_centres():
    s, labels, ball = _session_with_proposed_segment()
    box = s.boxes.add(Box((0, 0, 0), (10, 20, 30), confidence=0.9, label="nodule", provenance=PROPOSED))
    f = s.findings.add(Finding("malignancy", level="box", target=box.id, value="high", confidence=0.7,
                               provenance=PROPOSED))
    items = {i.ref: i for i in iter_annotations(s)}
    assert [r.kind for r in items] == ["box", "finding", "segment", "segment"]
    b = items[AnnotationRef("box", box.id)]
    assert (b.name, b.confidence, b.status, b.source, b.centre_lps_mm) == ("nodule", 0.9, "proposed", "det@1",
                                                                          (5.0, 10.0, 15.0))
    assert items[AnnotationRef("finding", f.id)].centre_lps_mm == (5.0, 10.0, 15.0)
    seg = items[AnnotationRef("segment", "1", 0)]
    assert (seg.name, seg.status, seg.source) == ("ball", "proposed", "net@2")
    expected = labels.geometry.index_zyx_to_lps(np.array([15.0, 20.0, 25.0]))
    np.testing.assert_allclose(seg.centre_lps_mm, np.ravel(expected), atol=1e-9)
    assert items[AnnotationRef("segment", "2", 0)].status == "manual"


def test_centroids_match_numpy_mean():
    s, labels, _ = _session_with_proposed_segment()
    c = segment_centroids_lps(labels)
    for label in (1, 2):
        idx = np.argwhere(labels.array == label).mean(axis=0)
        np.testing.assert_allclose(c[label], np.ravel(labels.geometry.index_zyx_to_lps(idx)), atol=1e-9)


def test_transitions_stamp_reader_and_undo_review(monkeypatch):
    s = Session()
    box = s.boxes.add(Box((0, 0, 0), (1, 1, 1), provenance=PROPOSED))
    ref = AnnotationRef("box", box.id)
    prov = set_status(s, ref, "accepted", reader="dr_a")
    assert (prov.status, prov.edited_by) == ("accepted", "dr_a") and prov.edited_at is not None
    assert s.boxes[box.id].provenance.status == "accepted"
    monkeypatch.setenv("MEDWS_READER", "dr_env")
    assert set_status(s, ref, "rejected").edited_by == "dr_env"   # reader changed their mind
    back = set_status(s, ref, "proposed")
    assert (back.status, back.edited_by, back.edited_at) == ("proposed", None, None)
    assert back.created_by == PROPOSED.created_by and back.source == "det@1"


def test_manual_items_and_bad_input_are_refused():
    s, labels, _ = _session_with_proposed_segment()
    manual = s.boxes.add(Box((0, 0, 0), (1, 1, 1)))
    with pytest.raises(ValueError, match="manual annotation"):
        set_status(s, AnnotationRef("box", manual.id), "accepted")
    with pytest.raises(ValueError, match="manual annotation"):
        set_status(s, AnnotationRef("segment", "2", 0), "rejected")
    with pytest.raises(ValueError, match="review status"):
        set_status(s, AnnotationRef("segment", "1", 0), "manual")
    with pytest.raises(KeyError):
        set_status(s, AnnotationRef("segment", "9", 0), "accepted")
    with pytest.raises(ValueError):
        AnnotationRef("segment", "1")
    assert set_status(s, AnnotationRef("segment", "1", 0), "accepted").status == "accepted"
    assert labels.table[1].provenance.status == "accepted"


def test_reader_name_from_env_then_settings_then_login(monkeypatch):
    monkeypatch.delenv("MEDWS_READER", raising=False)
    login = reader_name()
    set_reader_name("Dr Settings")
    assert reader_name() == "Dr Settings" and Provenance().created_by == "Dr Settings"
    monkeypatch.setenv("MEDWS_READER", "Dr Env")
    assert reader_name() == "Dr Env"
    monkeypatch.delenv("MEDWS_READER")
    set_reader_name("")
    assert reader_name() == login


def test_segment_proposal_packs_bounding_box_and_unpacks_any_subbox():
    rng = np.random.default_rng(0)
    mask = np.zeros((20, 30, 41), bool)
    mask[3:15, 5:25, 7:39] = rng.random((12, 20, 32)) > 0.5
    p = SegmentProposal.from_mask(mask)
    assert p.start_zyx == (3, 5, 7) and p.voxels == mask.sum()
    assert p.packed.nbytes <= 12 * 20 * 4
    np.testing.assert_array_equal(p.mask(mask.shape), mask)
    for box in [(slice(0, 20), slice(0, 30), slice(0, 41)), (slice(4, 9), slice(2, 11), slice(9, 18)),
                (slice(14, 20), slice(24, 30), slice(38, 41)), (slice(0, 2), slice(0, 3), slice(0, 4))]:
        np.testing.assert_array_equal(p.mask_in(box), mask[box])
    empty = SegmentProposal.from_mask(np.zeros((4, 4, 4), bool))
    assert empty.voxels == 0 and not empty.mask((4, 4, 4)).any()


def test_originals_kept_for_proposals_only():
    s, labels, ball = _session_with_proposed_segment()
    box = s.boxes.add(Box((0, 0, 0), (1, 1, 1), provenance=PROPOSED))
    s.boxes.add(Box((0, 0, 0), (1, 1, 1)))  # manual: no original
    f = s.findings.add(Finding("normal", provenance=PROPOSED))
    keys = {r.key for r in s.original_proposals}
    assert keys == {f"box:{box.id}", f"finding:{f.id}", "segment:0:1"}
    np.testing.assert_array_equal(s.original_proposals[AnnotationRef("segment", "1", 0)].mask(ball.shape), ball)
    s.boxes.update(box.id, lps_max=(5, 5, 5))
    assert s.original_proposals[AnnotationRef("box", box.id)].lps_max == (1, 1, 1)


def test_user_voxel_edit_marks_proposed_segment_edited_but_a_foreign_edit_does_not(monkeypatch):
    monkeypatch.setenv("MEDWS_READER", "dr_paint")
    s, labels, _ = _session_with_proposed_segment()
    with labels.transaction("paint far away"):  # label 2 painted where label 1 never was
        labels.paint((slice(25, 28), slice(30, 33), slice(40, 43)), None, 2)
    assert labels.table[1].provenance.status == "proposed"
    with labels.transaction("erase"):  # erase a corner of the ball
        labels.paint((slice(14, 17), slice(19, 22), slice(24, 27)), None, 0)
    prov = labels.table[1].provenance
    assert (prov.status, prov.edited_by) == ("edited", "dr_paint")
    assert labels.table[2].provenance is None  # manual segment untouched


def test_edit_after_accept_becomes_edited_and_rejected_stays():
    s, labels, _ = _session_with_proposed_segment()
    ref = AnnotationRef("segment", "1", 0)
    set_status(s, ref, "accepted")
    with labels.transaction("cut"):
        labels.paint((slice(0, 30), slice(0, 40), slice(24, 26)), None, 0)  # cut through the ball
    assert labels.table[1].provenance.status == "edited"
    set_status(s, ref, "rejected")
    with labels.transaction("more"):
        labels.paint((slice(0, 30), slice(0, 40), slice(20, 22)), None, 0)
    assert labels.table[1].provenance.status == "rejected"


def test_box_and_finding_auto_edited_unless_restored_to_original():
    s = Session()
    box = s.boxes.add(Box((0, 0, 0), (4, 4, 4), provenance=PROPOSED))
    s.boxes.update(box.id, note="looked at")  # not a geometry/label change
    assert s.boxes[box.id].provenance.status == "proposed"
    s.boxes.update(box.id, lps_max=(5, 4, 4))
    assert s.boxes[box.id].provenance.status == "edited"
    f = s.findings.add(Finding("nodule", value="benign", provenance=PROPOSED))
    s.findings.update(f.id, value="malignant")
    assert s.findings[f.id].provenance.status == "edited"
    # an undo that restores the original geometry does not mark a fresh proposal edited
    b2 = s.boxes.add(Box((0, 0, 0), (4, 4, 4), provenance=PROPOSED))
    s.boxes.update(b2.id, lps_max=(6, 6, 6), provenance=PROPOSED)
    set_status(s, AnnotationRef("box", b2.id), "proposed")
    s.boxes.update(b2.id, lps_min=(0, 0, 0), lps_max=(4, 4, 4), provenance=PROPOSED)
    assert s.boxes[b2.id].provenance.status == "proposed"


def test_review_clock_counts_active_time_only():
    clock = ReviewClock(idle_cutoff_s=60)
    for t in (0, 10, 20, 50):
        clock.tick(t)
    assert clock.seconds == 50
    clock.tick(50 + 3600)  # overnight: nothing counted
    clock.tick(3660)
    assert clock.seconds == 60
    clock.pause()
    clock.tick(3665)
    assert clock.seconds == 60
    assert Session().review_clock.seconds == 0


def test_bare_paint_status_change_is_part_of_the_same_undo_step():
    s, labels, ball = _session_with_proposed_segment()
    steps = len(labels.history.titles())
    corner = (slice(14, 17), slice(19, 22), slice(24, 27))
    labels.paint(corner, None, 0)  # no transaction: the paint is its own step
    assert labels.table[1].provenance.status == "edited"
    assert len(labels.history.titles()) == steps + 1  # status folded into the paint's step
    assert labels.undo()  # one Ctrl+Z: voxels and status together
    assert labels.table[1].provenance.status == "proposed"
    assert np.array_equal(labels.array == 1, ball)
    assert len(labels.history.titles()) == steps
    assert labels.redo()
    assert labels.table[1].provenance.status == "edited" and not labels.array[corner].any()
    assert labels.undo() and labels.table[1].provenance.status == "proposed"


def test_status_change_inside_a_transaction_stays_one_step_and_unrelated_steps_are_kept():
    s, labels, ball = _session_with_proposed_segment()
    labels.table.update(2, name="renamed")  # a table step of its own, before the voxel edits
    titles = labels.history.titles()
    with labels.transaction("Erase"):
        labels.paint((slice(14, 17), slice(19, 22), slice(24, 27)), None, 0)
    assert labels.history.titles() == [*titles, "Erase"]
    assert labels.undo() and labels.table[1].provenance.status == "proposed"
    assert labels.history.titles() == titles and labels.table[2].name == "renamed"
    # a change emitted outside any step (as recovery does) keeps its status step apart
    labels.array[15, 20, 25] = 0
    labels.changed.emit((slice(15, 16), slice(20, 21), slice(25, 26)))
    assert labels.table[1].provenance.status == "edited"
    assert labels.history.titles() == [*titles, "Edit segment ball"]
    assert labels.undo() and labels.table[1].provenance.status == "proposed"
    assert labels.history.titles() == titles and labels.table[2].name == "renamed"
