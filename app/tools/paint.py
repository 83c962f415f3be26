"""Paint and erase: a 2D disc in the view plane or a 3D sphere, radius in mm, gap-free strokes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from psygnal import evented

from analysis._brush import kernel_half_widths, sphere_kernel, stamp, stroke_points
from app.tools.base import ZYX, Tool, ViewState, register_tool


@evented
@dataclass
class PaintParams:
    """Brush options. ``radius_mm`` is physical, so the brush stays round on anisotropic grids.

    The editable intensity range of :class:`~app.model.masking.EditOptions` gives
    threshold-limited painting.
    """

    radius_mm: float = field(default=5.0, metadata={"label": "Radius", "min": 0.1, "max": 200.0, "units": "mm"})
    sphere: bool = field(default=False, metadata={"label": "Sphere brush (3D)"})


@register_tool
class PaintTool(Tool):
    """Paint the active segment along a stroke; one stroke (press → release) is one undo step."""

    id = "paint"
    title = "Paint"
    shortcut = "1"
    Params = PaintParams
    erase = False

    def __init__(self, params: PaintParams | None = None) -> None:
        super().__init__(params)
        self._last_zyx: ZYX | None = None
        self._trivial = False
        self._kernel_key: tuple | None = None
        self._kernel_cache: tuple[np.ndarray, tuple[int, int, int]] | None = None

    def _kernel(self, view: ViewState) -> tuple[np.ndarray, tuple[int, int, int]]:
        """Return the brush footprint and its half-widths, cached for the current settings."""
        plane = None if self.params.sphere else view.axis
        key = (self.params.radius_mm, view.spacing_zyx_mm, plane)
        if key != self._kernel_key:
            kernel = sphere_kernel(self.params.radius_mm, view.spacing_zyx_mm, plane)
            self._kernel_cache = (kernel, kernel_half_widths(self.params.radius_mm, view.spacing_zyx_mm, plane))
            self._kernel_key = key
        return self._kernel_cache

    def _dab(self, view: ViewState, centres, kernel: np.ndarray | None = None) -> None:
        if kernel is None:
            kernel = self._kernel(view)[0]
        box, mask = stamp(centres, kernel)
        if self._trivial and not self.erase:  # no masking possible: skip it (hot path)
            view.labels.paint(box, mask, view.label_id)
            return
        if self.erase:
            erase_all = getattr(self.params, "all_segments", False)
            self.paint_masked(view, box, mask, 0, active=view.label_id,
                              only=None if erase_all else view.label_id)
        else:
            self.paint_masked(view, box, mask, view.label_id)

    def press(self, view: ViewState, zyx: ZYX) -> None:
        """Open the stroke's undo step and paint one dab at ``zyx``."""
        self._begin_transaction(view, coalesce=True)  # per-dab cost near the numpy floor
        # options and locks cannot change while the button is held (GUI thread only)
        self._trivial = view.options.is_trivial(view.labels.table)
        self._last_zyx = tuple(int(v) for v in zyx)  # type: ignore[assignment]
        self._dab(view, [self._last_zyx])

    def drag(self, view: ViewState, zyx: ZYX) -> None:
        """Paint dabs from the last point to ``zyx``, spaced so that they overlap (no gaps)."""
        if self._stroke is None or self._last_zyx is None:
            self.press(view, zyx)
            return
        zyx = tuple(int(v) for v in zyx)  # type: ignore[assignment]
        if zyx == self._last_zyx:
            return
        kernel, half = self._kernel(view)
        last = self._last_zyx
        if (abs(last[0] - zyx[0]) <= max(1.0, 0.5 * half[0]) and abs(last[1] - zyx[1]) <= max(1.0, 0.5 * half[1])
                and abs(last[2] - zyx[2]) <= max(1.0, 0.5 * half[2])):
            self._dab(view, (zyx,), kernel)  # the usual small move: one dab, no interpolation
        else:
            self._dab(view, stroke_points(last, zyx, half), kernel)
        self._last_zyx = zyx

    def release(self, view: ViewState, zyx: ZYX) -> None:
        """Finish the stroke (paint up to ``zyx``) and close its undo step."""
        if self._stroke is not None:
            self.drag(view, zyx)
        self._last_zyx = None
        self._end_transaction()
