"""Hollow: replace the active segment by a shell of a given thickness (mm)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from psygnal import evented

from analysis.morphology import hollow
from analysis.segment_ops import mask_box, radius_vox
from app.tools.base import EditResult, Tool, ViewState, register_tool, set_segment


class ShellMode(StrEnum):
    """Where the shell lies relative to the current surface."""

    INSIDE = "inside"
    MEDIAL = "medial"
    OUTSIDE = "outside"


@evented
@dataclass
class HollowParams:
    """Shell thickness (mm) and placement."""

    thickness_mm: float = field(default=2.0, metadata={"label": "Shell thickness", "min": 0.1, "max": 100.0,
                                                       "units": "mm"})
    mode: ShellMode = field(default=ShellMode.INSIDE, metadata={"label": "Shell"})


@register_tool
class HollowTool(Tool):
    """Hollow the active segment; one undo step."""

    id = "hollow"
    title = "Hollow"
    shortcut = "9"
    Params = HollowParams

    def compute(self, view: ViewState, *, ctx: Any = None) -> EditResult | None:
        """Hollow edit (any thread on a snapshot)."""
        seg = view.labels.array == view.label_id
        box = mask_box(seg, [r + 1 for r in radius_vox(self.params.thickness_mm, view.spacing_zyx_mm)])
        if box is None:
            return None
        shell = hollow(seg[box], self.params.thickness_mm, view.spacing_zyx_mm, mode=self.params.mode.value)
        return set_segment(view, shell, self.title, box=box)
