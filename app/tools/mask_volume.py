"""Mask volume: blank an image outside (or inside) a segment into a new derived ImageVolume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psygnal import Signal, evented

from app.model.image import ImageVolume
from app.tools.base import Tool, ViewState, register_tool


@evented
@dataclass
class MaskVolumeParams:
    """Which side is blanked, with what value (image units), and by which segment (0 = active)."""

    fill_value: float = field(default=0.0, metadata={"label": "Fill value", "units": "image"})
    blank_inside: bool = field(default=False, metadata={"label": "Blank inside (else outside)"})
    segment: int = field(default=0, metadata={"label": "Segment (0 = active)", "min": 0})


@register_tool
class MaskVolumeTool(Tool):
    """Create a masked copy of the image; labels are not changed (no undo step).

    ``volume_created(ImageVolume)`` fires after :meth:`apply`; the GUI adds it to the session.
    """

    id = "mask_volume"
    title = "Mask volume"
    shortcut = "Shift+4"
    Params = MaskVolumeParams

    volume_created = Signal(object)

    def compute_volume(self, view: ViewState) -> ImageVolume:
        """Return the masked image (any thread on a snapshot). The input image is not modified."""
        if view.image is None:
            raise ValueError("mask volume needs an image")
        label = int(self.params.segment or view.label_id)
        inside = view.labels.array == label
        blank = inside if self.params.blank_inside else ~inside
        img = view.image.array
        fill = self.params.fill_value
        if np.issubdtype(img.dtype, np.integer):
            info = np.iinfo(img.dtype)
            fill = int(np.clip(round(fill), info.min, info.max))
        out = img.copy()
        out[blank] = fill
        name = view.labels.table[label].name if label in view.labels.table else str(label)
        meta = {k: v for k, v in view.image.metadata.items() if k in ("units", "window", "SeriesDescription")}
        meta["derived_from"] = view.image.name
        meta["derivation"] = f"masked by segment {name!r} ({'inside' if self.params.blank_inside else 'outside'}"
        meta["derivation"] += f" set to {fill})"
        return ImageVolume(out, view.image.geometry, view.image.modality, f"{view.image.name} masked ({name})", meta)

    def apply(self, view: ViewState, **kwargs: Any) -> ImageVolume:  # type: ignore[override]
        """Create the masked volume, emit ``volume_created`` and return it."""
        volume = self.compute_volume(view)
        self.volume_created.emit(volume)
        return volume
