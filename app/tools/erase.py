"""Erase: the paint brush writing background (0), by default only over the active segment."""

from __future__ import annotations

from dataclasses import dataclass, field

from psygnal import evented

from app.tools.base import register_tool
from app.tools.paint import PaintTool


@evented
@dataclass
class EraseParams:
    """Eraser options; ``all_segments`` erases every unlocked segment under the brush."""

    radius_mm: float = field(default=5.0, metadata={"label": "Radius", "min": 0.1, "max": 200.0, "units": "mm"})
    sphere: bool = field(default=False, metadata={"label": "Sphere brush (3D)"})
    all_segments: bool = field(default=False, metadata={"label": "Erase all segments"})


@register_tool
class EraseTool(PaintTool):
    """Erase along a stroke; one stroke is one undo step. Locked segments are never erased."""

    id = "erase"
    title = "Erase"
    shortcut = "3"
    Params = EraseParams
    erase = True
