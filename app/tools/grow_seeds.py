"""Grow from seeds: every segment's voxels are seeds; unlabeled voxels join the nearest-by-edges seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psygnal import evented

from analysis._task import NULL_CONTEXT, TaskContext
from analysis.segment_ops import grow_from_seeds
from app.tools.base import EditResult, Tool, ViewState, masked_result, register_tool


@evented
@dataclass
class GrowSeedsParams:
    """Gradient smoothing and how far beyond the seeds' bounding box the growth may reach."""

    sigma_mm: float = field(default=1.0, metadata={"label": "Edge smoothing", "min": 0.1, "max": 10.0, "units": "mm"})
    margin_fraction: float = field(default=0.15, metadata={"label": "Box margin", "min": 0.0, "max": 1.0})


@register_tool
class GrowSeedsTool(Tool):
    """Multi-label seeded region growing (marker watershed on the gradient), with preview.

    Workflow (as in Slicer): paint seeds of at least two segments (one may be "background"),
    call :meth:`update` to compute the preview (labels are not written), add seeds and call
    :meth:`update` again to refine, then :meth:`apply` writes the preview as one undo step.
    Only unlabeled voxels are filled; locked segments stay untouched.
    """

    id = "grow_seeds"
    title = "Grow from seeds"
    shortcut = "5"
    Params = GrowSeedsParams

    def __init__(self, params: GrowSeedsParams | None = None) -> None:
        super().__init__(params)
        self.preview_result: EditResult | None = None

    def compute(self, view: ViewState, *, ctx: TaskContext | None = None) -> EditResult | None:
        """Grow from the current labels (any thread on a snapshot). None with < 2 seed labels."""
        if view.image is None:
            raise ValueError("grow from seeds needs an image")
        grown = grow_from_seeds(view.image.array, view.labels.array, view.spacing_zyx_mm,
                                sigma_mm=self.params.sigma_mm, margin_fraction=self.params.margin_fraction,
                                ctx=ctx or NULL_CONTEXT)
        if grown is None:
            return None
        box, values = grown
        return masked_result(view, box, values, self.title)

    def update(self, view: ViewState, *, ctx: TaskContext | None = None) -> EditResult | None:
        """Recompute the preview from the current seeds; returns it (nothing is written)."""
        self.preview_result = self.compute(view, ctx=ctx)
        return self.preview_result

    def apply(self, view: ViewState, **kwargs: Any):
        """Write the preview (computing it first when there is none) as one undo step."""
        result = self.preview_result if self.preview_result is not None else self.compute(view, **kwargs)
        self.preview_result = None
        return self.commit(view, result)

    def cancel(self, view: ViewState) -> None:
        """Drop the preview."""
        self.preview_result = None
        super().cancel(view)
