"""``LoadController``: open files, folders and samples in a background :class:`Job`.

The worker resolves each input (a path, or a sample name through ``app.io.samples``), reads it with
``app.io.loader.load_path`` (DICOM folders) or ``app.io.volume_files.read_volume`` (volume files,
which then never import the DICOM stack). An optional labelmap is read onto the first image's grid
(``medws view IMAGE --labels LABELMAP``). A middle-slice preview is handed to the GUI thread
as soon as the reader produces one; the images and one error line per failed input come back
when the job finishes. Stale results of a superseded load are dropped by generation number.

Uncompressed NIfTI images are mapped rather than read (:mod:`app.io.mapped_voxels`): their first
frames are drawn from the page cache, and a second job copies the voxels into memory right after
(``LoadController.detach_job``), so the viewer never depends on the file for long.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from analysis._task import Cancelled, TaskContext
from app.controllers.jobs import Job
from app.io.errors import MedwsIOError
from app.model.image import ImageVolume

if TYPE_CHECKING:
    from app.model.labels import LabelVolume

log = logging.getLogger(__name__)

SAMPLE_PREFIX = "sample:"
SERIES_PREFIX = "series:"


@dataclass
class LoadOutcome:
    """What one load produced: images in input order, segmentations, and one line per failure."""

    images: list[ImageVolume] = field(default_factory=list)
    segmentations: list[LabelVolume] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def resolve_input(spec: str, ctx: TaskContext | None = None) -> Path:
    """Return the path of ``spec``: an existing path, ``sample:NAME``, or a bare sample name.

    A missing sample is fetched first (may download; worker thread only), reporting to ``ctx``.
    """
    name = spec[len(SAMPLE_PREFIX):] if spec.startswith(SAMPLE_PREFIX) else None
    if name is None and os.path.exists(spec):
        return Path(spec)
    if name is None and (os.sep in spec or "." in Path(spec).name):
        raise MedwsIOError(spec, "no such file or folder")
    from app.io.samples import sample_path  # may not exist yet on old checkouts: ImportError

    if ctx is None:
        return Path(sample_path(name or spec))
    return Path(sample_path(name or spec, fetch=True, ctx=ctx))


def _read_one(path: Path, ctx: TaskContext, on_preview: Callable[[int, np.ndarray], None], *,
              map_files: bool = False) -> LoadOutcome:
    from app.io.volume_files import is_volume_file, read_volume

    if path.is_file() and is_volume_file(path):  # what load_path does for it, without the DICOM imports
        return LoadOutcome([read_volume(path, ctx=ctx, map_file=map_files)])
    from app.io.loader import load_path

    result = load_path(path, ctx=ctx, on_preview=on_preview)
    return LoadOutcome(list(result.images), [str(e) for e in result.errors])


def _read_indexed_series(series_uid: str, ctx: TaskContext,
                         on_preview: Callable[[int, np.ndarray], None]) -> LoadOutcome:
    """Read one series of the study index from the files the index lists for it."""
    from app.io.dicom_pixels import read_dicom_series
    from app.io.dicom_scan import scan_dicom
    from app.io.study_index import StudyIndex

    index = StudyIndex()
    try:
        files = index.instances(series_uid)
    finally:
        index.close()
    if not files:
        raise MedwsIOError(f"series {series_uid}", "not in the study index (re-import its folder)")
    half = TaskContext(lambda f, m: ctx.report(0.3 * f, m), ctx.is_cancelled)
    scan = scan_dicom(files, ctx=half)
    outcome = LoadOutcome(errors=[str(e) for e in scan.errors])
    for series in scan.series:
        rest = TaskContext(lambda f, m: ctx.report(0.3 + 0.7 * f, m), ctx.is_cancelled)
        outcome.images.append(read_dicom_series(series, ctx=rest, on_preview=on_preview))
    return outcome


def load_inputs(specs: Sequence[str], *, ctx: TaskContext,
                on_preview: Callable[[int, np.ndarray], None] | None = None,
                labels: str | None = None, map_files: bool = False) -> LoadOutcome:
    """Read every input in ``specs``; worker thread (no Qt, no VTK).

    Parameters
    ----------
    specs
        Paths (files or folders), sample names (``sample:lung1`` or ``lung1``) or series of the
        study index (``series:UID``).
    ctx
        Progress and cancel.
    on_preview
        Called as ``on_preview(z, slice_yx)`` with a middle slice while reading (any thread).
    labels
        A labelmap file to open as a segmentation of the first image (resampled onto its grid).
    map_files
        Map the voxels of uncompressed NIfTI images instead of reading them (never the labelmap,
        which is edited); the caller must then call :func:`detach_images` (see
        :mod:`app.io.mapped_voxels`).
    """
    outcome = LoadOutcome()
    n = max(1, len(specs))
    for i, spec in enumerate(specs):
        ctx.step(i / n, f"opening {Path(spec).name}")
        sub = TaskContext(lambda f, m, i=i: ctx.report((i + f) / n, m), ctx.is_cancelled)
        preview = on_preview or (lambda z, a: None)
        try:
            if spec.startswith(SERIES_PREFIX):
                one = _read_indexed_series(spec[len(SERIES_PREFIX):], sub, preview)
            else:
                one = _read_one(resolve_input(spec, sub), sub, preview, map_files=map_files)
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the user, one line per input
            message = " ".join(str(exc).split()) or type(exc).__name__
            outcome.errors.append(message if str(spec) in message else f"{spec}: {message}")
            continue
        outcome.images.extend(one.images)
        outcome.errors.extend(one.errors)
    if labels:
        # after the images, in this thread: a second reader thread beside the image reader and the GUI
        # thread building the window (2 cores) made fast start slower (first frame, 8 alternated pairs after
        # a napari run each: median 543 vs 528 ms read one after the other; with bench/viewer.py's own
        # child, 576 vs 543 ms)
        from app.io.labelmap import place_labelmap, read_labelmap_file

        try:
            labelmap = read_labelmap_file(labels)
            if not outcome.images:
                raise MedwsIOError(labels, "no image to put the labels on")
            outcome.segmentations.append(place_labelmap(labelmap, outcome.images[0].geometry))
        except Exception as exc:  # noqa: BLE001 - one line to the user
            message = " ".join(str(exc).split()) or type(exc).__name__
            outcome.errors.append(message if labels in message else f"{labels}: {message}")
    ctx.step(1.0, "done")
    return outcome


def detach_images(images: Sequence[ImageVolume], *, ctx: TaskContext) -> None:
    """Move mapped image voxels into the process's memory (:func:`detach_from_file`); worker thread.

    An image the kernel cannot copy stays mapped (logged).
    """
    from app.io.mapped_voxels import detach_from_file

    for image in images:
        ctx.check()
        try:
            detach_from_file(image.array)
        except OSError as exc:
            log.warning("%s stays mapped from its file: %s", image.name, exc)


class LoadController(QObject):
    """Runs loads one at a time and reports on the GUI thread.

    Signals
    -------
    started(str), progress(float, str), preview(int, np.ndarray), loaded(LoadOutcome),
    cancelled(), finished()
        ``finished`` follows every load however it ended. ``loaded`` also carries failures
        (``outcome.errors``); a crash of the loader itself arrives as an outcome with one error.
    """

    started = Signal(str)
    progress = Signal(float, str)
    preview = Signal(int, object)
    loaded = Signal(object)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job: Job | None = None
        self.detach_job: Job | None = None  # the latest copy of mapped voxels into memory
        self.specs: list[str] = []  # what the latest load opens
        self._generation = 0

    @property
    def busy(self) -> bool:
        """True while a load runs."""
        return self.job is not None

    def load(self, specs: Sequence[str], labels: str | None = None) -> Job:
        """Start loading ``specs`` (and ``labels``, a labelmap of the first image); cancels a running load."""
        self.cancel()
        self._generation += 1
        gen = self._generation
        self.specs = list(specs)
        holder: list[Job] = []

        def on_preview(z: int, slice_yx: np.ndarray) -> None:  # worker thread
            holder[0].emit_partial((z, slice_yx))

        job = Job(load_inputs, list(specs), on_preview=on_preview, labels=labels, map_files=True)
        holder.append(job)
        job.signals.progress.connect(lambda f, m: self._relay(gen, self.progress.emit, f, m))
        job.signals.partial.connect(lambda zv: self._relay(gen, self.preview.emit, *zv))
        job.signals.finished.connect(lambda out: self._loaded(gen, out))
        job.signals.failed.connect(
            lambda exc: self._done(gen, self.loaded.emit, LoadOutcome(errors=[f"{type(exc).__name__}: {exc}"])))
        job.signals.cancelled.connect(lambda: self._done(gen, self.cancelled.emit))
        self.job = job
        self.started.emit(", ".join(Path(s).name for s in specs))
        return job.start()

    def _relay(self, gen: int, emit: Callable[..., Any], *args: Any) -> None:
        if gen == self._generation:
            emit(*args)

    def _loaded(self, gen: int, outcome: LoadOutcome) -> None:
        if gen != self._generation:
            return
        self._done(gen, self.loaded.emit, outcome)
        # the images were mapped, not read: the frames their ``loaded`` listeners asked for are drawn
        # from the page cache first (render timers started during the emit run before this zero
        # timer), then the voxels are copied into memory on a worker thread
        QTimer.singleShot(0, lambda: self._detach(outcome.images))

    def _detach(self, images: list[ImageVolume]) -> None:
        from app.io.mapped_voxels import is_file_mapped

        mapped = [image for image in images if is_file_mapped(image.array)]
        if mapped:
            self.detach_job = Job(detach_images, mapped)
            self.detach_job.start()

    def _done(self, gen: int, emit: Callable[..., Any], *args: Any) -> None:
        if gen != self._generation:
            return
        self.job = None
        emit(*args)
        self.finished.emit()

    def cancel(self) -> None:
        """Ask the running load to stop; its results will be dropped."""
        if self.job is not None:
            self.job.cancel()
            self._generation += 1
            self.job = None
            self.cancelled.emit()
            self.finished.emit()
