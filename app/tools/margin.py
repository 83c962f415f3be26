"""Margin: grow or shrink the active segment by a physical distance (mm)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psygnal import evented

from analysis.morphology import margin
from analysis.segment_ops import mask_box, radius_vox
from app.tools.base import EditResult, Tool, ViewState, register_tool, set_segment


@evented
@dataclass
class MarginParams:
    """Signed distance: > 0 grows, < 0 shrinks (mm, anisotropic spacing respected)."""

    distance_mm: float = field(default=3.0, metadata={"label": "Margin", "min": -100.0, "max": 100.0, "units": "mm"})


@register_tool
class MarginTool(Tool):
    """Grow/shrink the active segment; one undo step."""

    id = "margin"
    title = "Margin"
    shortcut = "8"
    Params = MarginParams

    def compute(self, view: ViewState, *, ctx: Any = None) -> EditResult | None:
        """Margin edit (any thread on a snapshot)."""
        seg = view.labels.array == view.label_id
        d = self.params.distance_mm
        box = mask_box(seg, [r + 1 for r in radius_vox(abs(d), view.spacing_zyx_mm)] if d > 0 else (1, 1, 1))
        if box is None:
            return None
        return set_segment(view, margin(seg[box], d, view.spacing_zyx_mm), self.title, box=box)
