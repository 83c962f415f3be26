"""Grow from seeds: every segment's voxels are seeds; unlabeled voxels join the seed they are closest to.

GrowCut class (Slicer's "Grow from seeds"): :class:`analysis.grow_cut.GrowCut` keeps its distance
and label maps between updates, so adding seeds refines the preview incrementally. Boxes larger
than :data:`GROWCUT_MAX_VOXELS` use the marker watershed on the gradient instead (seconds rather
than minutes in numpy on tens of millions of voxels), recomputed on each update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psygnal import evented

from analysis._task import NULL_CONTEXT, TaskContext
from analysis.grow_cut import GrowCut
from analysis.segment_ops import edge_image, seeds_box, watershed_from_seeds
from app.model.labels import Box
from app.tools.base import ZYX, EditResult, Tool, ViewState, masked_result, register_tool
from app.tools.paint import PaintParams, PaintTool


@evented
@dataclass
class GrowSeedsParams:
    """Seed brush radius, how far beyond the seeds' bounding box the growth may reach, and the
    gradient smoothing of the watershed used for large boxes."""

    radius_mm: float = field(default=3.0, metadata={"label": "Seed brush", "min": 0.1, "max": 100.0, "units": "mm"})

    sigma_mm: float = field(default=1.0, metadata={"label": "Edge smoothing (large boxes)", "min": 0.1, "max": 10.0,
                                                    "units": "mm"})
    margin_fraction: float = field(default=0.15, metadata={"label": "Box margin", "min": 0.0, "max": 1.0})


#: Largest working box (voxels) grown with GrowCut; larger boxes use the marker watershed.
GROWCUT_MAX_VOXELS = 1_000_000


@register_tool
class GrowSeedsTool(Tool):
    """Multi-label seeded growing (GrowCut class), with an incrementally updated preview.

    Workflow (as in Slicer): paint seeds of at least two segments (one may be "background"),
    call :meth:`update` to compute the preview (labels are not written), add seeds and call
    :meth:`update` again to refine, then :meth:`apply` writes the preview as one undo step.
    Only unlabeled voxels are filled; locked segments stay untouched.

    While new seeds stay inside the working box and no seed was erased, an update continues the
    previous GrowCut search from the new seeds only (milliseconds); otherwise it recomputes.
    Large boxes use the marker watershed, whose edge image is kept between updates. One compute
    at a time per tool (any thread on a snapshot).
    """

    id = "grow_seeds"
    title = "Grow from seeds"
    shortcut = "5"
    Params = GrowSeedsParams

    def __init__(self, params: GrowSeedsParams | None = None) -> None:
        super().__init__(params)
        self._brush = PaintTool(PaintParams())
        self.preview_result: EditResult | None = None
        self._edges: tuple[tuple, np.ndarray, Box, np.ndarray] | None = None  # key, image, box, edges
        self._growcut: tuple[np.ndarray, tuple, Box, GrowCut] | None = None  # image, spacing, box, state
        self.last_incremental = False  # whether the last compute continued the previous result

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
        if int(np.prod([b.stop - b.start for b in box])) <= GROWCUT_MAX_VOXELS:
            box, grown = self._grow_cut(view, box, ctx)
        else:
            self.last_incremental = False
            grown = self._watershed(view, box, ctx)
        return masked_result(view, box, grown.astype(seeds.dtype, copy=False), self.title)

    def _grow_cut(self, view: ViewState, box: Box, ctx: TaskContext) -> tuple[Box, np.ndarray]:
        cached = self._growcut
        image = view.image.array  # type: ignore[union-attr]
        if (cached is not None and cached[0] is image and cached[1] == view.spacing_zyx_mm
                and all(c.start <= b.start and b.stop <= c.stop for b, c in zip(box, cached[2], strict=True))):
            box, state = cached[2], cached[3]  # keep the box: the previous result stays valid
        else:
            state = GrowCut(image[box], view.spacing_zyx_mm)
            self._growcut = (image, view.spacing_zyx_mm, box, state)
        grown = state.update(view.labels.array[box], ctx=ctx)
        self.last_incremental = state.last_incremental
        return box, grown

    def _watershed(self, view: ViewState, box: Box, ctx: TaskContext) -> np.ndarray:
        key = (self.params.sigma_mm, view.spacing_zyx_mm)
        cached = self._edges
        image = view.image.array  # type: ignore[union-attr]
        if (cached is not None and cached[0] == key and cached[1] is image
                and all(c.start <= b.start and b.stop <= c.stop for b, c in zip(box, cached[2], strict=True))):
            box, edges = cached[2], cached[3]
        else:
            edges = edge_image(image[box], view.spacing_zyx_mm, sigma_mm=self.params.sigma_mm, ctx=ctx)
            self._edges = (key, image, box, edges)
        return watershed_from_seeds(edges, view.labels.array[box], view.spacing_zyx_mm, ctx=ctx)

    # ------------------------------------------------ seeds: a 2D paint brush
    def press(self, view: ViewState, zyx: ZYX) -> None:
        """Start painting seeds of the active segment (a disc of ``radius_mm`` in the view plane)."""
        self._brush.params.radius_mm = float(self.params.radius_mm)
        self._brush.press(view, zyx)

    def drag(self, view: ViewState, zyx: ZYX) -> None:
        """Continue the seed stroke (gap-free, one undo step per stroke)."""
        self._brush.drag(view, zyx)

    def release(self, view: ViewState, zyx: ZYX) -> None:
        """End the seed stroke."""
        self._brush.release(view, zyx)

    def update(self, view: ViewState, *, ctx: TaskContext | None = None) -> EditResult | None:
        """Recompute the preview from the current seeds; returns it (nothing is written)."""
        self.preview_result = self.compute(view, ctx=ctx)
        return self.preview_result

    def apply(self, view: ViewState, **kwargs: Any):
        """Write the preview (computing it first when there is none) as one undo step."""
        result = self.preview_result if self.preview_result is not None else self.compute(view, **kwargs)
        self.preview_result = None
        self._growcut = None  # the grown voxels become labels: the next growth starts afresh
        return self.commit(view, result)

    def cancel(self, view: ViewState) -> None:
        """Drop the preview and the kept search state; end a seed stroke."""
        self.preview_result = None
        self._growcut = None
        self._brush.cancel(view)
        super().cancel(view)
