"""Read the pixels of a scanned DICOM series into one read-only :class:`ImageVolume`.

Speed and memory come from writing every frame straight into its place in a single volume buffer:

* Uncompressed little-endian frames are copied from their known file offset (found by the header
  scan) with ``os.preadv`` on a few threads; file I/O releases the GIL.
* Compressed, big-endian or deflated frames are decoded by pydicom. Decoding holds the GIL, so large
  series are decoded in worker processes (``forkserver``: safe while a Qt GUI runs threads) that
  write into a ``/dev/shm`` file the parent maps as the result array — no extra copy. The file is
  unlinked before this function returns, also on cancel or error.
* Integer rescale is applied in place in the stored 16-bit buffer when the result fits, so a
  typical CT comes out as int16 without a second full-size array.

Any thread may call :func:`read_dicom_series`.
"""

from __future__ import annotations

import dataclasses
import logging
import mmap
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np

from analysis._task import NULL_CONTEXT, TaskContext
from app.io._dicom_decode import FLOAT, STORED, BufferPlan, PlaneTask, fill_plane, fill_planes_shared, rescale_wrapping
from app.io._dicom_records import DicomInstance, DicomSeries
from app.io.errors import DicomFileError
from app.model.image import ImageVolume

__all__ = ["read_dicom_series", "output_dtype"]

log = logging.getLogger(__name__)

#: Decode in worker processes only when there is at least this much compressed data (voxels).
_PROCESS_MIN_VOXELS = 4 * 512 * 512
_CHUNK = 4
#: More decoder processes cost start-up time and memory for little gain.
_MAX_PROCESSES = 8
_SHM_DIR = "/dev/shm"
_INT_CANDIDATES = {
    1: ("uint8", "int8", "int16", "int32"),
    2: ("int16", "uint16", "int32"),
    4: ("int32", "uint32", "int64"),
}


@dataclass(frozen=True)
class _Plan:
    buffer: BufferPlan
    target_dtype: np.dtype  # dtype of the result (in-place rescale case) or None-like for later choice
    decided: bool  # True when target_dtype is known before reading
    slope: float
    intercept: float


def _stored_range(instances: list[DicomInstance]) -> tuple[int, int]:
    """Widest stored value range that BitsStored/PixelRepresentation allow over ``instances``."""
    lo, hi = 0, 0
    for fmt in {inst.pixel_format for inst in instances}:
        bits = min(max(fmt.bits_stored, 1), max(fmt.bits_allocated, 1))
        if fmt.pixel_representation:
            lo, hi = min(lo, -(1 << (bits - 1))), max(hi, (1 << (bits - 1)) - 1)
        else:
            hi = max(hi, (1 << bits) - 1)
    return lo, hi


def _smallest_int(lo: float, hi: float, itemsize: int) -> np.dtype | None:
    for name in _INT_CANDIDATES.get(itemsize, ("int32", "int64")):
        info = np.iinfo(name)
        if info.min <= lo and hi <= info.max:
            return np.dtype(name)
    return None


def output_dtype(series: DicomSeries) -> np.dtype:
    """Return the result dtype predicted from the headers alone (no pixels read).

    The actual result can be narrower when the stored range is wider than the values (e.g. 16-bit
    unsigned storage with a -1024 intercept holding only CT values gives int16).
    """
    plan = _make_plan(series)
    return plan.target_dtype


def _make_plan(series: DicomSeries) -> _Plan:
    instances = series.instances
    rescales = {(inst.rescale_slope, inst.rescale_intercept) for inst in instances}
    formats = {inst.pixel_format.stored_dtype for inst in instances}
    shape = series.geometry.shape_zyx
    (slope, intercept) = next(iter(rescales))
    integer = (
        len(rescales) == 1
        and len(formats) == 1
        and float(slope).is_integer()
        and float(intercept).is_integer()
        and slope != 0
    )
    if not integer:
        return _Plan(BufferPlan(FLOAT, "float32", shape), np.dtype("float32"), True, slope, intercept)
    stored = np.dtype(next(iter(formats)))
    lo, hi = _stored_range(instances)
    out_lo, out_hi = sorted((lo * slope + intercept, hi * slope + intercept))
    target = _smallest_int(out_lo, out_hi, stored.itemsize)
    if target is not None and target.itemsize == stored.itemsize:
        buffer = BufferPlan(STORED, stored.str, shape, rescale_in_place=(slope, intercept) != (1, 0))
        return _Plan(buffer, target, True, slope, intercept)
    # Decide after reading, from the actual value range.
    guess = target or np.dtype("int64")
    return _Plan(BufferPlan(STORED, stored.str, shape), guess, False, slope, intercept)


def _tasks(series: DicomSeries) -> list[PlaneTask]:
    return [
        PlaneTask(
            index_z=inst.index_z,
            path=inst.path,
            frame_index=inst.frame_index,
            n_frames=inst.n_frames,
            pixel_offset=inst.pixel_offset if inst.pixel_format.is_raw_little_endian else None,
            stored_dtype=inst.pixel_format.stored_dtype,
            bits_stored=inst.pixel_format.bits_stored,
            rows=inst.rows,
            columns=inst.columns,
            slope=inst.rescale_slope,
            intercept=inst.rescale_intercept,
            transfer_syntax=inst.pixel_format.transfer_syntax,
        )
        for inst in series.instances
    ]


class _SharedBuffer:
    """A volume buffer backed by a file in /dev/shm that worker processes can map.

    The parent keeps the mapping (the result array shares it); :meth:`unlink` removes the name so
    nothing is left behind, whatever happens next.
    """

    def __init__(self, plan: BufferPlan) -> None:
        nbytes = int(np.prod(plan.shape_zyx)) * np.dtype(plan.buffer_dtype).itemsize
        fd, self.path = tempfile.mkstemp(prefix=f"medws-volume-{os.getpid()}-", dir=_SHM_DIR)
        try:
            os.ftruncate(fd, nbytes)
            self._mmap = mmap.mmap(fd, nbytes)
        except BaseException:
            os.close(fd)
            self.unlink()
            raise
        os.close(fd)
        self.array = np.frombuffer(self._mmap, dtype=plan.buffer_dtype).reshape(plan.shape_zyx)

    def unlink(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _shm_has_room(nbytes: int) -> bool:
    """True when /dev/shm can hold ``nbytes`` with room to spare.

    Containers often mount a 64 MB /dev/shm; writing past its end kills the writer with SIGBUS,
    so a volume that does not fit is decoded on threads instead.
    """
    try:
        stat = os.statvfs(_SHM_DIR)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize > nbytes + (64 << 20)


def _allocate(shape_zyx: tuple[int, int, int], dtype: str) -> np.ndarray:
    """Return an uninitialised array in anonymous memory backed by huge pages where possible.

    Touching 150 MB of fresh 4 KiB pages costs ~40k page faults (about as long as reading the
    pixels from the page cache); with transparent huge pages in ``madvise`` mode, 2 MiB pages cut
    that to a few hundred.
    """
    nbytes = max(1, int(np.prod(shape_zyx)) * np.dtype(dtype).itemsize)
    try:
        memory = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, AttributeError, ValueError):
        return np.empty(shape_zyx, dtype)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            memory.madvise(mmap.MADV_HUGEPAGE)
        except OSError:
            pass
    return np.frombuffer(memory, dtype=dtype, count=int(np.prod(shape_zyx))).reshape(shape_zyx)


def _process_pool(n_workers: int) -> ProcessPoolExecutor:
    mp = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload(["app.io._dicom_decode", "pydicom.pixels"])
    return ProcessPoolExecutor(max_workers=n_workers, mp_context=mp)


def read_dicom_series(
    series: DicomSeries,
    *,
    ctx: TaskContext = NULL_CONTEXT,
    on_preview: Callable[[int, np.ndarray], None] | None = None,
    workers: int | None = None,
) -> ImageVolume:
    """Read a scanned series into a read-only volume in physical units.

    Parameters
    ----------
    series
        From :func:`app.io.dicom_scan.scan_dicom`.
    ctx
        Progress (fraction of frames read) and cancellation. On cancel,
        :class:`~analysis._task.Cancelled` is raised after the workers stop; no file is left in
        /dev/shm.
    on_preview
        Called once, on the calling thread, as ``on_preview(index_z, slice_yx)`` with the middle
        slice in physical units before the other slices are read (the GUI shows it immediately).
    workers
        Reader threads / decoder processes (default: CPU count; 1 reads everything in this thread).

    Returns
    -------
    ImageVolume
        Rescale applied; int16 for typical CT (smallest exact integer type), float32 when the slope
        is non-integer or the rescale differs between slices. Missing slices (see the series
        warnings) hold the minimum value.

    Raises
    ------
    DicomFileError
        A frame could not be read or decoded.
    Cancelled
        ``ctx`` asked to stop.
    """
    plan = _make_plan(series)
    tasks = _tasks(series)
    has_gaps = series.geometry.shape_zyx[0] > len(tasks)
    if plan.decided and not has_gaps:  # skip two passes over every slice
        plan = dataclasses.replace(plan, buffer=dataclasses.replace(plan.buffer, collect_stats=False))
    n_workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
    decode = [t for t in tasks if t.pixel_offset is None]
    rows, columns = series.geometry.shape_zyx[1:]
    use_processes = (
        n_workers > 1
        and len(decode) * rows * columns >= _PROCESS_MIN_VOXELS
        and len(decode) > 2
        and _shm_has_room(int(np.prod(plan.buffer.shape_zyx)) * np.dtype(plan.buffer.buffer_dtype).itemsize)
    )
    shared = _SharedBuffer(plan.buffer) if use_processes else None
    try:
        buffer = shared.array if shared else _allocate(plan.buffer.shape_zyx, plan.buffer.buffer_dtype)
        stats: dict[int, tuple[float, float]] = {}
        ctx.step(0.0, f"Reading {len(tasks)} slices")
        middle = tasks[len(tasks) // 2]
        stats[middle.index_z] = fill_plane(middle, buffer, plan.buffer)
        if on_preview is not None:
            on_preview(middle.index_z, _physical_slice(buffer[middle.index_z], plan))
        rest = [t for t in tasks if t is not middle]
        _fill_all(rest, buffer, plan.buffer, stats, ctx, n_workers, shared)
    finally:
        if shared is not None:
            shared.unlink()
    array = _finish(buffer, plan, stats, series)
    return ImageVolume(
        array, series.geometry, modality=series.modality, name=_name(series), metadata=_metadata(series, array)
    )


def _fill_all(
    tasks: list[PlaneTask],
    buffer: np.ndarray,
    plan: BufferPlan,
    stats: dict[int, tuple[float, float]],
    ctx: TaskContext,
    n_workers: int,
    shared: _SharedBuffer | None,
) -> None:
    total = len(tasks) + 1
    raw = [t for t in tasks if t.pixel_offset is not None]
    decode = [t for t in tasks if t.pixel_offset is None]
    stop = threading.Event()

    def run_chunk(chunk: Sequence[PlaneTask]) -> list[tuple[int, float, float]]:
        out = []
        for task in chunk:
            if stop.is_set():
                break
            out.append((task.index_z, *fill_plane(task, buffer, plan)))
        return out

    if n_workers == 1:
        for n, task in enumerate(tasks):
            if n % _CHUNK == 0:
                ctx.step((n + 1) / total, "Reading slices")
            stats[task.index_z] = fill_plane(task, buffer, plan)
        return
    futures: list[Future] = []
    executors: list[Executor] = []
    try:
        threaded = raw + decode
        if decode and shared is not None:
            try:
                pool = _process_pool(min(n_workers, _MAX_PROCESSES, max(1, len(decode) // _CHUNK)))
                executors.append(pool)
                futures += [
                    pool.submit(fill_planes_shared, decode[i : i + _CHUNK], shared.path, plan)
                    for i in range(0, len(decode), _CHUNK)
                ]
                threaded = raw
            except (OSError, BrokenProcessPool) as exc:  # no processes here: decode on threads
                log.warning("decoder processes unavailable (%s); decoding on threads", exc)
                for future in futures:
                    future.cancel()
                futures = []
        if threaded:
            threads = ThreadPoolExecutor(max_workers=min(n_workers, 4), thread_name_prefix="medws-dicom")
            executors.append(threads)
            chunk = max(1, min(16, len(threaded) // (4 * n_workers) or 1))
            futures += [threads.submit(run_chunk, threaded[i : i + chunk]) for i in range(0, len(threaded), chunk)]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.05, return_when="FIRST_COMPLETED")
            for future in done:
                for index_z, lo, hi in _result(future, tasks):
                    stats[index_z] = (lo, hi)
            ctx.step((len(stats)) / total, "Reading slices")
    except BaseException:
        stop.set()
        for future in futures:
            future.cancel()
        raise
    finally:
        for executor in executors:
            executor.shutdown(wait=True, cancel_futures=True)


def _result(future: Future, tasks: list[PlaneTask]) -> list[tuple[int, float, float]]:
    try:
        rows = future.result()
    except BrokenProcessPool:
        raise DicomFileError(tasks[0].path.parent, "a pixel decoder process crashed") from None
    if rows and rows[0][0] == "error":
        raise DicomFileError(rows[0][1], rows[0][2])
    return rows


def _physical_slice(plane: np.ndarray, plan: _Plan) -> np.ndarray:
    if plan.buffer.mode == FLOAT:
        return plane.copy()
    if plan.decided:
        return plane.view(plan.target_dtype).copy()
    return (plane.astype(np.float64) * plan.slope + plan.intercept).astype(np.float32)


def _finish(buffer: np.ndarray, plan: _Plan, stats: dict[int, tuple[float, float]], series: DicomSeries) -> np.ndarray:
    missing = sorted(set(range(buffer.shape[0])) - set(stats))
    if plan.buffer.collect_stats:
        lo = min(s[0] for s in stats.values())
        hi = max(s[1] for s in stats.values())
    if plan.buffer.mode == FLOAT:
        if missing:
            buffer[missing] = lo
        return buffer
    if plan.decided:
        result = buffer.view(plan.target_dtype)
        if missing:
            result[missing] = lo * plan.slope + plan.intercept
        return result
    out_lo, out_hi = sorted((lo * plan.slope + plan.intercept, hi * plan.slope + plan.intercept))
    target = _smallest_int(out_lo, out_hi, buffer.dtype.itemsize) or np.dtype("float64")
    if missing:
        buffer[missing] = lo
    if target.itemsize == buffer.dtype.itemsize:
        rescale_wrapping(buffer, plan.slope, plan.intercept)
        return buffer.view(target)
    result = buffer.astype(target)
    result *= target.type(plan.slope)
    result += target.type(plan.intercept)
    return result


def _name(series: DicomSeries) -> str:
    if series.series_description:
        return series.series_description
    number = series.series_number if series.series_number is not None else "?"
    return f"{series.modality} series {number}"


def _metadata(series: DicomSeries, array: np.ndarray) -> dict:
    meta = {
        "series_uid": series.series_uid,
        "study_uid": series.study_uid,
        "series_key": series.key,
        "series_number": series.series_number,
        "description": series.series_description,
        "study_description": series.study_description,
        "frame_of_reference_uid": series.frame_of_reference_uid,
        "sop_class_uid": series.sop_class_uid,
        "n_files": series.n_files,
        "warnings": list(series.warnings),
        # the folder holding the series' files: sessions use it to re-open the source images
        "source_path": os.path.commonpath([os.path.dirname(str(i.path)) for i in series.instances]),
    }
    if series.window is not None:
        meta["window"] = series.window
    if series.modality == "CT":
        meta["units"] = "HU"
    return meta
