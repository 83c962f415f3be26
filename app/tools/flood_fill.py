"""Flood fill / connected threshold from a click, in the view's slice (2D) or the volume (3D)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from psygnal import evented

from analysis.segment_ops import connected_threshold, flood_fill
from app.model.labels import Box
from app.tools.base import ZYX, Tool, ViewState, register_tool


@evented
@dataclass
class FloodFillParams:
    """Fill voxels connected to the click whose value is within ``tolerance`` of the clicked one.

    With ``use_range`` the range ``lower``…``upper`` is used instead (connected threshold).
    """

    tolerance: float = field(default=50.0, metadata={"label": "Tolerance", "min": 0.0, "units": "image"})
    three_d: bool = field(default=False, metadata={"label": "3D"})
    use_range: bool = field(default=False, metadata={"label": "Use range"})
    lower: float = field(default=-100.0, metadata={"label": "Lower", "units": "image"})
    upper: float = field(default=300.0, metadata={"label": "Upper", "units": "image"})
    fully_connected: bool = field(default=False, metadata={"label": "Diagonal neighbours"})


@register_tool
class FloodFillTool(Tool):
    """Click: add the connected region to the active segment (one undo step)."""

    id = "flood_fill"
    title = "Flood fill"
    shortcut = "Shift+5"
    Params = FloodFillParams

    def preview(self, view: ViewState, zyx: ZYX) -> tuple[Box, np.ndarray] | None:
        """Return the region as ``(box, mask)`` without writing (None outside the volume)."""
        if view.image is None or not view.labels.geometry.contains_index_zyx(zyx):
            return None
        p = self.params
        if p.three_d:
            box = tuple(slice(0, n) for n in view.image.array.shape)
            arr, seed = view.image.array, tuple(int(v) for v in zyx)
        else:
            box = view.slice_box(int(zyx[view.axis]))
            arr, seed = np.squeeze(view.image.array[box], axis=view.axis), view.plane_index(zyx)
        if p.use_range:
            region = connected_threshold(arr, seed, p.lower, p.upper, fully_connected=p.fully_connected)
        else:
            region = flood_fill(arr, seed, p.tolerance, fully_connected=p.fully_connected)
        if not p.three_d:
            region = np.expand_dims(region, view.axis)
        return box, region  # type: ignore[return-value]

    def press(self, view: ViewState, zyx: ZYX) -> None:
        """Fill from ``zyx`` into the active segment."""
        region = self.preview(view, zyx)
        if region is None:
            return
        with view.labels.transaction(self.title):
            self.paint_masked(view, region[0], region[1], view.label_id)
