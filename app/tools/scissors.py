"""Scissors: cut with a lasso or rectangle drawn in the view, through one slice or the whole volume."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from psygnal import evented

from analysis._brush import polygon_mask_2d, rectangle_points
from app.model.labels import Box
from app.tools.base import ZYX, Tool, ViewState, register_tool


class ScissorsOp(StrEnum):
    """What happens inside/outside the drawn shape."""

    ERASE_INSIDE = "erase_inside"
    ERASE_OUTSIDE = "erase_outside"
    FILL_INSIDE = "fill_inside"
    FILL_OUTSIDE = "fill_outside"


class ScissorsShape(StrEnum):
    """Shape drawn with the mouse."""

    FREEFORM = "freeform"  #: lasso: every drag point is a vertex
    RECTANGLE = "rectangle"  #: press and release are opposite corners


class ScissorsExtent(StrEnum):
    """How far the cut reaches along the view's normal."""

    SLICE = "slice"
    VOLUME = "volume"


@evented
@dataclass
class ScissorsParams:
    """Operation, shape, extent, and whether erasing affects every segment or the active one."""

    operation: ScissorsOp = field(default=ScissorsOp.ERASE_INSIDE, metadata={"label": "Operation"})
    shape: ScissorsShape = field(default=ScissorsShape.FREEFORM, metadata={"label": "Shape"})
    extent: ScissorsExtent = field(default=ScissorsExtent.VOLUME, metadata={"label": "Extent"})
    all_segments: bool = field(default=False, metadata={"label": "Erase all segments"})


def plane_polygon_edit(view: ViewState, points_rc: np.ndarray, *, inside: bool, whole_volume: bool,
                       index: int | None = None) -> tuple[Box, np.ndarray]:
    """Rasterise a polygon drawn in the view plane into a ``zyx`` ``(box, mask)``.

    ``points_rc`` are (row, column) indices of the view plane (the two ``zyx`` axes other than
    ``view.axis``, in order). The mask spans slice ``index`` (default: the shown one), or every
    slice (broadcast, read-only view) when ``whole_volume``.
    """
    shape = view.labels.array.shape
    plane_shape = tuple(n for a, n in enumerate(shape) if a != view.axis)
    mask2d = polygon_mask_2d(points_rc, plane_shape)  # type: ignore[arg-type]
    if not inside:
        mask2d = ~mask2d
    mask = np.expand_dims(mask2d, view.axis)
    if whole_volume:
        box = tuple(slice(0, n) for n in shape)
        mask = np.broadcast_to(mask, shape)
    else:
        box = view.slice_box(index)
    return box, mask  # type: ignore[return-value]


@register_tool
class ScissorsTool(Tool):
    """Press–drag–release draws the shape; release applies it as one undo step."""

    id = "scissors"
    title = "Scissors"
    shortcut = "Shift+1"
    Params = ScissorsParams

    def __init__(self, params: ScissorsParams | None = None) -> None:
        super().__init__(params)
        self.points_rc: list[tuple[int, int]] = []
        self._index: int | None = None

    def press(self, view: ViewState, zyx: ZYX) -> None:
        """Start a shape at ``zyx``; the cut goes through that point's slice."""
        self._index = int(zyx[view.axis])
        self.points_rc = [view.plane_index(zyx)]

    def drag(self, view: ViewState, zyx: ZYX) -> None:
        """Add a lasso vertex (or move the rectangle's second corner)."""
        if not self.points_rc:
            return
        if self.params.shape is ScissorsShape.RECTANGLE:
            self.points_rc[1:] = [view.plane_index(zyx)]
        else:
            self.points_rc.append(view.plane_index(zyx))

    def release(self, view: ViewState, zyx: ZYX) -> None:
        """Close the shape and cut."""
        if not self.points_rc:
            return
        self.drag(view, zyx)
        pts = np.asarray(self.points_rc, float)
        self.points_rc = []
        if self.params.shape is ScissorsShape.RECTANGLE:
            pts = rectangle_points(pts[0], pts[-1])
        self.apply_polygon(view, pts, self._index)

    def apply_polygon(self, view: ViewState, points_rc: np.ndarray, index: int | None = None) -> None:
        """Cut with a polygon of view-plane (row, column) vertices on slice ``index``; one undo step."""
        op = self.params.operation
        inside = op in (ScissorsOp.ERASE_INSIDE, ScissorsOp.FILL_INSIDE)
        box, mask = plane_polygon_edit(view, points_rc, inside=inside,
                                       whole_volume=self.params.extent is ScissorsExtent.VOLUME, index=index)
        with view.labels.transaction(self.title):
            if op in (ScissorsOp.FILL_INSIDE, ScissorsOp.FILL_OUTSIDE):
                self.paint_masked(view, box, mask, view.label_id)
            else:
                self.paint_masked(view, box, mask, 0, active=view.label_id,
                                  only=None if self.params.all_segments else view.label_id)

    def cancel(self, view: ViewState) -> None:
        """Drop the shape being drawn."""
        self.points_rc = []
        super().cancel(view)
