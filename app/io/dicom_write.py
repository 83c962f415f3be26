"""Write a ``(z, y, x)`` volume as a DICOM series of single-frame CT or MR Image Storage files.

Used to turn sample volumes into DICOM (tests, benchmark, demo data). The output is a valid,
self-consistent series: one file per slice, shared Study/Series/FrameOfReference UIDs, positions
and orientation derived from :class:`~app.model.geometry.Geometry` (oblique and gantry-tilt shear
included) and stored values chosen so that ``stored * slope + intercept`` gives back the input
values exactly for integer input (non-integer input is quantised to the slope).

Any thread may call :func:`write_dicom_series`; it writes each file under a temporary name and
renames it into place, so a reader never sees a half-written file.
"""

from __future__ import annotations

import datetime as _dt
import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from app.io.errors import MedwsIOError
from app.model.geometry import Geometry

__all__ = ["write_dicom_series", "choose_stored_encoding"]

_SOP_CLASS = {"CT": CTImageStorage, "MR": MRImageStorage}
_UNCOMPRESSED = {ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian}


def _uid(seed: str | None, *parts: object) -> UID:
    if seed is None:
        return generate_uid()
    return generate_uid(entropy_srcs=[str(seed), *(str(p) for p in parts)])


def _ds_str(value: float) -> str:
    """Format a float as a DICOM DS (at most 16 characters, as exact as fits)."""
    for digits in range(10, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    return f"{value:.1e}"


def choose_stored_encoding(
    array: np.ndarray,
    modality: str,
    rescale_intercept: float | None,
    rescale_slope: float,
) -> tuple[np.ndarray, float, float, int, int]:
    """Pick stored values for physical ``array`` values.

    Parameters
    ----------
    array
        Physical voxel values (HU for CT), any real dtype.
    modality
        "CT" defaults the intercept to -1024 (stored unsigned, like most scanners) when the values
        allow it; other modalities default to 0.
    rescale_intercept, rescale_slope
        Requested rescale; ``None`` intercept chooses one.

    Returns
    -------
    stored, intercept, slope, bits_stored, pixel_representation
        ``stored`` is uint16 (pixel representation 0) or int16 (1), with
        ``stored * slope + intercept == array`` for integer input.
    """
    slope = float(rescale_slope)
    if slope == 0 or not np.isfinite(slope):
        raise ValueError(f"rescale_slope must be finite and non-zero, got {rescale_slope}")
    values = np.asarray(array)
    lo = float(values.min()) if values.size else 0.0
    hi = float(values.max()) if values.size else 0.0
    if rescale_intercept is None:
        if modality == "CT" and lo >= -1024 and (hi + 1024) / slope <= 65535:
            intercept = -1024.0
        elif lo / slope >= -32768 and hi / slope <= 32767:
            intercept = 0.0
        else:
            intercept = float(np.floor(lo))
    else:
        intercept = float(rescale_intercept)
    scaled = (values.astype(np.float64) - intercept) / slope
    scaled = np.rint(scaled)
    s_lo = float(scaled.min()) if scaled.size else 0.0
    s_hi = float(scaled.max()) if scaled.size else 0.0
    if s_lo >= 0 and s_hi <= 65535:
        stored = scaled.astype(np.uint16)
        pixel_representation = 0
        bits = 12 if s_hi < 4096 else 16
    elif s_lo >= -32768 and s_hi <= 32767:
        stored = scaled.astype(np.int16)
        pixel_representation = 1
        bits = 12 if (s_lo >= -2048 and s_hi < 2048) else 16
    else:
        raise ValueError(f"values [{lo}, {hi}] do not fit 16-bit storage with slope {slope}, intercept {intercept}")
    return stored, intercept, slope, bits, pixel_representation


def _base_dataset(
    *,
    modality: str,
    rows: int,
    columns: int,
    study_uid: str,
    series_uid: str,
    frame_uid: str,
    series_number: int,
    series_description: str,
    study_description: str,
    patient_name: str,
    patient_id: str,
) -> Dataset:
    now = _dt.datetime.now()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = _SOP_CLASS[modality]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = ""
    ds.Modality = modality
    ds.Manufacturer = "MedWS"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study_description
    ds.SeriesDescription = series_description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.BodyPartExamined = ""
    if modality == "CT":
        ds.KVP = ""
    else:
        ds.ScanningSequence = "GR"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "3D"
        ds.RepetitionTime = "10"
        ds.EchoTime = "4"
        ds.EchoTrainLength = "1"
        ds.EchoNumbers = "1"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = int(series_number)
    ds.AcquisitionNumber = 1
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = int(rows)
    ds.Columns = int(columns)
    ds.BitsAllocated = 16
    return ds


def write_dicom_series(
    array_zyx: np.ndarray,
    geometry: Geometry,
    out_dir: str | os.PathLike[str],
    *,
    modality: str = "CT",
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 1,
    series_description: str = "",
    patient_name: str = "Anonymous^Phantom",
    patient_id: str = "MEDWS0001",
    study_description: str = "",
    rescale_intercept: float | None = None,
    rescale_slope: float = 1.0,
    window: tuple[float, float] | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    file_names: str = "instance",
    uid_seed: str | None = None,
    instance_numbers: Sequence[int] | None = None,
) -> list[Path]:
    """Write one single-frame CT/MR Image Storage file per slice of ``array_zyx``.

    Parameters
    ----------
    array_zyx
        Physical voxel values (HU for CT), shape ``(z, y, x)`` matching ``geometry.shape_zyx``.
    geometry
        Grid placement in LPS mm. Slice ``k`` is written at
        ``ImagePositionPatient = origin + k * spacing_z * direction[:, 2]``; a third direction
        column that is not perpendicular to the first two gives a gantry-tilted (sheared) series.
    out_dir
        Folder to write into (created if missing).
    modality
        "CT" or "MR" (selects the SOP class).
    study_uid, series_uid
        UIDs to use; generated (deterministically from ``uid_seed`` when given) if None.
    series_number, series_description, study_description
        Descriptive tags.
    patient_name, patient_id
        Patient tags written into the files; use synthetic values only.
    rescale_intercept, rescale_slope
        Rescale to store with; ``None`` intercept lets :func:`choose_stored_encoding` choose.
    window
        Display window as ``(width, level)`` (the order of ``ImageVolume.metadata["window"]``);
        written as WindowCenter/WindowWidth. None writes no window.
    transfer_syntax
        Explicit/implicit VR little endian, explicit VR big endian, or a compressed syntax that
        ``Dataset.compress`` can encode here (RLE Lossless, JPEG-LS lossless, JPEG 2000 lossless;
        OpenJPEG needs rows and columns of at least 32).
    file_names
        "instance" writes ``IM00001.dcm`` ... in slice order; "shuffled" writes random names in
        random order (deterministic with ``uid_seed``) so readers cannot rely on names.
    uid_seed
        Makes every UID (and the shuffled names) reproducible.
    instance_numbers
        InstanceNumber per slice (default 1..n); tests use it to scramble the numbering.

    Returns
    -------
    list of Path
        The written files in slice order (index ``k`` holds slice ``k``).

    Raises
    ------
    ValueError
        Bad arguments (shape mismatch, unknown modality, values that do not fit 16 bits).
    MedwsIOError
        A file could not be written.
    """
    array_zyx = np.asarray(array_zyx)
    if array_zyx.ndim != 3 or tuple(array_zyx.shape) != geometry.shape_zyx:
        raise ValueError(f"array shape {array_zyx.shape} != geometry {geometry.shape_zyx}")
    if modality not in _SOP_CLASS:
        raise ValueError(f"modality must be one of {sorted(_SOP_CLASS)}, got {modality!r}")
    if file_names not in ("instance", "shuffled"):
        raise ValueError(f"file_names must be 'instance' or 'shuffled', got {file_names!r}")
    transfer_syntax = UID(transfer_syntax)
    n_slices, rows, columns = array_zyx.shape
    if instance_numbers is None:
        instance_numbers = range(1, n_slices + 1)
    instance_numbers = [int(i) for i in instance_numbers]
    if len(instance_numbers) != n_slices:
        raise ValueError("instance_numbers needs one number per slice")

    stored, intercept, slope, bits, pixel_rep = choose_stored_encoding(
        array_zyx, modality, rescale_intercept, rescale_slope
    )
    study_uid = study_uid or _uid(uid_seed, "study")
    series_uid = series_uid or _uid(uid_seed, "series", series_number, series_description)
    frame_uid = _uid(uid_seed, "frame", study_uid)

    d = geometry.direction_matrix
    row_dir, col_dir, stack_dir = d[:, 0], d[:, 1], d[:, 2]
    normal = geometry.slice_normal_lps
    dz, dy, dx = geometry.spacing_zyx_mm
    origin = np.asarray(geometry.origin_lps_mm)
    along_normal = float(np.dot(stack_dir, normal)) * dz  # perpendicular slice distance
    tilt_deg = geometry.shear_deg

    ds = _base_dataset(
        modality=modality,
        rows=rows,
        columns=columns,
        study_uid=study_uid,
        series_uid=series_uid,
        frame_uid=frame_uid,
        series_number=series_number,
        series_description=series_description,
        study_description=study_description,
        patient_name=patient_name,
        patient_id=patient_id,
    )
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = pixel_rep
    ds.ImageOrientationPatient = [_ds_str(v) for v in (*row_dir, *col_dir)]
    ds.PixelSpacing = [_ds_str(dy), _ds_str(dx)]
    ds.SliceThickness = _ds_str(abs(along_normal))
    ds.SpacingBetweenSlices = _ds_str(abs(along_normal))
    if modality == "CT" and tilt_deg > 1e-3:
        ds.GantryDetectorTilt = _ds_str(tilt_deg)
    ds.RescaleIntercept = _ds_str(intercept)
    ds.RescaleSlope = _ds_str(slope)
    if modality == "CT":
        ds.RescaleType = "HU"
    if window is not None:
        width, level = window
        ds.WindowCenter = _ds_str(float(level))
        ds.WindowWidth = _ds_str(float(width))

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{uid_seed}-names" if uid_seed is not None else None)
    if file_names == "instance":
        names = [f"IM{k + 1:05d}.dcm" for k in range(n_slices)]
    else:
        names = [f"{rng.getrandbits(48):012x}.dcm" for _ in range(n_slices)]
    order = list(range(n_slices))
    if file_names == "shuffled":
        rng.shuffle(order)

    little = transfer_syntax != ExplicitVRBigEndian
    implicit = transfer_syntax == ImplicitVRLittleEndian
    paths: list[Path] = [out / name for name in names]
    for k in order:
        ipp = origin + k * dz * stack_dir
        ds.SOPInstanceUID = _uid(uid_seed, series_uid, "instance", k)
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = instance_numbers[k]
        ds.ImagePositionPatient = [_ds_str(v) for v in ipp]
        ds.SliceLocation = _ds_str(float(np.dot(ipp, normal)))
        plane = np.ascontiguousarray(stored[k])
        if transfer_syntax in _UNCOMPRESSED:
            if not little:
                plane = plane.byteswap()
            ds.PixelData = plane.tobytes()
            ds["PixelData"].VR = "OW"
            meta.TransferSyntaxUID = transfer_syntax
        else:
            ds.compress(transfer_syntax, plane, generate_instance_uid=False)
        target = paths[k]
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            pydicom.dcmwrite(tmp, ds, implicit_vr=implicit, little_endian=little, enforce_file_format=True)
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise MedwsIOError(target, f"cannot write DICOM: {exc.strerror or exc}") from exc
        if transfer_syntax not in _UNCOMPRESSED:
            # compress() rewrote the transfer syntax and pixel module; drop the encapsulated data.
            del ds.PixelData
    return paths
