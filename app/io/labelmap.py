"""Read a labelmap file as a :class:`~app.model.labels.LabelVolume` on a reference image's grid.

Used by ``medws view IMAGE --labels LABELMAP`` to open a segmentation next to its image. A
labelmap on a different but overlapping grid is resampled with nearest neighbour (the same rule as
``medws export --image --labels``); one that cannot be placed raises a one-line
:class:`~app.io.errors.MedwsIOError`. Any thread may call :func:`read_labelmap`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from analysis._task import NULL_CONTEXT, TaskContext
from app.io.errors import MedwsIOError
from app.model.geometry import Geometry
from app.model.labels import LabelVolume

__all__ = ["LabelmapFile", "place_labelmap", "read_labelmap", "read_labelmap_file"]

#: Labelled voxels allowed to fall outside the image before a resampled labelmap is refused.
MAX_OUTSIDE_FRACTION = 0.01


def _read_array(path: Path, ctx: TaskContext) -> tuple[np.ndarray, Geometry, object | None]:
    if path.name.lower().endswith(".seg.nrrd"):
        from app.io.seg_nrrd import read_seg_nrrd

        volume = read_seg_nrrd(path).to_label_volume()
        return volume.array, volume.geometry, volume.table
    from app.io.volume_files import read_volume

    volume = read_volume(path, ctx=ctx)
    array = volume.array
    if not np.issubdtype(array.dtype, np.integer) and not np.array_equal(array, np.rint(array)):
        raise MedwsIOError(path, "labelmap holds non-integer values (is it an image?)")
    lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
    if lo < 0 or hi > 65535:
        raise MedwsIOError(path, f"label values must be 0..65535, got {lo}..{hi}")
    dtype = np.uint16 if hi > 255 else np.uint8
    if array.dtype != dtype:
        array = array.astype(dtype)
    else:  # read_volume marks its array read-only (it may be ITK's own buffer); labels are edited
        try:
            array.flags.writeable = True
        except ValueError:
            array = array.copy()
    return array, volume.geometry, None


def _present_ids(array: np.ndarray) -> list[int]:
    """Non-zero label values in ``array`` (exact), cheaply: ids seen in a strided sample, plus an
    exact search for each id up to the maximum that the sample missed.

    A CT-sized labelmap with its ids all in the sample costs a ``max`` and a 1/61 sample (~5 ms);
    ``np.unique`` sorts, and a full ``np.bincount`` widens every voxel to int64 while holding the
    GIL (0.1 s alone, several times that while the window is being built on the GUI thread).
    """
    flat = array.reshape(-1)
    if not flat.size:
        return []
    hi = int(flat.max())
    if hi <= 0:
        return []
    found = {int(v) for v in np.flatnonzero(np.bincount(flat[::61], minlength=hi + 1))} - {0}
    missing = [k for k in range(1, hi + 1) if k not in found]
    if len(missing) > _MAX_SEARCHED_IDS:  # sparse ids (e.g. 1000, 2000): count them all
        return _counted_ids(flat, hi)
    found.update(k for k in missing if _contains(flat, k))
    return sorted(found)


_MAX_SEARCHED_IDS = 16
_CHUNK = 1 << 22


def _contains(flat: np.ndarray, value: int) -> bool:
    """True when ``value`` occurs in ``flat``; chunked compare-and-any (GIL released), stops at the first hit."""
    hit = np.empty(min(_CHUNK, flat.size), bool)
    for start in range(0, flat.size, _CHUNK):
        part = flat[start:start + _CHUNK]
        if np.equal(part, value, out=hit[:part.size]).any():
            return True
    return False


def _counted_ids(flat: np.ndarray, hi: int) -> list[int]:
    counts = np.zeros(hi + 1, np.int64)
    for start in range(0, flat.size, 1 << 20):
        counts += np.bincount(flat[start:start + (1 << 20)], minlength=counts.size)
    return [int(v) for v in np.flatnonzero(counts) if v]


def read_labelmap(path: str | os.PathLike[str], reference: Geometry, *,
                  ctx: TaskContext = NULL_CONTEXT) -> LabelVolume:
    """Read ``path`` onto the ``reference`` grid: :func:`read_labelmap_file` then :func:`place_labelmap`."""
    return place_labelmap(read_labelmap_file(path, ctx=ctx), reference)


class LabelmapFile:
    """A labelmap as read from its file, before it is placed on an image grid (see :func:`place_labelmap`)."""

    def __init__(self, path: Path, array: np.ndarray, geometry: Geometry, table: object | None) -> None:
        self.path, self.array, self.geometry, self.table = path, array, geometry, table
        # the label values present, for a default table: found here, on the reading thread, so
        # that ``medws view`` does this pass while its image is still being read
        self.present_ids: list[int] | None = _present_ids(array) if table is None else None


def read_labelmap_file(path: str | os.PathLike[str], *, ctx: TaskContext = NULL_CONTEXT) -> LabelmapFile:
    """Read a labelmap file on its own grid (any thread; may run while its image is being read)."""
    path = Path(path)
    return LabelmapFile(path, *_read_array(path, ctx))


def place_labelmap(labelmap: LabelmapFile, reference: Geometry) -> LabelVolume:
    """Put a labelmap (NIfTI/NRRD/MHA or Slicer ``.seg.nrrd``) on the ``reference`` grid.

    Parameters
    ----------
    labelmap
        The file's labels (integer values 0..65535, 0 is background) and grid.
    reference
        Geometry of the image the labels belong to (LPS mm).

    Returns
    -------
    LabelVolume
        Named after the file, with its own label table (``.seg.nrrd``) or a default one.

    Raises
    ------
    MedwsIOError
        Unreadable, not integer, or on a grid that cannot be matched to ``reference``.
    """
    path, array, geometry, table = labelmap.path, labelmap.array, labelmap.geometry, labelmap.table
    if not geometry.same_grid(reference, tol_mm=1e-2):
        from app.io.export.inputs import resample_labels_nearest

        resampled, outside = resample_labels_nearest(array, geometry, reference)
        if outside > MAX_OUTSIDE_FRACTION or (array.any() and not resampled.any()):
            raise MedwsIOError(path, f"labelmap grid {geometry.shape_zyx} cannot be matched to the image "
                                     f"{reference.shape_zyx}: {outside:.0%} of labelled voxels fall outside it")
        array = resampled
        labelmap_ids = None
    else:
        labelmap_ids = labelmap.present_ids
    if table is None:
        from app.io.label_tables import default_label_table

        table = default_label_table(labelmap_ids if labelmap_ids is not None else _present_ids(array))
    name = path.name
    for suffix in (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return LabelVolume(reference, table, name=name or "labels", array=array)
