"""Build :class:`ExportCase` objects from plain files: a DICOM series or volume + a labelmap.

This is the "people converting existing data" path of ``medws export --image IMAGE --labels
LABELMAP``. A labelmap on another grid is resampled onto the image grid with nearest neighbour
(and a warning) when the grids are compatible, i.e. when the labelled voxels lie inside the image;
otherwise :class:`~app.io.errors.MedwsIOError` says why in one line. Any thread may call these.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from analysis._task import NULL_CONTEXT, TaskContext
from app.io.errors import MedwsIOError, NoImageError
from app.io.export._common import ExportCase, sub_context
from app.io.label_tables import default_label_table, read_label_table
from app.io.volume_files import is_volume_file, read_volume, volume_suffix
from app.model.geometry import Geometry
from app.model.image import ImageVolume
from app.model.labels import LabelTable, LabelVolume

__all__ = ["load_plain_case", "resample_labels_nearest", "case_id_for"]

log = logging.getLogger(__name__)

#: Labelled voxels allowed to fall outside the image before grids count as incompatible.
MAX_OUTSIDE_FRACTION = 0.01


def case_id_for(path: str | os.PathLike[str]) -> str:
    """Return a case id from a file or folder name (suffix removed)."""
    path = Path(path)
    suffix = volume_suffix(path)
    name = path.name[: -len(suffix)] if suffix else path.name
    return name or "case"


def resample_labels_nearest(
    labels_zyx: np.ndarray, label_geometry: Geometry, image_geometry: Geometry
) -> tuple[np.ndarray, float]:
    """Resample a labelmap onto ``image_geometry`` by nearest neighbour, through LPS mm.

    Returns
    -------
    array, outside_fraction
        The labels on the image grid, and the fraction of labelled source voxels whose centres fall
        outside the image grid (lost by the resampling).
    """
    out = np.zeros(image_geometry.shape_zyx, labels_zyx.dtype)
    _, rows, cols = image_geometry.shape_zyx
    yy, xx = np.mgrid[0:rows, 0:cols]
    plane = np.stack([np.zeros(yy.size), yy.ravel(), xx.ravel()], axis=1).astype(float)
    limit = np.array(label_geometry.shape_zyx)
    for z in range(image_geometry.shape_zyx[0]):
        plane[:, 0] = z
        src = np.rint(label_geometry.lps_to_index_zyx(image_geometry.index_zyx_to_lps(plane))).astype(np.int64)
        ok = np.all((src >= 0) & (src < limit), axis=1)
        values = np.zeros(plane.shape[0], labels_zyx.dtype)
        values[ok] = labels_zyx[src[ok, 0], src[ok, 1], src[ok, 2]]
        out[z] = values.reshape(rows, cols)
    labelled = np.argwhere(labels_zyx > 0)
    if not len(labelled):
        return out, 0.0
    step = max(1, len(labelled) // 200_000)
    dest = np.rint(image_geometry.lps_to_index_zyx(label_geometry.index_zyx_to_lps(labelled[::step].astype(float))))
    inside = np.all((dest >= 0) & (dest < np.array(image_geometry.shape_zyx)), axis=1)
    return out, float(1.0 - inside.mean())


def _load_image(path: Path, ctx: TaskContext) -> tuple[ImageVolume, list[Path] | None, list[str]]:
    if is_volume_file(path):
        return read_volume(path, ctx=ctx), None, []
    from app.io.dicom_pixels import read_dicom_series
    from app.io.dicom_scan import scan_dicom

    if not path.exists():
        raise MedwsIOError(path, "no such file or folder")
    scan = scan_dicom([path], ctx=sub_context(ctx, 0.0, 0.2))
    if not scan.series:
        first = f" (first error: {scan.errors[0]})" if scan.errors else ""
        raise NoImageError(path, f"no DICOM image series found{first}")
    warnings = []
    if len(scan.series) > 1:
        warnings.append(f"{path.name}: {len(scan.series)} series found; using the first (series number order)")
    series = scan.series[0]
    image = read_dicom_series(series, ctx=sub_context(ctx, 0.2, 1.0))
    sources = None if series.is_multiframe else [inst.path for inst in series.instances]
    if sources is None:
        warnings.append(f"{path.name}: multi-frame source; a DICOM SEG will reference a new single-frame copy")
    return image, sources, warnings + list(series.warnings)


def _load_labels(path: Path, table_path: Path | None) -> tuple[np.ndarray, Geometry, LabelTable]:
    name = path.name.lower()
    if name.endswith(".seg.nrrd"):
        from app.io.seg_nrrd import read_seg_nrrd

        seg = read_seg_nrrd(path)
        lv = seg.to_label_volume()
        array, geometry, table = lv.array, lv.geometry, lv.table
    else:
        volume = read_volume(path)
        array, geometry, table = volume.array, volume.geometry, None
        if not np.issubdtype(array.dtype, np.integer):
            if not np.array_equal(array, np.rint(array)):
                raise MedwsIOError(path, "labelmap holds non-integer values (is it an image?)")
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise MedwsIOError(path, f"label values must be 0..65535, got {array.min()}..{array.max()}")
        array = array.astype(np.uint16 if array.size and array.max() > 255 else np.uint8)
    present = [int(v) for v in np.unique(array) if v]
    if table_path is not None:
        table = read_label_table(table_path)
    elif table is None:
        table = default_label_table(present)
    return array, geometry, table


def load_plain_case(
    image_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str] | None,
    table_path: str | os.PathLike[str] | None = None,
    *,
    ctx: TaskContext = NULL_CONTEXT,
) -> tuple[ExportCase, list[str]]:
    """Load IMAGE (DICOM folder/file or volume file) and LABELMAP into an :class:`ExportCase`.

    Returns the case and warnings (resampling, several series). Raises :class:`MedwsIOError` with
    one line when a file cannot be read or the labels cannot be placed on the image.
    """
    image_path = Path(image_path)
    image, sources, warnings = _load_image(image_path, sub_context(ctx, 0.0, 0.8))
    labels = None
    if labels_path is not None:
        labels_path = Path(labels_path)
        array, geometry, table = _load_labels(labels_path, Path(table_path) if table_path else None)
        if not geometry.same_grid(image.geometry, tol_mm=1e-2):
            resampled, outside = resample_labels_nearest(array, geometry, image.geometry)
            if outside > MAX_OUTSIDE_FRACTION or (array.any() and not resampled.any()):
                raise MedwsIOError(
                    labels_path,
                    f"labelmap grid {geometry.shape_zyx} cannot be matched to the image "
                    f"{image.geometry.shape_zyx}: {outside:.0%} of labelled voxels fall "
                    "outside the image",
                )
            warnings.append(
                f"{labels_path.name}: labelmap grid {geometry.shape_zyx} differs from the image grid "
                f"{image.geometry.shape_zyx}; resampled with nearest neighbour"
            )
            array = resampled
        labels = LabelVolume(image.geometry, table, name=case_id_for(labels_path), array=np.array(array))
    ctx.step(1.0, "loaded")
    return ExportCase(case_id_for(image_path), image, labels, source_files=sources), warnings
