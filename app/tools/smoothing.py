"""Smoothing: median, opening, closing or Gaussian of the active segment, or joint smoothing of all."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from psygnal import evented

from analysis._task import NULL_CONTEXT, TaskContext
from analysis.morphology import smooth, smooth_joint
from analysis.segment_ops import mask_box, radius_vox
from app.tools.base import EditResult, Tool, ViewState, masked_result, register_tool, set_segment


class SmoothingMethod(StrEnum):
    """Smoothing method (see :func:`analysis.morphology.smooth`)."""

    MEDIAN = "median"
    OPENING = "opening"
    CLOSING = "closing"
    GAUSSIAN = "gaussian"
    JOINT = "joint"  #: Gaussian of all visible unlocked segments together


@evented
@dataclass
class SmoothingParams:
    """Method and kernel size in mm: the ball radius (median, opening, closing) or sigma (Gaussian, joint)."""

    method: SmoothingMethod = field(default=SmoothingMethod.MEDIAN, metadata={"label": "Method"})
    size_mm: float = field(default=3.0, metadata={"label": "Radius (sigma)", "min": 0.1, "max": 50.0, "units": "mm"})


@register_tool
class SmoothingTool(Tool):
    """Smooth the active segment (or all visible ones jointly); one undo step."""

    id = "smoothing"
    title = "Smoothing"
    shortcut = "0"
    Params = SmoothingParams

    def compute(self, view: ViewState, *, ctx: TaskContext | None = None) -> EditResult | None:
        """Smoothing edit (any thread on a snapshot)."""
        ctx = ctx or NULL_CONTEXT
        p, arr, spacing = self.params, view.labels.array, view.spacing_zyx_mm
        if p.method is SmoothingMethod.JOINT:
            ids = [s.id for s in view.labels.table if s.visible and not s.locked]
            pad = [3 * r + 1 for r in radius_vox(p.size_mm, spacing)]
            box = mask_box(np.isin(arr, ids), pad)
            if box is None:
                return None
            new = smooth_joint(arr[box], ids, p.size_mm, spacing, ctx=ctx)
            return masked_result(view, box, new, f"{self.title} (joint)")
        seg = arr == view.label_id
        pad = [(3 if p.method is SmoothingMethod.GAUSSIAN else 1) * r + 1 for r in radius_vox(p.size_mm, spacing)]
        box = mask_box(seg, pad)
        if box is None:
            return None
        new = smooth(seg[box], p.method.value, p.size_mm, spacing, ctx=ctx)
        return set_segment(view, new, f"{self.title} ({p.method.value})", box=box)
