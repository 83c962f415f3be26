"""Edit masking like 3D Slicer's Segment Editor: editable area, intensity range, overwrite policy.

Every editing tool proposes ``(box, mask)`` in ``(z, y, x)`` voxel indices; :func:`restrict`
turns it into the voxels the user allows to change. Locked segments are never changed.
GUI thread only (reads the live label array).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
from psygnal import evented

if TYPE_CHECKING:
    from app.model.image import ImageVolume
    from app.model.labels import Box, LabelTable, LabelVolume


class EditableArea(StrEnum):
    """Where an edit may change voxels (Slicer: "Editable area")."""

    EVERYWHERE = "everywhere"
    INSIDE_SEGMENT = "inside_segment"  #: inside :attr:`EditOptions.area_segment`
    INSIDE_ALL = "inside_all"  #: inside any segment
    INSIDE_VISIBLE = "inside_visible"  #: inside any visible segment
    OUTSIDE_ALL = "outside_all"  #: background only
    OUTSIDE_VISIBLE = "outside_visible"  #: background or hidden segments


class Overwrite(StrEnum):
    """Which *other* segments an edit may overwrite (Slicer: "Modify other segments")."""

    ALL = "all"
    VISIBLE = "visible"
    NONE = "none"


@evented
@dataclass
class EditOptions:
    """Masking options shared by all tools (one instance per editor, not per tool).

    Invariant: ``intensity_min <= intensity_max`` when ``intensity_enabled``; intensities are in
    the image's physical units (HU for CT). Emits ``events.<field>`` on change (psygnal).
    """

    area: EditableArea = field(default=EditableArea.EVERYWHERE, metadata={"label": "Editable area"})
    area_segment: int = field(default=0, metadata={"label": "Area segment", "min": 0})
    intensity_enabled: bool = field(default=False, metadata={"label": "Editable intensity range"})
    intensity_min: float = field(default=-1000.0, metadata={"label": "Min", "units": "image"})
    intensity_max: float = field(default=3000.0, metadata={"label": "Max", "units": "image"})
    overwrite: Overwrite = field(default=Overwrite.ALL, metadata={"label": "Modify other segments"})

    def is_trivial(self, table: LabelTable) -> bool:
        """True when no option and no locked segment can remove a voxel (the fast path)."""
        return (self.area is EditableArea.EVERYWHERE and not self.intensity_enabled
                and self.overwrite is Overwrite.ALL and not any(s.locked for s in table))


def clip_box(box: Box, mask: np.ndarray | None,
             shape_zyx: tuple[int, ...]) -> tuple[Box, np.ndarray | None] | None:
    """Clip ``box`` (absolute voxel slices, maybe partly outside) and its mask to the volume.

    Returns ``(clipped_box, clipped_mask)`` or None when nothing of the box is inside.
    The mask is a view of the input when it is not None.
    """
    out, local = [], []
    for sl, n in zip(box, shape_zyx, strict=True):
        start, stop = max(int(sl.start), 0), min(int(sl.stop), n)
        if stop <= start:
            return None
        out.append(slice(start, stop))
        local.append(slice(start - int(sl.start), stop - int(sl.start)))
    return tuple(out), (None if mask is None else mask[tuple(local)])  # type: ignore[return-value]


def _ids(table: LabelTable, *, visible: bool | None = None, locked: bool | None = None) -> list[int]:
    return [s.id for s in table
            if (visible is None or s.visible == visible) and (locked is None or s.locked == locked)]


def allowed(region: np.ndarray, image_region: np.ndarray | None, mask: np.ndarray | None,
            value: int, active: int, table: LabelTable, options: EditOptions) -> np.ndarray:
    """Return the voxels of ``region`` that an edit writing ``value`` may change.

    Parameters
    ----------
    region
        Current labels of the (clipped) box.
    image_region
        Image values of the same box (physical units), or None when no image is loaded
        (the intensity range is then ignored).
    mask
        Proposed voxels (boolean, region shape) or None for the whole box.
    value
        Label written (0 erases).
    active
        The segment being edited (equals ``value`` when painting; the erased one when erasing).
        When it is locked nothing may change.
    table
        Segment visibility / lock flags.
    options
        Masking options.

    Notes
    -----
    Labels are one array, so the area segment of ``INSIDE_SEGMENT`` must be overwritable for the
    option to do anything: it is exempt from the overwrite policy (not from its lock).
    """
    out = np.ones(region.shape, bool) if mask is None else np.array(mask, dtype=bool, copy=True)
    if active in table and table[active].locked:
        out[...] = False
        return out
    area = options.area
    if area is EditableArea.INSIDE_SEGMENT:
        out &= region == options.area_segment
    elif area is EditableArea.INSIDE_ALL:
        out &= region != 0
    elif area is EditableArea.OUTSIDE_ALL:
        out &= region == 0
    elif area is EditableArea.INSIDE_VISIBLE:
        out &= np.isin(region, _ids(table, visible=True))
    elif area is EditableArea.OUTSIDE_VISIBLE:
        out &= ~np.isin(region, _ids(table, visible=True))
    if options.intensity_enabled and image_region is not None:
        out &= (image_region >= options.intensity_min) & (image_region <= options.intensity_max)
    keep = {0, int(value), int(active)}
    if area is EditableArea.INSIDE_SEGMENT:
        keep.add(int(options.area_segment))
    if options.overwrite is Overwrite.NONE:
        editable = list(keep)
        out &= np.isin(region, editable)
    else:
        protected = set(_ids(table, visible=False)) if options.overwrite is Overwrite.VISIBLE else set()
        protected -= keep
        protected |= set(_ids(table, locked=True))  # locked wins over everything
        if protected:
            out &= ~np.isin(region, sorted(protected))
    return out


def restrict(labels: LabelVolume, image: ImageVolume | None, box: Box, mask: np.ndarray | None,
             value: int, options: EditOptions, *,
             active: int | None = None) -> tuple[Box, np.ndarray | None] | None:
    """Turn a proposed edit into the allowed one: clip to the volume, then apply the masking.

    Parameters
    ----------
    labels, image
        The edited segmentation and its reference image (image may be None).
    box, mask
        Proposed ``(z, y, x)`` voxel box (may extend outside) and boolean mask of the box shape
        (None = whole box).
    value
        Label to write (0 erases).
    options
        Masking options.
    active
        Segment being edited; defaults to ``value``.

    Returns
    -------
    ``(box, mask)`` clipped to the volume, or None when nothing may change. On the fast path
    (trivial options) the mask is a view of the input, never a copy. GUI thread only.
    """
    clipped = clip_box(box, mask, labels.array.shape)
    if clipped is None:
        return None
    cbox, cmask = clipped
    active = int(value if active is None else active)
    if options.is_trivial(labels.table):
        return cbox, cmask
    image_region = None
    if image is not None and options.intensity_enabled:
        image_region = image.array[cbox]
    ok = allowed(labels.array[cbox], image_region, cmask, int(value), active, labels.table, options)
    if not ok.any():
        return None
    return cbox, ok
