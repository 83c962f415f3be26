"""Grow from seeds: every segment's voxels are seeds; unlabeled voxels join the nearest-by-edges seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psygnal import evented

from analysis._task import NULL_CONTEXT, TaskContext
from analysis.segment_ops import edge_image, seeds_box, watershed_from_seeds
from app.model.labels import Box
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

    The edge image of the working box is kept between updates, so a refinement only re-runs
    the watershed while the new seeds stay inside that box. One compute at a time per tool.
    """

    id = "grow_seeds"
    title = "Grow from seeds"
    shortcut = "5"
    Params = GrowSeedsParams

    def __init__(self, params: GrowSeedsParams | None = None) -> None:
        super().__init__(params)
        self.preview_result: EditResult | None = None
        self._edges: tuple[tuple, np.ndarray, Box, np.ndarray] | None = None  # key, image, box, edges

    def compute(self, view: ViewState, *, ctx: TaskContext | None = None) -> EditResult | None:
        """Grow from the current labels (any thread on a snapshot). None with < 2 seed labels."""
        if view.image is None:
            raise ValueError("grow from seeds needs an image")
        ctx = ctx or NULL_CONTEXT
        seeds = view.labels.array
        if np.count_nonzero(np.bincount(seeds.ravel())[1:]) < 2:  # bincount: no sort of the volume
            return None
        box = seeds_box(seeds, self.params.margin_fraction)
        assert box is not None
        key = (self.params.sigma_mm, view.spacing_zyx_mm)
        cached = self._edges
        if (cached is not None and cached[0] == key and cached[1] is view.image.array
                and all(c.start <= b.start and b.stop <= c.stop for b, c in zip(box, cached[2], strict=True))):
            box, edges = cached[2], cached[3]
        else:
            edges = edge_image(view.image.array[box], view.spacing_zyx_mm, sigma_mm=self.params.sigma_mm, ctx=ctx)
            self._edges = (key, view.image.array, box, edges)
        grown = watershed_from_seeds(edges, seeds[box], view.spacing_zyx_mm, ctx=ctx)
        return masked_result(view, box, grown, self.title)

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
