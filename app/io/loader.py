"""Open whatever the user points at: a DICOM folder or file, or a volume file (NIfTI, NRRD, MHA).

One bad file never hides the good series next to it: every failure becomes a one-line
:class:`~app.io.errors.MedwsIOError` in :attr:`LoadResult.errors` and in the record of the series it
belongs to. Any thread may call these functions (the GUI calls them from a ``Job``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis._task import NULL_CONTEXT, TaskContext
from app.io.dicom_pixels import output_dtype, read_dicom_series
from app.io.dicom_scan import DicomScan, DicomSeries, NonImageObject, iter_files, scan_dicom
from app.io.errors import MedwsIOError, NoImageError
from app.model.geometry import Geometry
from app.model.image import ImageVolume

__all__ = ["LoadResult", "SeriesRecord", "info_records", "load_first_image", "load_path"]

log = logging.getLogger(__name__)

#: Share of the progress bar given to the header scan.
_SCAN_SHARE = 0.15


@dataclass
class SeriesRecord:
    """What ``medws info`` prints for one series (no patient tags).

    ``dtype`` is the result dtype (predicted from the headers by :func:`info_records`, which can be
    wider than the loaded one); None when the pixels could not be read.
    """

    series_uid: str
    series_key: str
    modality: str
    description: str
    geometry: Geometry
    dtype: str | None
    n_files: int
    source: str
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        geometry = self.geometry.to_dict()
        return {
            "series_uid": self.series_uid,
            "series_key": self.series_key,
            "modality": self.modality,
            "description": self.description,
            "shape_zyx": geometry["shape_zyx"],
            "spacing_zyx_mm": geometry["spacing_zyx_mm"],
            "origin_lps_mm": geometry["origin_lps_mm"],
            "direction": geometry["direction"],
            "dtype": self.dtype,
            "n_files": self.n_files,
            "source": self.source,
            "warnings": list(self.warnings),
            "errors": list(self.errors),
        }


@dataclass
class LoadResult:
    """Everything found under one path.

    ``images`` holds the series that loaded (in ``series`` order, failed ones left out);
    ``series`` has one record per series found, loaded or not; ``errors`` has one entry per file or
    series that failed.
    """

    images: list[ImageVolume] = field(default_factory=list)
    series: list[SeriesRecord] = field(default_factory=list)
    non_image: list[NonImageObject] = field(default_factory=list)
    errors: list[MedwsIOError] = field(default_factory=list)

    def to_records(self) -> list[dict[str, Any]]:
        """Return one JSON-ready dict per series (the ``medws info`` output)."""
        return [record.to_dict() for record in self.series]


def _sub(ctx: TaskContext, start: float, end: float) -> TaskContext:
    """A context reporting ``[0, 1]`` as ``[start, end]`` of ``ctx``."""
    return TaskContext(lambda f, m: ctx.report(start + f * (end - start), m), ctx.is_cancelled)


def _dicom_record(series: DicomSeries, dtype: str | None, errors: list[str]) -> SeriesRecord:
    return SeriesRecord(
        series_uid=series.series_uid,
        series_key=series.key,
        modality=series.modality,
        description=series.series_description,
        geometry=series.geometry,
        dtype=dtype,
        n_files=series.n_files,
        source="dicom",
        warnings=list(series.warnings),
        errors=errors,
    )


def _volume_record(image: ImageVolume, path: Path) -> SeriesRecord:
    return SeriesRecord(
        series_uid=str(image.metadata.get("series_uid", "")),
        series_key=str(image.metadata.get("series_key", path.name)),
        modality=image.modality,
        description=image.name,
        geometry=image.geometry,
        dtype=str(image.dtype),
        n_files=1,
        source=_volume_kind(path),
        warnings=list(image.metadata.get("warnings", [])),
    )


def _volume_kind(path: Path) -> str:
    from app.io.volume_files import volume_suffix

    return (volume_suffix(path) or path.suffix or ".volume").lstrip(".")


def _split_inputs(path: Path) -> tuple[list[Path], list[Path]]:
    """Return (volume files, other files) under ``path``."""
    from app.io.volume_files import is_volume_file

    if path.is_file() and path.name.upper() == "DICOMDIR":
        path = path.parent  # a DICOMDIR indexes the files of its media folder: scan them all
    if path.is_file():
        return ([path], []) if is_volume_file(path) else ([], [path])
    files = list(iter_files([path]))
    volumes = [f for f in files if is_volume_file(f)]
    chosen = set(volumes)
    return volumes, [f for f in files if f not in chosen]


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise MedwsIOError(path, "no such file or folder")


def load_path(
    path: str | os.PathLike[str],
    *,
    ctx: TaskContext = NULL_CONTEXT,
    on_preview: Callable[[int, np.ndarray], None] | None = None,
) -> LoadResult:
    """Load every image series under ``path``.

    Parameters
    ----------
    path
        A DICOM file or folder (searched recursively), or a volume file (.nii/.nii.gz/.nrrd/.mha...).
        Volume files inside a folder are loaded too.
    ctx
        Progress and cancellation (:class:`~analysis._task.Cancelled` propagates).
    on_preview
        Passed to :func:`~app.io.dicom_pixels.read_dicom_series` for the first DICOM series: called
        with its middle slice before the rest is read.

    Returns
    -------
    LoadResult
        Loaded images, per-series records, non-image objects and per-file errors.

    Raises
    ------
    MedwsIOError
        ``path`` does not exist.
    """
    path = Path(path)
    _check_exists(path)
    result = LoadResult()
    volumes, others = _split_inputs(path)
    scan = scan_dicom(others, ctx=_sub(ctx, 0.0, _SCAN_SHARE)) if others else DicomScan()
    result.non_image.extend(scan.non_image)
    result.errors.extend(scan.errors)
    weights = [float(np.prod(s.geometry.shape_zyx)) for s in scan.series]
    weights += [1e6] * len(volumes)  # unknown until read; small compared to a CT
    total = sum(weights) or 1.0
    done = 0.0
    for n, series in enumerate(scan.series):
        sub = _sub(
            ctx,
            _SCAN_SHARE + (1 - _SCAN_SHARE) * done / total,
            _SCAN_SHARE + (1 - _SCAN_SHARE) * (done + weights[n]) / total,
        )
        done += weights[n]
        try:
            image = read_dicom_series(series, ctx=sub, on_preview=on_preview if not result.images else None)
        except MedwsIOError as exc:
            result.errors.append(exc)
            result.series.append(_dicom_record(series, None, [str(exc)]))
            continue
        result.images.append(image)
        result.series.append(_dicom_record(series, str(image.dtype), []))
    for volume_path in volumes:
        from app.io.volume_files import read_volume

        sub = _sub(
            ctx, _SCAN_SHARE + (1 - _SCAN_SHARE) * done / total, _SCAN_SHARE + (1 - _SCAN_SHARE) * (done + 1e6) / total
        )
        done += 1e6
        try:
            image = read_volume(volume_path, ctx=sub)
        except MedwsIOError as exc:
            result.errors.append(exc)
            continue
        result.images.append(image)
        result.series.append(_volume_record(image, volume_path))
    ctx.step(1.0, f"Loaded {len(result.images)} series")
    log.info(
        "loaded %d series (%d errors, %d non-image objects)",
        len(result.images),
        len(result.errors),
        len(result.non_image),
    )
    return result


def load_first_image(
    path: str | os.PathLike[str],
    *,
    ctx: TaskContext = NULL_CONTEXT,
    on_preview: Callable[[int, np.ndarray], None] | None = None,
) -> ImageVolume:
    """Load ``path`` and return its first image series.

    Raises
    ------
    NoImageError
        Nothing under ``path`` loaded; the reason names the first error when there was one.
    """
    result = load_path(path, ctx=ctx, on_preview=on_preview)
    if not result.images:
        reason = "no loadable image series"
        if result.errors:
            reason += f" (first error: {result.errors[0]})"
        raise NoImageError(path, reason)
    return result.images[0]


def info_records(path: str | os.PathLike[str], *, ctx: TaskContext = NULL_CONTEXT) -> list[dict[str, Any]]:
    """Describe every series under ``path`` without decoding DICOM pixels.

    The DICOM ``dtype`` is predicted from BitsStored and the rescale, so it can be wider than what
    :func:`load_path` returns (which narrows it from the actual values). Per-file errors are added
    as records with ``"path"`` and ``"error"`` keys after the series records.

    Raises
    ------
    MedwsIOError
        ``path`` does not exist.
    """
    path = Path(path)
    _check_exists(path)
    volumes, others = _split_inputs(path)
    scan = scan_dicom(others, ctx=_sub(ctx, 0.0, 0.9)) if others else DicomScan()
    records = [_dicom_record(s, str(output_dtype(s)), []).to_dict() for s in scan.series]
    for volume_path in volumes:
        from app.io.volume_files import read_volume

        try:
            records.append(_volume_record(read_volume(volume_path, ctx=ctx), volume_path).to_dict())
        except MedwsIOError as exc:
            scan.errors.append(exc)
    records += [{"path": err.path, "error": err.reason} for err in scan.errors]
    ctx.step(1.0, "done")
    return records
