"""``ViewerState``: what every view of the open image shares (image, linked cursor, window/level,
slice-plane rotations).

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

Plane rotations (oblique MPR, as Slicer's Ctrl+Alt+drag of the slice intersections): each slice
view has a 3×3 LPS rotation (identity = its native index plane). Rotating the crosshair of one view
by θ turns the *other two* views' planes by θ about that view's normal, through the linked cursor;
the three planes stay mutually orthogonal. :meth:`ViewerState.reset_rotation` restores them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal

from render.orientation import SLICE_KINDS, ViewKind, is_rotated, rotation_lps, slice_axes
from ui.timers import at_turn_end, cancel_at_turn_end

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
    rotation_changed(dict)
        ``{ViewKind: 3×3 LPS rotation}`` of the three slice views' planes.
    """

    image_changed = Signal(object)
    cursor_changed = Signal(object)
    window_level_changed = Signal(float, float)
    rotation_changed = Signal(object)

    def __init__(self) -> None:
        self.image: VtkImage | None = None
        self.cursor_lps = np.zeros(3)
        self.window_level: tuple[float, float] = (400.0, 40.0)
        self.rotations: dict[ViewKind, np.ndarray] = {k: np.eye(3) for k in SLICE_KINDS}

    @property
    def volume(self) -> ImageVolume | None:
        """The displayed image volume."""
        return self.image.image if self.image is not None else None

    def set_image(self, image: VtkImage | None, window_level: tuple[float, float] | None = None) -> None:
        """Show ``image`` in every view, centred, with ``window_level`` (default: the image's)."""
        self.image = image
        self.rotations = {k: np.eye(3) for k in SLICE_KINDS}  # a new image opens axis-aligned
        if image is not None:
            geometry = image.image.geometry
            self.cursor_lps = geometry.index_zyx_to_lps(np.rint((np.array(geometry.shape_zyx) - 1) / 2))
        self.image_changed.emit(image)
        if image is not None:
            self.set_window_level(*(window_level or image.image.default_window()))

    def set_cursor(self, lps_mm: np.ndarray, *, after_frame: bool = False) -> None:
        """Move the linked cursor (all views show the slices through it). GUI thread.

        ``after_frame``: :attr:`cursor_lps` changes now, ``cursor_changed`` is emitted when control
        returns to the event loop, after the render that is already scheduled (a scrolled view: its
        frame comes first, the other views' crosshairs follow in the same turn). Several such moves
        before then are told once, with the last cursor; a plain ``set_cursor`` tells at once.
        """
        self.cursor_lps = np.asarray(lps_mm, dtype=float)
        if after_frame:
            at_turn_end(self._tell_cursor)
            return
        cancel_at_turn_end(self._tell_cursor)
        self.cursor_changed.emit_fast(self.cursor_lps)  # GUI thread; see SliceViewport._emit_slice

    def _tell_cursor(self) -> None:
        self.cursor_changed.emit_fast(self.cursor_lps)

    @property
    def rotated(self) -> bool:
        """True when any slice view shows an oblique (rotated) plane."""
        return any(is_rotated(r) for r in self.rotations.values())

    def view_normal_lps(self, kind: ViewKind) -> np.ndarray | None:
        """Unit view direction (plane normal, LPS) of slice view ``kind`` now, or None without an image."""
        volume = self.volume
        if volume is None:
            return None
        return self.rotations[kind] @ slice_axes(volume.geometry, kind).view_direction_lps

    def rotate_views(self, about: ViewKind, angle_rad: float) -> None:
        """Turn the crosshair of view ``about`` by ``angle_rad`` (counter-clockwise on its screen).

        The other two views' planes turn about ``about``'s plane normal through the linked cursor;
        ``about`` itself keeps its plane (its crosshair lines turn). No-op without an image.
        """
        normal = self.view_normal_lps(about)
        if normal is None or angle_rad == 0.0:
            return
        # the normal points away from the viewer; counter-clockwise on screen = about the axis toward the viewer
        turn = rotation_lps(-normal, float(angle_rad))
        for kind in SLICE_KINDS:
            if kind != about:
                self.rotations[kind] = turn @ self.rotations[kind]
        self.rotation_changed.emit(dict(self.rotations))

    def reset_rotation(self) -> None:
        """Show every slice view's native (axis-aligned) plane again."""
        if not self.rotated:
            return
        self.rotations = {k: np.eye(3) for k in SLICE_KINDS}
        self.rotation_changed.emit(dict(self.rotations))

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
