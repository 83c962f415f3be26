"""Edit metrics of one session: each kept proposal (``session.original_proposals``) against its final state.

See :mod:`analysis.review_metrics` for the definitions. Segments are compared inside the union of
the proposal's and the final segment's bounding boxes, so a case costs one label-array scan per
proposed segment. Proposals from sessions that kept no original only count in ``statuses``.
Any thread that owns ``session`` (a CLI, or the GUI thread).
"""

from __future__ import annotations

import numpy as np

from analysis.review_metrics import CaseMetrics, box_iou, mask_agreement
from app.model.annotations import Box, Finding, box_name
from app.model.review import AnnotationRef, SegmentProposal, iter_annotations
from app.model.session import Session

__all__ = ["case_metrics"]


def _bbox(mask: np.ndarray) -> tuple[tuple[int, int], ...] | None:
    zp = np.flatnonzero(mask.any(axis=(1, 2)))
    if not zp.size:
        return None
    yx = mask[zp[0]:zp[-1] + 1].any(axis=0)
    yp, xp = np.flatnonzero(yx.any(axis=1)), np.flatnonzero(yx.any(axis=0))
    return (int(zp[0]), int(zp[-1]) + 1), (int(yp[0]), int(yp[-1]) + 1), (int(xp[0]), int(xp[-1]) + 1)


def _segment_row(session: Session, ref: AnnotationRef, original: SegmentProposal) -> dict:
    index, label = int(ref.segmentation or 0), int(ref.item_id)
    labels = session.segmentations[index] if index < len(session.segmentations) else None
    seg = labels.table[label] if labels is not None and label in labels.table else None
    status = "removed" if seg is None else (seg.provenance.status if seg.provenance else "manual")
    final = labels.array == label if seg is not None and status != "rejected" else None
    boxes = [b for b in (_bbox(final) if final is not None else None,
                         tuple(zip(original.start_zyx, original.stop_zyx, strict=True)) if original.voxels else None)
             if b is not None]
    if boxes:
        union = tuple(slice(min(b[i][0] for b in boxes), max(b[i][1] for b in boxes)) for i in range(3))
        crop_final = final[union] if final is not None else np.zeros(tuple(s.stop - s.start for s in union), bool)
        agreement = mask_agreement(original.mask_in(union), crop_final)  # type: ignore[arg-type]
    else:
        agreement = mask_agreement(np.zeros((0, 0, 0), bool), np.zeros((0, 0, 0), bool))
    name = seg.name if seg is not None else f"label {label}"
    return {"ref": ref.key, "name": name, "status": status, "dice": agreement.dice, "iou": agreement.iou,
            "voxels_edited": agreement.voxels_edited, "proposal_voxels": agreement.proposal_voxels,
            "final_voxels": agreement.final_voxels}


def case_metrics(session: Session, case: str) -> CaseMetrics:
    """Return the edit metrics of ``session`` under the name ``case``."""
    out = CaseMetrics(case, time_s=float(session.review_clock.seconds))
    items = {item.ref: item for item in iter_annotations(session)}
    for ref, original in session.original_proposals.items():
        current = items.get(ref)
        status = current.status if current is not None else "removed"
        if isinstance(original, SegmentProposal):
            row = _segment_row(session, ref, original)
            status = row["status"]
            out.segments.append(row)
        elif isinstance(original, Box):
            final = session.boxes[ref.item_id] if ref.item_id in session.boxes else None
            kept = final is not None and status != "rejected"
            changed = kept and (final.label_id, final.label) != (original.label_id, original.label)  # type: ignore
            iou = box_iou(original.lps_min, original.lps_max, final.lps_min, final.lps_max) if kept else 0.0  # type: ignore
            out.boxes.append({"ref": ref.key, "name": box_name(original), "status": status,
                              "iou": iou, "label_changed": bool(changed)})
            out.label_changes += int(changed)
        elif isinstance(original, Finding):
            final_f = session.findings[ref.item_id] if ref.item_id in session.findings else None
            changed = final_f is not None and status != "rejected" and (
                (final_f.label, final_f.value) != (original.label, original.value))
            out.label_changes += int(changed)
        out.statuses[status] = out.statuses.get(status, 0) + 1
    for ref, item in items.items():  # proposals without a kept original, and hand-made annotations
        if ref in session.original_proposals:
            continue
        if item.status == "manual":
            out.manual += 1
        else:
            out.statuses[item.status] = out.statuses.get(item.status, 0) + 1
    return out
