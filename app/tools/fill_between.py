"""Fill between slices: interpolate segments between the slices the user annotated."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from psygnal import evented

from analysis._task import NULL_CONTEXT, TaskContext
from analysis.segment_ops import interpolate_slices, mask_box
from app.tools.base import EditResult, Tool, ViewState, masked_result, register_tool


@evented
@dataclass
class FillBetweenParams:
    """``axis``: -1 = the view's normal, else 0/1/2 in ``zyx``. ``all_segments`` or only the active one."""

    axis: int = field(default=-1, metadata={"label": "Axis (-1 = view)", "min": -1, "max": 2})
    all_segments: bool = field(default=True, metadata={"label": "All visible segments"})


@register_tool
class FillBetweenTool(Tool):
    """Morphological contour interpolation of empty slices between key slices (as Slicer's
    "Fill between slices"); fills background voxels only."""

    id = "fill_between"
    title = "Fill between slices"
    shortcut = "6"
    Params = FillBetweenParams

    def compute(self, view: ViewState, *, ctx: TaskContext | None = None) -> EditResult | None:
        """Interpolate every selected segment along the axis (any thread on a snapshot)."""
        ctx = ctx or NULL_CONTEXT
        axis = view.axis if self.params.axis < 0 else int(self.params.axis)
        arr = view.labels.array
        if self.params.all_segments:
            ids = [s.id for s in view.labels.table if s.visible and not s.locked]
        else:
            ids = [view.label_id]
        box = mask_box(np.isin(arr, ids))
        if box is None:
            return None
        sub = arr[box]
        new = sub.copy()
        for n, label in enumerate(ids):
            ctx.step(n / max(1, len(ids)), "fill between slices")
            seg = sub == label
            if not seg.any():
                continue
            filled = interpolate_slices(seg, axis, view.spacing_zyx_mm)
            new[filled & ~seg & (new == 0)] = label
        return masked_result(view, box, new, self.title)
