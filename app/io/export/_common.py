"""Shared pieces of the exporters: the in-memory case record, options, filters and atomic output.

Exporters take in-memory model objects (:class:`ExportCase`), never session folders, so a session
loader, the GUI or the ``medws export`` command can all feed them. Every exporter writes into a
staging folder next to the final output; :func:`staged_output` renames it into place only when the
whole export succeeded, so a failure (read-only target, one bad case, cancel) leaves nothing
half-written. Any thread may call these functions.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis._task import TaskContext
from app.io.deid import Deidentifier, DeidOptions
from app.io.errors import MedwsIOError
from app.model.annotations import Box, Finding, Provenance
from app.model.image import ImageVolume
from app.model.labels import LabelTable, LabelVolume

__all__ = [
    "ExportCase",
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "ExportContext",
    "staged_output",
    "sub_context",
]

log = logging.getLogger(__name__)


class ExportError(MedwsIOError):
    """An export failed; ``case`` names the case (a PHI-free id) when one case was the cause."""

    def __init__(self, path: str | os.PathLike[str], reason: str, case: str | None = None) -> None:
        self.case = case
        super().__init__(path, f"case {case}: {reason}" if case else reason)


@dataclass
class ExportCase:
    """One study to export: an image and what was annotated on it.

    Parameters
    ----------
    case_id
        Name used in file names and JSON. Must not hold PHI; with anonymization it is replaced by
        ``case_0001``... anyway.
    image
        The reference image (read-only array, LPS geometry).
    labels
        Segmentation on ``image.geometry`` (same grid), or None.
    boxes, findings
        Box and Finding objects (any iterable: a BoxSet, a list...).
    source_files
        The image's DICOM instance files sorted by slice (``instances[k]`` is slice ``k``), or None
        when the image came from a volume file; the DICOM SEG references them.
    provenance
        Who/what made ``labels`` and its review status (algorithm type of the DICOM SEG).
    """

    case_id: str
    image: ImageVolume
    labels: LabelVolume | None = None
    boxes: Iterable[Box] = ()
    findings: Iterable[Finding] = ()
    source_files: Sequence[Path] | None = None
    provenance: Provenance | None = None


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how.

    Parameters
    ----------
    anonymize
        Apply :mod:`app.io.deid` to every DICOM object and replace case ids by ``case_NNNN``.
    deid
        De-identification choices (date handling, salt).
    mapping_path
        Where to write the private re-identification table; None writes none. It must lie outside
        the export folder.
    statuses
        Review statuses to keep (boxes, findings, and the segmentation via ``ExportCase.provenance``);
        None keeps all.
    label_ids
        Label ids to keep (others are erased from labelmaps and their boxes dropped); None keeps all.
    readers
        Keep annotations created or edited by these user names; None keeps all.
    window
        ``(width, level)`` for PNG slices (COCO); None uses each image's default window.
    segmentation_type
        DICOM SEG type: "BINARY" (default) or "LABELMAP".
    dataset_id, dataset_name
        nnU-Net ``DatasetXXX_Name``.
    channel_name
        nnU-Net channel 0 name (None: the image modality, "CT" selects CT normalisation).
    label_suffix
        File suffix of plain labelmaps (".nii.gz" or ".nrrd").
    overwrite
        Replace an existing non-empty output folder.
    surfaces, surface_space
        Also write one surface mesh per segment ("stl", "obj" or "ply"; None: none) under
        ``<case>/surfaces/``, in "LPS" or "RAS" (stated in each file).
    """

    anonymize: bool = False
    deid: DeidOptions = field(default_factory=DeidOptions)
    mapping_path: Path | None = None
    statuses: frozenset[str] | None = None
    label_ids: frozenset[int] | None = None
    readers: frozenset[str] | None = None
    window: tuple[float, float] | None = None
    segmentation_type: str = "BINARY"
    dataset_id: int = 1
    dataset_name: str = "MedWS"
    channel_name: str | None = None
    label_suffix: str = ".nii.gz"
    overwrite: bool = False
    surfaces: str | None = None
    surface_space: str = "LPS"


@dataclass
class ExportResult:
    """What an export wrote: the final folder, its files (relative paths) and warnings."""

    out: Path
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    n_cases: int = 0


@dataclass
class ExportContext:
    """Per-export state handed to a format writer: staging folder, options, de-identifier."""

    staging: Path
    options: ExportOptions
    deid: Deidentifier | None
    result: ExportResult
    state: dict = field(default_factory=dict)  # dataset-level state of the format (COCO, nnU-Net)

    def case_name(self, case: ExportCase) -> str:
        """Return the name to use for ``case`` in files and JSON (a pseudonym when anonymizing)."""
        return self.deid.case_id(case.case_id) if self.deid is not None else _safe_name(case.case_id)

    # ----------------------------------------------------------------------- filters
    def keep(self, provenance: Provenance | None) -> bool:
        """True when an annotation with ``provenance`` passes the status and reader filters."""
        opts = self.options
        if provenance is None:
            return opts.statuses is None and opts.readers is None
        if opts.statuses is not None and provenance.status not in opts.statuses:
            return False
        if opts.readers is not None and not {provenance.created_by, provenance.edited_by} & opts.readers:
            return False
        return True

    def boxes(self, case: ExportCase) -> list[Box]:
        """Boxes of ``case`` that pass every filter."""
        ids = self.options.label_ids
        return [b for b in case.boxes if self.keep(b.provenance) and (ids is None or b.label_id in ids)]

    def findings(self, case: ExportCase) -> list[Finding]:
        """Findings of ``case`` that pass the status and reader filters."""
        return [f for f in case.findings if self.keep(f.provenance)]

    def labels(self, case: ExportCase) -> tuple[np.ndarray, LabelTable] | None:
        """Return ``(array_zyx, table)`` of the case's labels after filtering, or None.

        The case's segmentation is dropped when its provenance fails the status/reader filters
        (a missing provenance passes: plain labelmaps carry none). Label ids outside ``label_ids``
        are erased. The array is a copy when filtered, else shared read-only.
        """
        if case.labels is None:
            return None
        if not case.labels.geometry.same_grid(case.image.geometry):
            raise ValueError("labels are not on the image grid (resample them first)")
        prov = case.provenance
        if prov is not None and not self.keep(prov):
            return None
        array, table = case.labels.array, case.labels.table
        ids = self.options.label_ids
        if ids is not None:
            array = np.where(np.isin(array, list(ids)), array, 0).astype(array.dtype)
            table = LabelTable([s for s in table if s.id in ids])
        else:
            array = array.view()
            array.flags.writeable = False
        return array, table

    def file(self, relative: str) -> Path:
        """Return the staging path of output file ``relative`` (parents created) and record it."""
        path = self.staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self.result.files.append(relative)
        return path


def _safe_name(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name)).strip("._")
    return keep or "case"


def sub_context(ctx: TaskContext, lo: float, hi: float) -> TaskContext:
    """Return a context that maps a sub-task's 0..1 progress into ``lo..hi`` of ``ctx``."""
    return TaskContext(
        report=lambda f, m: ctx.report(lo + (hi - lo) * max(0.0, min(1.0, f)), m), is_cancelled=ctx.is_cancelled
    )


@contextmanager
def staged_output(out: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh staging folder next to ``out``; rename it to ``out`` when the block succeeds.

    On any exception the staging folder is deleted and ``out`` is untouched. An existing non-empty
    ``out`` is an error unless ``overwrite`` (then it is replaced only after the new one is complete).
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise MedwsIOError(out, "output exists and is not empty (use overwrite)")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    except OSError as exc:
        raise MedwsIOError(out, f"cannot create output ({exc.strerror or exc})") from None
    try:
        yield staging
        try:
            _fsync_tree(staging)
            if out.exists():
                old = parent / f".{out.name}.old-{os.getpid()}"
                os.replace(out, old)
                os.replace(staging, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(staging, out)
        except OSError as exc:
            raise MedwsIOError(out, f"cannot move the export into place ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as fh:
                os.fsync(fh.fileno())
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
