"""Fill slices of a volume buffer from DICOM frames (raw copy or pydicom decoding).

The same functions run on reader threads (writing into the parent's array) and in worker
processes (writing into the shared ``/dev/shm`` file that backs the parent's array), so this
module is kept light: numpy and pydicom only, imported by the forkserver once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.io.errors import DicomFileError

#: Buffer modes: "stored" keeps stored values (rescaled in place when ``rescale_in_place``),
#: "float" writes ``stored * slope + intercept`` as float32.
STORED, FLOAT = "stored", "float"
_NAN = float("nan")


@dataclass(frozen=True)
class PlaneTask:
    """One frame to place at slice ``index_z`` of the buffer."""

    index_z: int
    path: Path
    frame_index: int
    n_frames: int
    pixel_offset: int | None
    stored_dtype: str
    bits_stored: int
    rows: int
    columns: int
    slope: float
    intercept: float
    transfer_syntax: str = ""


#: Transfer syntaxes GDCM may retry when pylibjpeg fails: the JPEG family (baseline, extended,
#: lossless, JPEG-LS, JPEG 2000), where GDCM reads a few variants pylibjpeg rejects. Not RLE: on a
#: damaged RLE frame GDCM spends seconds before failing too, and pydicom's RLE decoder is complete.
_GDCM_RETRY_PREFIX = "1.2.840.10008.1.2.4."


@dataclass(frozen=True)
class BufferPlan:
    """How slices are written into the buffer (shared by every task of one read).

    ``rescale_in_place``: in "stored" mode, apply the (integer) rescale with wrap-around arithmetic in
    the buffer dtype right after reading; valid only when every rescaled value fits ``target_dtype``,
    which has the buffer's item size (the caller checks this from BitsStored).
    """

    mode: str
    buffer_dtype: str
    shape_zyx: tuple[int, int, int]
    rescale_in_place: bool = False
    collect_stats: bool = True  # min/max per slice: only needed to fill gaps or choose the dtype


def _fix_bits(plane: np.ndarray, bits_stored: int) -> None:
    """Mask unused high bits (unsigned) or sign-extend from ``bits_stored`` (signed), in place."""
    nbits = plane.dtype.itemsize * 8
    if bits_stored >= nbits or bits_stored <= 0:
        return
    if plane.dtype.kind == "u":
        np.bitwise_and(plane, plane.dtype.type((1 << bits_stored) - 1), out=plane)
    else:
        shift = plane.dtype.type(nbits - bits_stored)
        np.left_shift(plane, shift, out=plane)
        np.right_shift(plane, shift, out=plane)


def _read_raw(task: PlaneTask, dest: np.ndarray) -> None:
    view = memoryview(dest).cast("B")
    try:
        fd = os.open(task.path, os.O_RDONLY)
    except OSError as exc:
        raise DicomFileError(task.path, f"cannot read: {exc.strerror or exc}") from None
    try:
        done = 0
        while done < len(view):
            n = os.preadv(fd, [view[done:]], task.pixel_offset + done)
            if n <= 0:
                raise DicomFileError(task.path, "truncated: pixel data ends early")
            done += n
    except OSError as exc:
        raise DicomFileError(task.path, f"cannot read pixels: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _decode(task: PlaneTask) -> np.ndarray:
    import pydicom
    from pydicom.pixels import pixel_array

    index = task.frame_index if task.n_frames > 1 else None
    try:
        try:
            # From the path, pydicom reads only the frame asked for.
            arr = pixel_array(os.fspath(task.path), index=index)
        except AttributeError:
            # Deflated files must be inflated as a whole dataset first.
            arr = pixel_array(pydicom.dcmread(task.path), index=index)
    except BaseException as exc:  # decoders raise many types on corrupt data, some not Exceptions
        # (pylibjpeg-rle's Rust code raises pyo3's PanicException, a BaseException).
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        # GDCM reads a few JPEG variants pylibjpeg rejects; it rereads the whole file, so only try
        # it for single-frame JPEG-family files whose codec failed (not for broken encapsulation).
        retry = (
            isinstance(exc, RuntimeError)
            and task.n_frames == 1
            and task.transfer_syntax.startswith(_GDCM_RETRY_PREFIX)
        )
        arr = _decode_with_gdcm(task) if retry else None
        if arr is None:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
            raise DicomFileError(task.path, f"cannot decode pixel data ({reason})") from None
    if arr.shape != (task.rows, task.columns):
        raise DicomFileError(task.path, f"decoded frame has shape {arr.shape}, header says {(task.rows, task.columns)}")
    return arr


def _decode_with_gdcm(task: PlaneTask) -> np.ndarray | None:
    """Decode through SimpleITK's GDCM (it reads some JPEG files pylibjpeg rejects), or None.

    GDCM applies the rescale, so it is inverted here to get stored values back.
    """
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(os.fspath(task.path))
        values = sitk.GetArrayViewFromImage(image)
    except RuntimeError:
        return None
    if values.ndim == 3:
        if task.frame_index >= values.shape[0]:
            return None
        values = values[task.frame_index]
    if values.shape != (task.rows, task.columns):
        return None
    stored = np.rint((values.astype(np.float64) - task.intercept) / task.slope)
    return stored.astype(task.stored_dtype)


def fill_plane(task: PlaneTask, buffer: np.ndarray, plan: BufferPlan) -> tuple[float, float]:
    """Write one frame into ``buffer[task.index_z]``.

    Returns
    -------
    (min, max)
        Of the stored values ("stored" mode) or of the physical values ("float" mode).
    """
    plane = buffer[task.index_z]
    stored_dtype = np.dtype(task.stored_dtype)
    if plan.mode == STORED and task.pixel_offset is not None and stored_dtype == buffer.dtype:
        _read_raw(task, plane)
        stored = plane
    elif task.pixel_offset is not None:
        stored = np.empty((task.rows, task.columns), stored_dtype)
        _read_raw(task, stored)
    else:
        decoded = _decode(task)
        target = buffer.dtype if plan.mode == STORED else stored_dtype
        if decoded.dtype.itemsize > target.itemsize or decoded.dtype.kind not in "ui":
            decoded = decoded.astype(np.int64)
        stored = decoded.astype(target, copy=False)
    _fix_bits(stored, task.bits_stored)
    if plan.mode == STORED:
        if stored is not plane:
            plane[...] = stored
        lo, hi = (float(plane.min()), float(plane.max())) if plan.collect_stats else (_NAN, _NAN)
        if plan.rescale_in_place:
            rescale_wrapping(plane, task.slope, task.intercept)
        return lo, hi
    np.multiply(stored, np.float32(task.slope), out=plane, casting="unsafe")
    np.add(plane, np.float32(task.intercept), out=plane)
    return (float(plane.min()), float(plane.max())) if plan.collect_stats else (_NAN, _NAN)


def rescale_wrapping(values: np.ndarray, slope: float, intercept: float) -> None:
    """``values = values * slope + intercept`` in place, modulo the dtype's range (exact if it fits)."""
    if slope != 1:
        np.multiply(values, np.asarray(int(slope), dtype=np.int64).astype(values.dtype), out=values)
    if intercept != 0:
        np.add(values, np.asarray(int(intercept), dtype=np.int64).astype(values.dtype), out=values)


def fill_planes_shared(tasks: list[PlaneTask], shm_path: str, plan: BufferPlan) -> list[tuple]:
    """Worker-process entry: map the shared buffer file and fill ``tasks`` into it.

    Returns ``(index_z, min, max)`` per task, or a single ``("error", path, reason)`` entry: errors
    travel as plain tuples because :class:`DicomFileError` does not survive pickling.
    """
    buffer = np.memmap(shm_path, dtype=plan.buffer_dtype, mode="r+", shape=plan.shape_zyx)
    try:
        return [(task.index_z, *fill_plane(task, buffer, plan)) for task in tasks]
    except DicomFileError as exc:
        return [("error", exc.path, exc.reason)]
    finally:
        del buffer
