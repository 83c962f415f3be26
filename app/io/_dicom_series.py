"""Group scanned frames into series, sort them by position and derive each series' geometry.

Sorting follows the slice normal (``row × column`` of ImageOrientationPatient), never file names
or InstanceNumber. The stack direction (third column of the direction matrix) runs from the first
to the last slice position, so a gantry-tilted series gets a sheared but exact grid.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from app.io._dicom_header import FileHeader
from app.io._dicom_records import DicomInstance, DicomSeries
from app.model.geometry import Geometry

#: Positions closer than this along the normal are duplicates (mm).
_DUPLICATE_MM = 1e-3
#: A gap within this fraction of an integer multiple of the median spacing counts as missing slices.
_MULTIPLE_TOLERANCE = 0.1
#: Spacing deviations above this fraction of the median are reported as non-uniform.
_UNIFORM_TOLERANCE = 0.01
_TILT_WARN_DEG = 0.01
_SPLIT_ATTRIBUTES = ("echo_number", "temporal_position", "acquisition_number")


#: Direction cosines closer than this are the same orientation (scanners write 6-10 digits).
_ORIENTATION_TOLERANCE = 1e-3


def _orientation_key(instance: DicomInstance, seen: list[tuple[float, ...]]) -> tuple[float, ...] | None:
    """Return the representative of ``instance``'s orientation among ``seen`` (added when new).

    Compared with a tolerance rather than rounded, so values straddling a rounding boundary stay
    in one series.
    """
    if instance.orientation is None:
        return None
    for known in seen:
        if max(abs(a - b) for a, b in zip(known, instance.orientation, strict=True)) < _ORIENTATION_TOLERANCE:
            return known
    key = tuple(round(v, 4) + 0.0 for v in instance.orientation)
    seen.append(key)
    return key


def _normal(orientation: tuple[float, ...]) -> np.ndarray:
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:], dtype=float)
    n = np.cross(row, col)
    norm = np.linalg.norm(n)
    return n / norm if norm > 1e-6 else np.array([0.0, 0.0, 1.0])


def build_series(headers: Iterable[FileHeader]) -> list[DicomSeries]:
    """Group frames by study/series (one group per multi-frame file), split and sort them.

    Parameters
    ----------
    headers
        Headers of the readable image files.

    Returns
    -------
    list of DicomSeries
        Sorted by series number, then key.
    """
    groups: dict[tuple[str, ...], list[DicomInstance]] = defaultdict(list)
    infos: dict[tuple[str, ...], dict] = {}
    for header in headers:
        info = header.info
        key: tuple[str, ...] = (info["study_uid"], info["series_uid"])
        if header.instances and header.instances[0].n_frames > 1:
            key = (*key, header.instances[0].sop_instance_uid or str(header.instances[0].path))
        groups[key].extend(header.instances)
        infos.setdefault(key, info)
    result: list[DicomSeries] = []
    for key, instances in groups.items():
        info = infos[key]
        base_key = info["series_uid"] or f"no-series-uid:{instances[0].path.parent}"
        if len(key) > 2:
            base_key = f"{base_key}/{key[2]}"
        for suffix, part, warnings in _split(instances):
            result.append(_make_series(info, f"{base_key}{suffix}", part, warnings))
    result.sort(key=lambda s: (s.series_number if s.series_number is not None else 1 << 30, s.key))
    return result


def _split(instances: list[DicomInstance]) -> list[tuple[str, list[DicomInstance], list[str]]]:
    """Split by image size and orientation, then by echo/temporal/acquisition if positions repeat."""
    by_shape: dict[tuple, list[DicomInstance]] = defaultdict(list)
    seen: list[tuple[float, ...]] = []
    for inst in instances:
        by_shape[(inst.rows, inst.columns, _orientation_key(inst, seen))].append(inst)
    parts = []
    shapes = sorted(by_shape, key=lambda k: (-len(by_shape[k]), str(k)))
    for n, shape in enumerate(shapes):
        suffix = "" if len(shapes) == 1 else f"#{shape[0]}x{shape[1]}-o{n + 1}"
        part = by_shape[shape]
        for sub_suffix, sub, warnings in _split_duplicates(part):
            if len(shapes) > 1:
                warnings.insert(0, "series split by image size/orientation")
            parts.append((suffix + sub_suffix, sub, warnings))
    return parts


def _projections(instances: list[DicomInstance]) -> np.ndarray | None:
    if any(inst.position_lps_mm is None for inst in instances) or instances[0].orientation is None:
        return None
    normal = _normal(instances[0].orientation)
    return np.array([inst.position_lps_mm for inst in instances], dtype=float) @ normal


def _has_duplicates(instances: list[DicomInstance]) -> bool:
    proj = _projections(instances)
    if proj is None or len(proj) < 2:
        return False
    return bool(np.any(np.diff(np.sort(proj)) < _DUPLICATE_MM))


def _split_duplicates(instances: list[DicomInstance]) -> list[tuple[str, list[DicomInstance], list[str]]]:
    if not _has_duplicates(instances):
        return [("", instances, [])]
    for attribute in _SPLIT_ATTRIBUTES:
        by_value: dict[str, list[DicomInstance]] = defaultdict(list)
        for inst in instances:
            by_value[str(getattr(inst, attribute))].append(inst)
        if len(by_value) > 1 and not any(_has_duplicates(p) for p in by_value.values()):
            name = attribute.split("_")[0]
            return [
                (f"#{name}={value}", by_value[value], [f"series split by {attribute.replace('_', ' ')}"])
                for value in sorted(by_value, key=_natural)
            ]
    return [("", instances, [])]  # duplicates dropped when sorting


def _natural(value: str) -> tuple[float, str]:
    try:
        return (float(value), value)
    except ValueError:
        return (float("inf"), value)


def _make_series(info: dict, key: str, instances: list[DicomInstance], warnings: list[str]) -> DicomSeries:
    instances, geometry, more = _sort_and_place(instances, info)
    return DicomSeries(
        key=key,
        study_uid=info["study_uid"],
        series_uid=info["series_uid"],
        modality=info["modality"],
        sop_class_uid=info["sop_class_uid"],
        series_number=info["series_number"],
        series_description=info["series_description"],
        study_date=info["study_date"],
        study_description=info["study_description"],
        accession_number=info["accession_number"],
        patient_name=info["patient_name"],
        patient_id=info["patient_id"],
        patient_birth_date=info["patient_birth_date"],
        frame_of_reference_uid=info["frame_of_reference_uid"],
        instances=instances,
        geometry=geometry,
        warnings=warnings + more,
    )


def _sort_and_place(instances: list[DicomInstance], info: dict) -> tuple[list[DicomInstance], Geometry, list[str]]:
    warnings: list[str] = []
    first = instances[0]
    rows, columns = first.rows, first.columns
    spacing_yx = first.pixel_spacing_yx_mm
    if spacing_yx is None or min(spacing_yx) <= 0:
        warnings.append("no PixelSpacing: using 1 mm")
        spacing_yx = (1.0, 1.0)
    orientation = first.orientation
    proj = _projections(instances)
    if proj is None or orientation is None or np.linalg.norm(np.cross(orientation[:3], orientation[3:])) < 1e-6:
        warnings.append("no usable ImagePositionPatient/ImageOrientationPatient: slices ordered by InstanceNumber")
        ordered = sorted(instances, key=lambda i: (i.instance_number or 0, str(i.path), i.frame_index))
        ordered = [dataclasses.replace(inst, index_z=z) for z, inst in enumerate(ordered)]
        dz = info.get("spacing_between_slices_mm") or first.slice_thickness_mm or 1.0
        geometry = Geometry((len(ordered), rows, columns), (abs(dz) or 1.0, *spacing_yx))
        return ordered, geometry, warnings

    row_dir = np.asarray(orientation[:3], dtype=float)
    col_dir = np.asarray(orientation[3:], dtype=float)
    row_dir /= np.linalg.norm(row_dir)
    col_dir /= np.linalg.norm(col_dir)
    normal = np.cross(row_dir, col_dir)
    normal /= np.linalg.norm(normal)
    order = sorted(
        range(len(instances)),
        key=lambda i: (proj[i], instances[i].instance_number or 0, str(instances[i].path), instances[i].frame_index),
    )
    kept: list[int] = []
    for i in order:
        if kept and proj[i] - proj[kept[-1]] < _DUPLICATE_MM:
            continue
        kept.append(i)
    if len(kept) < len(order):
        warnings.append(f"{len(order) - len(kept)} frames at duplicate positions dropped")
    ordered = [instances[i] for i in kept]
    p = proj[kept]
    positions = np.array([inst.position_lps_mm for inst in ordered], dtype=float)
    n = len(ordered)
    if n == 1:
        dz = info.get("spacing_between_slices_mm") or first.slice_thickness_mm or 1.0
        slots = [0]
        stack = normal
        dz = abs(dz) or 1.0
    else:
        diffs = np.diff(p)
        median = float(np.median(diffs))
        ratios = diffs / median
        steps = np.rint(ratios)
        deviation = np.abs(ratios - steps)
        fits_grid = np.all(steps >= 1) and float(deviation.max()) <= _MULTIPLE_TOLERANCE
        if fits_grid and float(steps.sum()) <= 2 * n + 8:  # never pad a volume to more than ~2x its slices
            slots = np.concatenate([[0], np.cumsum(steps).astype(int)]).tolist()
            missing = int(slots[-1] + 1 - n)
            if missing:
                gaps = [f"{int(s) - 1} after slice {z}" for z, s in enumerate(steps) if s > 1][:5]
                warnings.append(
                    f"{missing} missing slice(s) (gaps at multiples of {median:.3g} mm: {', '.join(gaps)}); "
                    "filled with the minimum value"
                )
            if float(deviation.max()) > _UNIFORM_TOLERANCE:
                warnings.append(
                    f"non-uniform slice spacing ({diffs.min():.4g}..{diffs.max():.4g} mm); geometry uses the mean"
                )
        else:
            slots = list(range(n))
            warnings.append(
                f"non-uniform slice spacing ({diffs.min():.4g}..{diffs.max():.4g} mm); geometry uses the mean"
            )
        step_vector = (positions[-1] - positions[0]) / slots[-1]
        dz = float(np.linalg.norm(step_vector))
        stack = step_vector / dz
        tilt = float(np.degrees(np.arccos(min(1.0, abs(float(np.dot(stack, normal)))))))
        if tilt > _TILT_WARN_DEG:
            warnings.append(f"gantry tilt {tilt:.2f} deg: geometry is sheared")
    ordered = [dataclasses.replace(inst, index_z=int(z)) for inst, z in zip(ordered, slots, strict=True)]
    shape_zyx = (int(slots[-1]) + 1, rows, columns)
    try:
        geometry = Geometry(
            shape_zyx,
            (dz, float(spacing_yx[0]), float(spacing_yx[1])),
            tuple(positions[0]),
            tuple(np.column_stack([row_dir, col_dir, stack]).ravel()),
        )
    except ValueError:  # degenerate stack direction (slices side by side): stack along the normal
        warnings.append("slice positions do not form a stack: geometry along the slice normal")
        dz = float(abs(p[-1] - p[0]) / max(1, slots[-1])) or 1.0
        geometry = Geometry(
            shape_zyx,
            (dz, float(spacing_yx[0]), float(spacing_yx[1])),
            tuple(positions[0]),
            tuple(np.column_stack([row_dir, col_dir, normal]).ravel()),
        )
    return ordered, geometry, warnings
