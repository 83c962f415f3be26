"""Threshold: the active segment becomes the voxels inside an intensity range (preview, then apply)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from psygnal import evented

from analysis.segment_ops import auto_threshold_range, threshold_mask
from app.tools.base import EditResult, Tool, ViewState, register_tool, set_segment


class AutoRange(StrEnum):
    """How :meth:`ThresholdTool.auto_range` picks the range."""

    OTSU_BRIGHT = "otsu_bright"
    OTSU_DARK = "otsu_dark"
    PERCENTILE = "percentile"


@evented
@dataclass
class ThresholdParams:
    """Intensity range in image units (HU for CT) and the auto-range method."""

    lower: float = field(default=-100.0, metadata={"label": "Lower", "units": "image"})
    upper: float = field(default=3000.0, metadata={"label": "Upper", "units": "image"})
    auto: AutoRange = field(default=AutoRange.OTSU_BRIGHT, metadata={"label": "Auto range"})
    lower_percentile: float = field(default=5.0, metadata={"label": "Lower %", "min": 0.0, "max": 100.0})
    upper_percentile: float = field(default=95.0, metadata={"label": "Upper %", "min": 0.0, "max": 100.0})


@register_tool
class ThresholdTool(Tool):
    """Set the active segment to ``lower <= image <= upper`` over the whole volume."""

    id = "threshold"
    title = "Threshold"
    shortcut = "7"
    Params = ThresholdParams

    def auto_range(self, view: ViewState) -> tuple[float, float]:
        """Set ``lower``/``upper`` from the image (Otsu or percentiles) and return them."""
        if view.image is None:
            raise ValueError("threshold needs an image")
        p = self.params
        if p.auto is AutoRange.PERCENTILE:
            lo, hi = auto_threshold_range(view.image.array, "percentile", lower_percentile=p.lower_percentile,
                                          upper_percentile=p.upper_percentile)
        else:
            lo, hi = auto_threshold_range(view.image.array, "otsu", bright=p.auto is AutoRange.OTSU_BRIGHT)
        p.lower, p.upper = lo, hi
        return lo, hi

    def preview(self, view: ViewState, index: int | None = None) -> np.ndarray:
        """Return the thresholded mask without writing: one slice of the view (``index``) or the volume.

        Any thread may call (reads the read-only image only).
        """
        if view.image is None:
            raise ValueError("threshold needs an image")
        arr = view.image.array if index is None else view.image.array[view.slice_box(index)]
        return threshold_mask(arr, self.params.lower, self.params.upper)

    def compute(self, view: ViewState, *, ctx: Any = None) -> EditResult | None:
        """Edit that makes the active segment equal to the thresholded region (masking applies)."""
        return set_segment(view, self.preview(view), self.title)
