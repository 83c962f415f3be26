"""Draw: outline a region on the slice, vertex by vertex or freehand, then fill it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from psygnal import evented

from app.model.labels import Box
from app.tools.base import ZYX, Tool, ViewState, register_tool
from app.tools.scissors import plane_polygon_edit


@evented
@dataclass
class DrawParams:
    """Draw has no options; masking options apply."""


@register_tool
class DrawTool(Tool):
    """Press adds a vertex, drag adds freehand vertices; :meth:`apply` (Enter) fills the polygon.

    :meth:`remove_last_point` undoes a vertex (Slicer's ``x``).
    """

    id = "draw"
    title = "Draw"
    shortcut = "2"
    Params = DrawParams

    def __init__(self, params: DrawParams | None = None) -> None:
        super().__init__(params)
        self.points_rc: list[tuple[int, int]] = []
        self._index: int | None = None

    def press(self, view: ViewState, zyx: ZYX) -> None:
        """Add a vertex at ``zyx``; the first one fixes the slice."""
        if not self.points_rc:
            self._index = int(zyx[view.axis])
        self.points_rc.append(view.plane_index(zyx))

    def drag(self, view: ViewState, zyx: ZYX) -> None:
        """Add a freehand vertex."""
        if self.points_rc and view.plane_index(zyx) != self.points_rc[-1]:
            self.points_rc.append(view.plane_index(zyx))

    def remove_last_point(self) -> None:
        """Delete the most recent vertex."""
        if self.points_rc:
            self.points_rc.pop()

    def apply(self, view: ViewState, **kwargs: Any) -> Box | None:
        """Fill the polygon on the slice with the active segment (one undo step)."""
        if len(self.points_rc) < 3:
            self.points_rc = []
            return None
        box, mask = plane_polygon_edit(view, np.asarray(self.points_rc, float), inside=True, whole_volume=False,
                                       index=self._index)
        self.points_rc = []
        with view.labels.transaction(self.title):
            return self.paint_masked(view, box, mask, view.label_id)

    def cancel(self, view: ViewState) -> None:
        """Drop the polygon."""
        self.points_rc = []
        super().cancel(view)
