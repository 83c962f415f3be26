"""``ViewerState``: what every view of the open image shares (image, linked cursor, window/level).

A plain psygnal model (no Qt, no VTK objects besides the opaque shared image handle) that viewports
subscribe to: input in one view becomes a call here, and every view follows the signals. GUI
thread only.

Window/level presets (keys 1–5, OHIF order and values, CONVENTIONS §4.3):

====  ============  =======  =======
key   preset        width    level
====  ============  =======  =======
1     soft tissue   400      40
2     lung          1500     −600
3     bone          2500     480
4     brain         80       40
5     mediastinum   350      50
====  ============  =======  =======
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal

if TYPE_CHECKING:
    from app.model.image import ImageVolume
    from render.image_data import VtkImage

#: key → (title, width, level) in HU.
WL_PRESETS: dict[str, tuple[str, float, float]] = {
    "1": ("Soft tissue", 400.0, 40.0),
    "2": ("Lung", 1500.0, -600.0),
    "3": ("Bone", 2500.0, 480.0),
    "4": ("Brain", 80.0, 40.0),
    "5": ("Mediastinum", 350.0, 50.0),
}


class ViewerState:
    """Shared display state of the viewports.

    Signals
    -------
    image_changed(VtkImage | None)
    cursor_changed(np.ndarray)
        The linked cursor in LPS mm.
    window_level_changed(float, float)
        (width, level) in image units.
    """

    image_changed = Signal(object)
    cursor_changed = Signal(object)
    window_level_changed = Signal(float, float)

    def __init__(self) -> None:
        self.image: VtkImage | None = None
        self.cursor_lps = np.zeros(3)
        self.window_level: tuple[float, float] = (400.0, 40.0)

    @property
    def volume(self) -> ImageVolume | None:
        """The displayed image volume."""
        return self.image.image if self.image is not None else None

    def set_image(self, image: VtkImage | None, window_level: tuple[float, float] | None = None) -> None:
        """Show ``image`` in every view, centred, with ``window_level`` (default: the image's)."""
        self.image = image
        if image is not None:
            geometry = image.image.geometry
            self.cursor_lps = geometry.index_zyx_to_lps(np.rint((np.array(geometry.shape_zyx) - 1) / 2))
        self.image_changed.emit(image)
        if image is not None:
            self.set_window_level(*(window_level or image.image.default_window()))

    def set_cursor(self, lps_mm: np.ndarray) -> None:
        """Move the linked cursor (all views show the slices through it)."""
        self.cursor_lps = np.asarray(lps_mm, dtype=float)
        self.cursor_changed.emit(self.cursor_lps)

    def set_window_level(self, width: float, level: float) -> None:
        """Set the grey-scale window of every slice view (width clamped to ≥ 1)."""
        self.window_level = (max(1.0, float(width)), float(level))
        self.window_level_changed.emit(*self.window_level)

    def apply_preset(self, key: str) -> bool:
        """Apply W/L preset ``key`` ("1"–"5"); False when unknown."""
        if key not in WL_PRESETS:
            return False
        _, width, level = WL_PRESETS[key]
        self.set_window_level(width, level)
        return True

    def probe(self, lps_mm: np.ndarray) -> tuple[tuple[int, int, int] | None, float | None]:
        """Return the nearest voxel ``zyx`` index and its value at ``lps_mm`` (None outside)."""
        volume = self.volume
        if volume is None:
            return None, None
        zyx_f = volume.geometry.lps_to_index_zyx(lps_mm)
        if not volume.geometry.contains_index_zyx(zyx_f):
            return None, None
        zyx = tuple(int(v) for v in np.rint(zyx_f))
        return zyx, float(volume.array[zyx])
