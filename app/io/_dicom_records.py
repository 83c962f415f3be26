"""Plain records produced by the DICOM header scan (see :mod:`app.io.dicom_scan`).

They hold header values only, never pixels, and are immutable so that any thread (or a worker
process, after pickling) can read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.io.errors import DicomFileError
from app.model.geometry import Geometry

#: Transfer syntaxes whose pixel bytes can be copied straight from the file into the volume.
RAW_LITTLE_ENDIAN = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})


@dataclass(frozen=True)
class PixelFormat:
    """How the stored pixel values of one frame are encoded.

    ``bits_stored <= bits_allocated``; ``pixel_representation`` 1 means two's complement.
    """

    transfer_syntax: str
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    samples_per_pixel: int = 1
    photometric: str = "MONOCHROME2"

    @property
    def is_raw_little_endian(self) -> bool:
        """True when the frame bytes are native little-endian and can be read without decoding."""
        return self.transfer_syntax in RAW_LITTLE_ENDIAN and self.bits_allocated in (8, 16, 32)

    @property
    def stored_dtype(self) -> str:
        """Numpy dtype string of the stored values (e.g. ``"<u2"``)."""
        kind = "i" if self.pixel_representation else "u"
        return f"<{kind}{max(1, self.bits_allocated // 8)}"


@dataclass(frozen=True)
class DicomInstance:
    """One 2-D frame of a series: a single-frame file, or frame ``frame_index`` of a multi-frame file.

    ``position_lps_mm`` is ImagePositionPatient (centre of the first pixel) or None when absent.
    ``pixel_offset`` is the byte offset of this frame's native pixel data in the file (None when
    the data is encapsulated/compressed or the offset is unknown). ``index_z`` is the slice index
    in the series volume (set when the series is built; slices missing from the stack leave gaps).
    """

    path: Path
    sop_instance_uid: str
    instance_number: int | None
    position_lps_mm: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    rows: int
    columns: int
    pixel_spacing_yx_mm: tuple[float, float] | None
    pixel_format: PixelFormat
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    frame_index: int = 0
    n_frames: int = 1
    pixel_offset: int | None = None
    pixel_length: int | None = None
    echo_number: str | None = None
    temporal_position: str | None = None
    acquisition_number: str | None = None
    slice_thickness_mm: float | None = None
    window: tuple[float, float] | None = None
    index_z: int = 0

    @property
    def frame_bytes(self) -> int:
        """Bytes of one native (uncompressed) frame."""
        fmt = self.pixel_format
        return self.rows * self.columns * fmt.samples_per_pixel * max(1, fmt.bits_allocated // 8)


@dataclass
class DicomSeries:
    """One loadable image stack: instances of one series with one orientation and image size.

    Patient fields are for the study index only; never log them or put them into image metadata.
    ``instances`` are sorted by position along the slice normal; ``instances[i].index_z`` gives
    each one's slice in ``geometry`` (``geometry.shape_zyx[0]`` exceeds ``len(instances)`` when
    slices are missing). ``key`` is a stable id: the SeriesInstanceUID, plus a suffix when the
    series was split.
    """

    key: str
    study_uid: str
    series_uid: str
    modality: str
    sop_class_uid: str
    series_number: int | None
    series_description: str
    study_date: str
    study_description: str
    accession_number: str
    patient_name: str
    patient_id: str
    patient_birth_date: str
    frame_of_reference_uid: str
    instances: list[DicomInstance]
    geometry: Geometry
    warnings: list[str] = field(default_factory=list)

    @property
    def n_files(self) -> int:
        """Number of distinct files holding this series' frames."""
        return len({inst.path for inst in self.instances})

    @property
    def is_multiframe(self) -> bool:
        """True when the frames come from a multi-frame file."""
        return any(inst.n_frames > 1 for inst in self.instances)

    @property
    def window(self) -> tuple[float, float] | None:
        """Header window ``(width, level)`` of the middle slice, or None."""
        if not self.instances:
            return None
        return self.instances[len(self.instances) // 2].window

    def __repr__(self) -> str:  # no patient tags in reprs (they end up in logs and tracebacks)
        return (
            f"DicomSeries(key={self.key!r}, modality={self.modality!r}, "
            f"shape_zyx={self.geometry.shape_zyx}, n_instances={len(self.instances)})"
        )


@dataclass(frozen=True)
class NonImageObject:
    """A DICOM object that is not an image stack (SEG, RTSTRUCT, SR, KO, PR, DICOMDIR, ...)."""

    path: Path
    kind: str
    sop_class_uid: str
    series_uid: str
    study_uid: str
    modality: str = ""


@dataclass
class DicomScan:
    """Result of :func:`app.io.dicom_scan.scan_dicom`."""

    series: list[DicomSeries] = field(default_factory=list)
    non_image: list[NonImageObject] = field(default_factory=list)
    errors: list[DicomFileError] = field(default_factory=list)
