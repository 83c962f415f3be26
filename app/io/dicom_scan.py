"""Scan files and folders for DICOM series, reading headers only.

``scan_dicom`` never reads pixel bytes: it records where each uncompressed frame lies in its file so
:func:`app.io.dicom_pixels.read_dicom_series` can copy it straight into the volume. Files that
fail come back as one-line :class:`~app.io.errors.DicomFileError` entries, so one bad file never
hides the good series next to it. Any thread may call :func:`scan_dicom`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from analysis._task import NULL_CONTEXT, TaskContext
from app.io._dicom_header import FileHeader, read_header
from app.io._dicom_records import DicomInstance, DicomScan, DicomSeries, NonImageObject, PixelFormat
from app.io._dicom_series import build_series
from app.io.errors import DicomFileError

__all__ = [
    "DicomInstance",
    "DicomScan",
    "DicomSeries",
    "NonImageObject",
    "PixelFormat",
    "iter_files",
    "scan_dicom",
]

log = logging.getLogger(__name__)

_STEP_EVERY = 16


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Yield the files named by ``paths``, walking folders recursively in sorted order.

    Hidden entries (names starting with ".") inside folders are skipped: they are temporary files
    of atomic writers or macOS resource forks, never DICOM instances.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(root) / name
        else:
            yield path


def scan_dicom(paths: Iterable[str | os.PathLike[str]], *, ctx: TaskContext = NULL_CONTEXT) -> DicomScan:
    """Read the headers of DICOM files and group their frames into series.

    Parameters
    ----------
    paths
        Files and/or folders (searched recursively).
    ctx
        Progress (fraction of files scanned) and cancellation; :class:`~analysis._task.Cancelled`
        propagates.

    Returns
    -------
    DicomScan
        Image series (sorted by series number), non-image objects (SR, SEG, RTSTRUCT, KO, PR,
        DICOMDIR...) and one :class:`DicomFileError` per file that could not be used.
    """
    files = list(iter_files(paths))
    scan = DicomScan()
    headers: list[FileHeader] = []
    total = max(1, len(files))
    ctx.step(0.0, f"Scanning {len(files)} files")
    for n, path in enumerate(files):
        if n % _STEP_EVERY == 0 and n:
            ctx.step(n / total, f"Scanning DICOM headers ({n}/{len(files)})")
        try:
            record = read_header(path)
        except DicomFileError as exc:
            scan.errors.append(exc)
            continue
        if isinstance(record, NonImageObject):
            scan.non_image.append(record)
        else:
            headers.append(record)
    scan.series = build_series(headers)
    ctx.step(1.0, f"Found {len(scan.series)} series")
    log.debug(
        "scanned %d files: %d series, %d non-image, %d errors",
        len(files),
        len(scan.series),
        len(scan.non_image),
        len(scan.errors),
    )
    return scan
