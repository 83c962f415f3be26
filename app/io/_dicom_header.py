"""Read the header of one DICOM file into records, without reading its pixel bytes.

``pydicom.dcmread(defer_size=...)`` leaves the PixelData element as a raw element whose
``value_tell`` is the byte offset of the pixel bytes in the file: uncompressed frames are later
read straight from there (see :mod:`app.io.dicom_pixels`). Any thread may call :func:`read_header`.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from app.io._dicom_fastparse import fast_header
from app.io._dicom_records import DicomInstance, NonImageObject, PixelFormat
from app.io.errors import DicomFileError

_PIXEL_DATA = 0x7FE00010
_IMPLICIT = "1.2.840.10008.1.2"
_DEFLATED = "1.2.840.10008.1.2.1.99"
_DEFER_BYTES = 4096
_MAX_REASON = 160
_MAX_FRAMES = 100_000

#: SOP classes (and prefixes) that are listed as non-image objects.
_NON_IMAGE_KINDS = {
    "1.2.840.10008.1.3.10": "DICOMDIR",
    "1.2.840.10008.5.1.4.1.1.66.4": "SEG",
    "1.2.840.10008.5.1.4.1.1.481.3": "RTSTRUCT",
    "1.2.840.10008.5.1.4.1.1.481.5": "RTPLAN",
    "1.2.840.10008.5.1.4.1.1.481.2": "RTDOSE",
    "1.2.840.10008.5.1.4.1.1.88.59": "KO",
    "1.2.840.10008.5.1.4.1.1.104.1": "PDF",
    "1.2.840.10008.5.1.4.1.1.66": "RAW",
    "1.2.840.10008.5.1.4.1.1.66.1": "REG",
    "1.2.840.10008.5.1.4.1.1.66.3": "REG",
}
_NON_IMAGE_PREFIXES = (
    ("1.2.840.10008.5.1.4.1.1.88.", "SR"),
    ("1.2.840.10008.5.1.4.1.1.11.", "PR"),
    ("1.2.840.10008.5.1.4.1.1.9.", "ECG/waveform"),
)


@dataclass
class FileHeader:
    """Series-level tags of one image file plus its frames (one per frame)."""

    info: dict[str, Any]
    instances: list[DicomInstance]


def non_image_kind(sop_class_uid: str) -> str | None:
    """Return a short kind ("SEG", "SR", ...) for a non-image SOP class, else None."""
    if sop_class_uid in _NON_IMAGE_KINDS:
        return _NON_IMAGE_KINDS[sop_class_uid]
    for prefix, kind in _NON_IMAGE_PREFIXES:
        if sop_class_uid.startswith(prefix):
            return kind
    return None


def _fail(path: Path, reason: str) -> DicomFileError:
    reason = " ".join(reason.split())
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 1] + "…"
    return DicomFileError(path, reason)


_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
_CHARSET_TEXT_VRS = frozenset({"LO", "PN", "SH", "LT", "ST", "UT", "UC"})
_SIMPLE_CHARSETS = frozenset({"", "ISO_IR 100", "ISO_IR 6", "ISO_IR 192"})


@functools.cache
def _tag_and_vr(keyword: str) -> tuple[int, str]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return tag, dictionary_VR(tag)


def _get(ds: Dataset, keyword: str) -> Any:
    """Return a tag's value, decoding plain text tags straight from the raw bytes.

    pydicom's generic value conversion dominates the scan time; most tags read here are ASCII text
    (UI, CS, DS, IS...) or US numbers that are cheap to decode directly. Anything else (sequences,
    other charsets, already converted elements) goes through pydicom.
    """
    tag, dict_vr = _tag_and_vr(keyword)
    elem = ds._dict.get(tag)
    if elem is None:
        return None
    raw = getattr(elem, "value", None)
    if isinstance(elem, RawDataElement) and isinstance(raw, bytes):
        vr = elem.VR or dict_vr
        if vr in _TEXT_VRS:
            return raw.decode("latin-1").strip(" \x00")
        if vr in _CHARSET_TEXT_VRS:
            charset = getattr(ds, "_medws_charset", None)
            if charset in _SIMPLE_CHARSETS:
                codec = "utf-8" if charset == "ISO_IR 192" else "latin-1"
                return raw.decode(codec, errors="replace").strip(" \x00")
        elif vr == "US" and len(raw) == 2:
            encoding = getattr(ds, "_medws_little_endian", None)
            if encoding is not None:
                return int.from_bytes(raw, "little" if encoding else "big")
    return ds.get(keyword, None)


def _parts(value: Any) -> list[Any]:
    if isinstance(value, str):
        return value.split("\\")
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return list(value)
    return [value]


def _str(ds: Dataset | None, keyword: str, default: str = "") -> str:
    if ds is None:
        return default
    value = _get(ds, keyword)
    if value is None:
        return default
    return str(value).strip()


def _int(ds: Dataset, keyword: str) -> int | None:
    value = _get(ds, keyword)
    if value is None or value == "":
        return None
    try:
        return int(_parts(value)[0])
    except (TypeError, ValueError, IndexError):
        return None


def _floats(ds: Dataset | None, keyword: str, n: int) -> tuple[float, ...] | None:
    if ds is None:
        return None
    value = _get(ds, keyword)
    if value is None or value == "":
        return None
    try:
        values = tuple(float(v) for v in _parts(value))
    except (TypeError, ValueError):
        return None
    if len(values) != n or not all(math.isfinite(v) for v in values):
        return None
    return values


def _first_float(ds: Dataset | None, keyword: str) -> float | None:
    """First value of a possibly multi-valued DS (WindowCenter can hold several presets)."""
    if ds is None:
        return None
    value = _get(ds, keyword)
    if value is None or value == "":
        return None
    try:
        result = float(_parts(value)[0])
    except (TypeError, ValueError, IndexError):
        return None
    return result if math.isfinite(result) else None


def _window(ds: Dataset | None) -> tuple[float, float] | None:
    center = _first_float(ds, "WindowCenter")
    width = _first_float(ds, "WindowWidth")
    if center is None or width is None or width <= 0:
        return None
    return (width, center)


def _item(container: Dataset | None, keyword: str) -> Dataset | None:
    if container is None:
        return None
    seq = container.get(keyword, None)
    if not seq:
        return None
    return seq[0]


def _open(path: Path) -> Dataset:
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise _fail(path, f"cannot read: {exc.strerror or exc}") from None
    if size == 0:
        raise _fail(path, "empty file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
            fh.seek(0)
            force = False
            if len(head) < 132 or head[128:132] != b"DICM":
                # Some old files have no preamble: accept them only when they start with a group 0008 tag.
                if head[:2] in (b"\x08\x00", b"\x02\x00", b"\x00\x08", b"\x00\x02"):
                    force = True
                else:
                    raise _fail(path, "not a DICOM file (no DICM marker)")
            ds = None if force else fast_header(fh)
            if ds is None:
                fh.seek(0)
                ds = pydicom.dcmread(fh, defer_size=_DEFER_BYTES, force=force)
                ds._medws_little_endian = ds.original_encoding[1]
            # Encoding facts used by the raw-bytes fast path of _get (root dataset only).
            ds._medws_charset = None
            charset = _get(ds, "SpecificCharacterSet")
            ds._medws_charset = charset if isinstance(charset, str) else ""
    except DicomFileError:
        raise
    except InvalidDicomError as exc:
        raise _fail(path, f"not a DICOM file ({exc})") from None
    except OSError as exc:
        raise _fail(path, f"cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # pydicom raises many types on corrupt headers
        raise _fail(path, f"corrupt header ({type(exc).__name__}: {exc})") from None
    return ds


def _pixel_location(ds: Dataset, path: Path, size: int) -> tuple[int | None, int | None, bool]:
    """Return (offset, length, needs_decoding) of the PixelData value (offset None: no raw read)."""
    elem = ds._dict.get(_PIXEL_DATA)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and str(meta.get("TransferSyntaxUID", "")) == _DEFLATED:
        return None, None, elem is not None  # decode through pydicom
    if elem is None:
        return None, None, False
    length = getattr(elem, "length", None)
    offset = getattr(elem, "value_tell", None)
    encapsulated = length == 0xFFFFFFFF or getattr(elem, "is_undefined_length", False)
    if encapsulated:
        return None, None, True
    if offset is not None and length is not None and offset + length > size:
        raise _fail(path, f"truncated: pixel data needs {offset + length} bytes, file has {size}")
    return offset, length, False


def _no_pixels_reason(path: Path, sop_class: str) -> str:
    """Tell a file without Pixel Data from one whose Pixel Data pydicom dropped as cut off."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 28)
    except OSError:
        data = b""
    if b"\xe0\x7f\x10\x00" in data or b"\x7f\xe0\x00\x10" in data:
        return "truncated or corrupt: pixel data has no proper end"
    return f"no pixel data (SOP class {sop_class or 'unknown'})"


def read_header(path: Path) -> FileHeader | NonImageObject:
    """Read one file's header.

    Parameters
    ----------
    path
        A file that should be DICOM.

    Returns
    -------
    FileHeader or NonImageObject
        Image frames with their series tags, or a non-image object (SR, SEG, DICOMDIR...).

    Raises
    ------
    DicomFileError
        Unreadable, empty, non-DICOM, corrupt or truncated file, missing pixel data, or an
        unsupported image (colour, missing Rows/Columns). The message is one line.
    """
    ds = _open(path)
    try:
        return _records(ds, path)
    except DicomFileError:
        raise
    except Exception as exc:  # a value that fails to parse lazily
        raise _fail(path, f"corrupt header ({type(exc).__name__}: {exc})") from None


def _records(ds: Dataset, path: Path) -> FileHeader | NonImageObject:
    meta = getattr(ds, "file_meta", None)
    sop_class = _str(ds, "SOPClassUID") or (_str(meta, "MediaStorageSOPClassUID") if meta else "")
    kind = non_image_kind(sop_class)
    if kind is None and _PIXEL_DATA not in ds._dict and "DirectoryRecordSequence" in ds:
        kind = "DICOMDIR"
    if kind is not None:
        return NonImageObject(
            path=path,
            kind=kind,
            sop_class_uid=sop_class,
            series_uid=_str(ds, "SeriesInstanceUID"),
            study_uid=_str(ds, "StudyInstanceUID"),
            modality=_str(ds, "Modality"),
        )
    offset, length, encapsulated = _pixel_location(ds, path, os.path.getsize(path))
    transfer_syntax = str(meta.TransferSyntaxUID) if meta and "TransferSyntaxUID" in meta else _IMPLICIT
    if transfer_syntax == _DEFLATED:
        offset = None  # offsets refer to the inflated stream, not to the file
    if offset is None and not encapsulated:
        raise _fail(path, _no_pixels_reason(path, sop_class))
    rows, columns = _int(ds, "Rows"), _int(ds, "Columns")
    if not rows or not columns:
        raise _fail(path, "no Rows/Columns")
    bits_allocated = _int(ds, "BitsAllocated") or 16
    fmt = PixelFormat(
        transfer_syntax=transfer_syntax,
        bits_allocated=bits_allocated,
        bits_stored=_int(ds, "BitsStored") or bits_allocated,
        pixel_representation=_int(ds, "PixelRepresentation") or 0,
        samples_per_pixel=_int(ds, "SamplesPerPixel") or 1,
        photometric=_str(ds, "PhotometricInterpretation", "MONOCHROME2"),
    )
    if fmt.samples_per_pixel != 1 or not fmt.photometric.startswith("MONOCHROME"):
        raise _fail(path, f"unsupported colour image ({fmt.photometric}, {fmt.samples_per_pixel} samples)")
    if fmt.bits_allocated not in (1, 8, 16, 32):
        raise _fail(path, f"unsupported BitsAllocated {fmt.bits_allocated}")
    n_frames = _int(ds, "NumberOfFrames")
    n_frames = 1 if not n_frames else n_frames  # 0 or absent: single frame
    info = {
        "study_uid": _str(ds, "StudyInstanceUID"),
        "series_uid": _str(ds, "SeriesInstanceUID"),
        "modality": _str(ds, "Modality", "OT") or "OT",
        "sop_class_uid": sop_class,
        "series_number": _int(ds, "SeriesNumber"),
        "series_description": _str(ds, "SeriesDescription"),
        "study_date": _str(ds, "StudyDate"),
        "study_description": _str(ds, "StudyDescription"),
        "accession_number": _str(ds, "AccessionNumber"),
        "patient_name": _str(ds, "PatientName"),
        "patient_id": _str(ds, "PatientID"),
        "patient_birth_date": _str(ds, "PatientBirthDate"),
        "frame_of_reference_uid": _str(ds, "FrameOfReferenceUID"),
        "gantry_tilt_deg": _first_float(ds, "GantryDetectorTilt"),
        "spacing_between_slices_mm": _first_float(ds, "SpacingBetweenSlices"),
    }
    if n_frames < 1 or n_frames > _MAX_FRAMES:
        raise _fail(path, f"implausible NumberOfFrames {n_frames}")
    if offset is not None and length is not None and not encapsulated:
        if bits_allocated == 1:
            offset = None  # packed bits: decode through pydicom
        else:
            expected = rows * columns * (bits_allocated // 8) * n_frames
            if length < expected:
                raise _fail(
                    path,
                    f"pixel data holds {length} bytes, {n_frames} frame(s) of "
                    f"{rows}x{columns}x{bits_allocated} bits need {expected}",
                )
    common = {
        "path": path,
        "sop_instance_uid": _str(ds, "SOPInstanceUID"),
        "instance_number": _int(ds, "InstanceNumber"),
        "rows": rows,
        "columns": columns,
        "pixel_format": fmt,
        "n_frames": n_frames,
        "acquisition_number": _str(ds, "AcquisitionNumber") or None,
    }
    if n_frames > 1 or "PerFrameFunctionalGroupsSequence" in ds:
        instances = _multiframe_instances(ds, common, offset, n_frames)
    else:
        slope = _first_float(ds, "RescaleSlope")
        instances = [
            DicomInstance(
                **common,
                position_lps_mm=_floats(ds, "ImagePositionPatient", 3),
                orientation=_floats(ds, "ImageOrientationPatient", 6),
                pixel_spacing_yx_mm=_floats(ds, "PixelSpacing", 2) or _floats(ds, "ImagerPixelSpacing", 2),
                rescale_slope=slope if slope else 1.0,
                rescale_intercept=_first_float(ds, "RescaleIntercept") or 0.0,
                pixel_offset=offset,
                pixel_length=length,
                echo_number=_str(ds, "EchoNumbers") or None,
                temporal_position=_str(ds, "TemporalPositionIdentifier") or None,
                slice_thickness_mm=_first_float(ds, "SliceThickness"),
                window=_window(ds),
            )
        ]
    return FileHeader(info=info, instances=instances)


def _multiframe_instances(
    ds: Dataset, common: dict[str, Any], offset: int | None, n_frames: int
) -> list[DicomInstance]:
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence", None) or []
    frame_bytes = common["rows"] * common["columns"] * max(1, common["pixel_format"].bits_allocated // 8)
    # Legacy multi-frame without functional groups: frames stacked along the normal.
    base_position = _floats(ds, "ImagePositionPatient", 3)
    base_orientation = _floats(ds, "ImageOrientationPatient", 6)
    step_mm = _first_float(ds, "SpacingBetweenSlices") or _first_float(ds, "SliceThickness")
    instances = []
    for index in range(n_frames):
        frame = per_frame[index] if index < len(per_frame) else None

        def group(keyword: str, frame: Dataset | None = frame) -> Dataset | None:
            return _item(frame, keyword) or _item(shared, keyword)

        position = _floats(group("PlanePositionSequence"), "ImagePositionPatient", 3)
        orientation = _floats(group("PlaneOrientationSequence"), "ImageOrientationPatient", 6)
        if position is None and base_position is not None and base_orientation is not None:
            position = _legacy_position(base_position, base_orientation, index * (step_mm or 1.0))
        measures = group("PixelMeasuresSequence")
        transform = group("PixelValueTransformationSequence")
        content = _item(frame, "FrameContentSequence")
        echo = _item(frame, "MREchoSequence")
        slope = _first_float(transform, "RescaleSlope") or _first_float(ds, "RescaleSlope")
        intercept = _first_float(transform, "RescaleIntercept")
        if intercept is None:
            intercept = _first_float(ds, "RescaleIntercept") or 0.0
        temporal = None
        if content is not None:
            temporal = _str(content, "TemporalPositionIndex") or _str(content, "StackID") or None
        instances.append(
            DicomInstance(
                **common,
                position_lps_mm=position,
                orientation=orientation or base_orientation,
                pixel_spacing_yx_mm=_floats(measures, "PixelSpacing", 2) or _floats(ds, "PixelSpacing", 2),
                rescale_slope=slope if slope else 1.0,
                rescale_intercept=intercept,
                frame_index=index,
                pixel_offset=None if offset is None else offset + index * frame_bytes,
                pixel_length=None if offset is None else frame_bytes,
                echo_number=_str(echo, "EffectiveEchoTime") or None if echo is not None else None,
                temporal_position=temporal,
                slice_thickness_mm=_first_float(measures, "SliceThickness"),
                window=_window(group("FrameVOILUTSequence")) or _window(ds),
            )
        )
    return instances


def _legacy_position(
    base: tuple[float, float, float], orientation: tuple[float, ...], distance_mm: float
) -> tuple[float, float, float]:
    r, c = orientation[:3], orientation[3:]
    n = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    return (base[0] + n[0] * distance_mm, base[1] + n[1] * distance_mm, base[2] + n[2] * distance_mm)
