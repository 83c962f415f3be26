"""Level tracing: add the region inside the iso-contour through the clicked voxel, on its slice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psygnal import evented

from analysis.segment_ops import level_trace_2d
from app.model.labels import Box
from app.tools.base import ZYX, Tool, ViewState, register_tool


@evented
@dataclass
class LevelTraceParams:
    """Level tracing has no options: the level is the clicked voxel's value."""


@register_tool
class LevelTraceTool(Tool):
    """Click: add the traced 2D region on the view's slice through ``zyx`` (one undo step)."""

    id = "level_trace"
    title = "Level tracing"
    shortcut = "4"
    Params = LevelTraceParams

    def preview(self, view: ViewState, zyx: ZYX) -> tuple[Box, np.ndarray] | None:
        """Return the traced region as ``(box, mask)`` (one slice thick) without writing."""
        if view.image is None or not view.labels.geometry.contains_index_zyx(zyx):
            return None
        box = view.slice_box(int(zyx[view.axis]))
        plane = np.squeeze(view.image.array[box], axis=view.axis)
        region = level_trace_2d(plane, view.plane_index(zyx))
        return box, np.expand_dims(region, view.axis)

    def press(self, view: ViewState, zyx: ZYX) -> None:
        """Trace at ``zyx`` and add the region to the active segment."""
        traced = self.preview(view, zyx)
        if traced is None:
            return
        with view.labels.transaction(self.title):
            self.paint_masked(view, traced[0], traced[1], view.label_id)
