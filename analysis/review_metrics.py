"""How much readers corrected model proposals: mask agreement, box IoU, per-case and aggregate numbers.

Pure numpy; the caller (``app.model.edit_metrics``) pairs each kept proposal with its final state.
Conventions:

* Dice = 2|P∩F| / (|P| + |F|), IoU = |P∩F| / |P∪F| over voxels; both are 1.0 when P and F are
  both empty. ``voxels_edited`` = |P xor F| (voxels added plus voxels removed).
* A rejected or deleted proposal counts as removed: its final mask is empty (Dice 0) and its box
  IoU is 0.
* Box IoU is the volume IoU of two axis-aligned boxes in LPS mm (area IoU for flat 2-D boxes).

Any thread.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CaseMetrics", "MaskAgreement", "aggregate", "box_iou", "mask_agreement", "summary"]


@dataclass(frozen=True)
class MaskAgreement:
    """Agreement of a proposal mask P with the final mask F (counts in voxels)."""

    dice: float
    iou: float
    voxels_edited: int
    proposal_voxels: int
    final_voxels: int


def mask_agreement(proposal: np.ndarray, final: np.ndarray) -> MaskAgreement:
    """Dice, IoU and |P xor F| of two boolean masks of the same shape (crop both to one box first)."""
    if proposal.shape != final.shape:
        raise ValueError(f"mask shapes differ: {proposal.shape} vs {final.shape}")
    p, f = proposal.astype(bool, copy=False), final.astype(bool, copy=False)
    n_p, n_f = int(np.count_nonzero(p)), int(np.count_nonzero(f))
    inter = int(np.count_nonzero(p & f))
    union = n_p + n_f - inter
    if union == 0:
        return MaskAgreement(1.0, 1.0, 0, 0, 0)
    return MaskAgreement(2.0 * inter / (n_p + n_f), inter / union, union - inter, n_p, n_f)


def box_iou(a_min: Sequence[float], a_max: Sequence[float], b_min: Sequence[float], b_max: Sequence[float]) -> float:
    """IoU of two axis-aligned boxes given by their corners (mm). Zero-thickness axes are ignored
    when both boxes are flat along them (2-D boxes on one slice)."""
    a_lo, a_hi = np.minimum(a_min, a_max), np.maximum(a_min, a_max)
    b_lo, b_hi = np.minimum(b_min, b_max), np.maximum(b_min, b_max)
    keep = ~((a_hi - a_lo == 0) & (b_hi - b_lo == 0))
    if not keep.any():
        return 1.0 if np.array_equal(a_lo, b_lo) else 0.0
    if not np.allclose(a_lo[~keep], b_lo[~keep]):
        return 0.0  # flat boxes on different slices
    inter = float(np.prod(np.clip(np.minimum(a_hi, b_hi) - np.maximum(a_lo, b_lo), 0, None)[keep]))
    vol_a, vol_b = float(np.prod((a_hi - a_lo)[keep])), float(np.prod((b_hi - b_lo)[keep]))
    union = vol_a + vol_b - inter
    return inter / union if union > 0 else 0.0


@dataclass
class CaseMetrics:
    """Edit metrics of one case (one session).

    ``segments`` / ``boxes`` hold one dict per kept proposal (``name``, ``status``, and ``dice``,
    ``iou``, ``voxels_edited`` or ``iou``, ``label_changed``). ``statuses`` counts the current
    status of every proposal (``removed`` when deleted); ``manual`` counts annotations added by hand.
    ``time_s`` is the active review time in seconds.
    """

    case: str
    segments: list[dict[str, Any]] = field(default_factory=list)
    boxes: list[dict[str, Any]] = field(default_factory=list)
    label_changes: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    manual: int = 0
    time_s: float = 0.0

    @property
    def voxels_edited(self) -> int:
        return int(sum(s["voxels_edited"] for s in self.segments))

    @property
    def proposals(self) -> int:
        return int(sum(self.statuses.values()))

    def mean(self, key: str, of: str = "segments") -> float | None:
        """Mean of ``key`` over ``segments`` or ``boxes`` (None when there are none)."""
        values = [item[key] for item in getattr(self, of)]
        return float(np.mean(values)) if values else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with the per-case means."""
        return {"case": self.case, "proposals": self.proposals, "statuses": dict(self.statuses),
                "manual": self.manual, "mean_dice": self.mean("dice"), "mean_iou": self.mean("iou"),
                "mean_box_iou": self.mean("iou", "boxes"), "label_changes": self.label_changes,
                "voxels_edited": self.voxels_edited, "time_s": round(self.time_s, 3),
                "segments": self.segments, "boxes": self.boxes}


def summary(values: Iterable[float]) -> dict[str, float | int | None]:
    """``{"n", "mean", "median", "min", "max"}`` of the values (None when there are none)."""
    vals = [float(v) for v in values]
    if not vals:
        return {"n": 0, "mean": None, "median": None, "min": None, "max": None}
    return {"n": len(vals), "mean": statistics.fmean(vals), "median": statistics.median(vals),
            "min": min(vals), "max": max(vals)}


def aggregate(cases: Sequence[CaseMetrics]) -> dict[str, Any]:
    """Project totals and distributions: Dice/IoU/box IoU pooled over all proposals, per-case time,
    voxels edited and label changes (totals and summaries), status counts summed."""
    statuses: dict[str, int] = {}
    for c in cases:
        for k, n in c.statuses.items():
            statuses[k] = statuses.get(k, 0) + n
    return {
        "cases": len(cases),
        "proposals": sum(c.proposals for c in cases),
        "statuses": statuses,
        "manual": sum(c.manual for c in cases),
        "dice": summary(s["dice"] for c in cases for s in c.segments),
        "iou": summary(s["iou"] for c in cases for s in c.segments),
        "box_iou": summary(b["iou"] for c in cases for b in c.boxes),
        "label_changes": {"total": sum(c.label_changes for c in cases),
                          **summary(c.label_changes for c in cases)},
        "voxels_edited": {"total": sum(c.voxels_edited for c in cases), **summary(c.voxels_edited for c in cases)},
        "time_s": {"total": sum(c.time_s for c in cases), **summary(c.time_s for c in cases)},
    }
