"""Read-only image volumes (CT, MR, derived) with their geometry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.model.geometry import Geometry


@dataclass(frozen=True, eq=False)
class ImageVolume:
    """One image series as a read-only ``(z, y, x)`` array in physical units.

    Invariants
    ----------
    * ``array.shape == geometry.shape_zyx`` and ``array.flags.writeable`` is False.
    * Rescale slope/intercept are already applied. The dtype is the smallest that holds the
      rescaled values exactly: int16 CT stays int16 (never a float64 copy); non-integer slopes
      give float32.
    * Any thread may read; nobody writes. Derived volumes are new ``ImageVolume`` objects.

    Parameters
    ----------
    array
        Voxel values, ``(z, y, x)``. Shared, not copied.
    geometry
        Grid placement in LPS mm.
    modality
        DICOM modality ("CT", "MR", ...) or "OT" when unknown.
    name
        Human-readable series name (no patient identifiers).
    metadata
        Non-identifying descriptive tags (series UID, description, window presets from the header,
        units, warnings). Never put patient name/ID/birth date here.
    """

    array: np.ndarray
    geometry: Geometry
    modality: str = "OT"
    name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"ImageVolume needs a 3-D array, got shape {self.array.shape}")
        if tuple(self.array.shape) != self.geometry.shape_zyx:
            raise ValueError(f"array shape {self.array.shape} != geometry {self.geometry.shape_zyx}")
        self.array.flags.writeable = False

    @property
    def dtype(self) -> np.dtype:
        """Voxel dtype."""
        return self.array.dtype

    @property
    def units(self) -> str:
        """Physical units of the voxel values ("HU" for CT, else from metadata or "")."""
        return str(self.metadata.get("units", "HU" if self.modality == "CT" else ""))

    def value_range(self) -> tuple[float, float]:
        """Return (min, max) voxel value."""
        return float(self.array.min()), float(self.array.max())

    def default_window(self) -> tuple[float, float]:
        """Return (width, level): from the DICOM header when present, else the 0.1–99.9 percentiles.

        The percentile path follows 3D Slicer's default display; it samples at most ~1M voxels.
        """
        header = self.metadata.get("window")
        if header:
            width, level = header
            if width > 0:
                return float(width), float(level)
        flat = self.array.reshape(-1)
        step = max(1, flat.size // 1_000_000)
        lo, hi = np.percentile(flat[::step], [0.1, 99.9])
        width = max(float(hi - lo), 1.0)
        return width, float(lo + width / 2)
