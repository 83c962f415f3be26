"""A small constructed reading project with known edit metrics (used by the stats and worklist tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.model import Box, Finding, Geometry, ImageVolume, Provenance, Segment, Session
from app.model.review import AnnotationRef, record_segment_proposals, set_status
from app.session import save_session

SHAPE = (40, 40, 40)
PROPOSED = Provenance(source="net@2", status="proposed")


def ball(radius: float, shape=SHAPE, centre=(20, 20, 20)) -> np.ndarray:
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2 <= radius**2


def _case(name: str, study_uid: str) -> tuple[Session, object]:
    s = Session()
    s.study_uid = study_uid
    g = Geometry(SHAPE, (1.0, 1.0, 1.0))
    s.add_image(ImageVolume(np.zeros(SHAPE, np.int16), g, modality="CT", name=name,
                            metadata={"study_uid": study_uid, "source_path": f"/nonexistent/{name}.nii.gz"}))
    labels = s.new_segmentation("AI")
    labels.table.add(Segment(1, "lesion", (255, 0, 0), provenance=PROPOSED))
    with labels.transaction("AI"):
        labels.write((slice(0, 40), slice(0, 40), slice(0, 40)), ball(10), 1)
    record_segment_proposals(s, labels)
    return s, labels


def make_project(root: Path) -> dict:
    """Write ``root/case-a.medws`` and ``root/case-b.medws``; return the expected metrics.

    case-a: lesion proposal r=10 trimmed by the reader to r=8 (auto 'edited'); a proposed box edited to
    half its height (IoU 0.5) with a new label; a finding relabelled; 300 s of review.
    case-b: lesion accepted unchanged (Dice 1); box rejected (IoU 0); one manual box; 100 s of review.
    """
    root.mkdir(parents=True, exist_ok=True)
    a, labels = _case("a", "1.2.826.0.1.1")
    with labels.transaction("trim"):
        labels.paint((slice(0, 40), slice(0, 40), slice(0, 40)), ball(10) & ~ball(8), 0)
    box = a.boxes.add(Box((0, 0, 0), (10, 10, 10), label_id=1, confidence=0.9, provenance=PROPOSED))
    a.boxes.update(box.id, lps_max=(10, 10, 5), label_id=2)
    f = a.findings.add(Finding("nodule", value="benign", provenance=PROPOSED))
    a.findings.update(f.id, value="malignant")
    a.review_clock.seconds = 300.0
    save_session(a, root / "case-a.medws")

    b, _ = _case("b", "1.2.826.0.1.2")
    set_status(b, AnnotationRef("segment", "1", 0), "accepted", reader="dr_b")
    rejected = b.boxes.add(Box((0, 0, 0), (4, 4, 4), confidence=0.3, provenance=PROPOSED))
    set_status(b, AnnotationRef("box", rejected.id), "rejected", reader="dr_b")
    b.boxes.add(Box((1, 1, 1), (2, 2, 2)))
    b.review_clock.seconds = 100.0
    save_session(b, root / "case-b.medws")

    n10, n8 = int(ball(10).sum()), int(ball(8).sum())
    return {"dice_a": 2 * n8 / (n10 + n8), "iou_a": n8 / n10, "voxels_a": n10 - n8}
