"""DICOM Segmentation objects via highdicom, referencing the image's DICOM series.

Layout per case: ``<case>/seg/SEG00001.dcm`` and, when the SEG needs its own copy of the source
(the image came from a volume file, or the export is anonymized so the originals' UIDs no longer
match), ``<case>/image/IM00001.dcm``... A volume-file image is first written as a CT/MR series with
:func:`app.io.dicom_write.write_dicom_series`.

Segments are numbered 1..N in label-id order. Category/type come from the :class:`Segment`'s codes,
else SCT Tissue / SCT Organ. The algorithm type follows the case's :class:`Provenance`: "manual"
source → MANUAL; a model source → AUTOMATIC, or SEMIAUTOMATIC once a reader edited it, both with an
AlgorithmIdentificationSequence (name@version, family Artificial Intelligence). BINARY is the
default (most widely read); LABELMAP needs highdicom ≥ 0.24 and readers that know the 2024 SOP class.
Frames are matched to source instances by position through :class:`Geometry`, not by file order.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pydicom

from analysis._task import TaskContext
from app.io.errors import MedwsIOError
from app.io.export._common import ExportCase, ExportContext, ExportError
from app.model.annotations import Provenance
from app.model.labels import Code, Segment

log = logging.getLogger(__name__)

DEFAULT_CATEGORY = Code("SCT", "85756007", "Tissue")
DEFAULT_TYPE = Code("SCT", "91772007", "Organ")
_SOFTWARE_VERSION = "0.1.0"


def algorithm_type(provenance: Provenance | None) -> str:
    """Return MANUAL, SEMIAUTOMATIC or AUTOMATIC for a segmentation's provenance."""
    if provenance is None or provenance.source in ("", "manual"):
        return "MANUAL"
    return "SEMIAUTOMATIC" if provenance.status == "edited" or provenance.edited_by else "AUTOMATIC"


def _coded(code: Code):  # -> hd.sr.CodedConcept
    import highdicom as hd

    return hd.sr.CodedConcept(code.value, code.scheme, code.meaning)


def segment_descriptions(segments: list[Segment], provenance: Provenance | None) -> list:
    """Build one ``hd.seg.SegmentDescription`` per segment, numbered 1..N in list order."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    kind = algorithm_type(provenance)
    ident = None
    if kind != "MANUAL":
        name, _, version = provenance.source.partition("@")  # type: ignore[union-attr]
        ident = hd.AlgorithmIdentificationSequence(
            name=name or "model", version=version or "unknown", family=codes.cid7162.ArtificialIntelligence
        )
    out = []
    for number, seg in enumerate(segments, 1):
        out.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=(seg.name or f"label_{seg.id}")[:64],
                segmented_property_category=_coded(seg.category or DEFAULT_CATEGORY),
                segmented_property_type=_coded(seg.type or DEFAULT_TYPE),
                algorithm_type=getattr(hd.seg.SegmentAlgorithmTypeValues, kind),
                algorithm_identification=ident,
                display_color=hd.color.CIELabColor.from_rgb(*seg.color_rgb),
                tracking_uid=hd.UID(),
                tracking_id=f"label {seg.id}",
            )
        )
    return out


def _source_datasets(case: ExportCase, ectx: ExportContext, name: str) -> tuple[list[pydicom.Dataset], bool]:
    """Return the source datasets (read fully) and whether they were generated here."""
    if case.source_files:
        try:
            return [pydicom.dcmread(os.fspath(p)) for p in case.source_files], False
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise ExportError(ectx.result.out, f"cannot read source DICOM ({exc.__class__.__name__})") from None
    from app.io.dicom_write import write_dicom_series

    image = case.image
    modality = "MR" if image.modality == "MR" else "CT"
    folder = ectx.staging / name / "image"
    paths = write_dicom_series(
        image.array,
        image.geometry,
        folder,
        modality=modality,
        series_description="" if ectx.deid else image.name[:64],
        window=image.metadata.get("window"),
    )
    for p in paths:
        ectx.result.files.append(p.relative_to(ectx.staging).as_posix())
    return [pydicom.dcmread(p) for p in paths], True


def _frames(datasets: list[pydicom.Dataset], case: ExportCase, labels: np.ndarray) -> np.ndarray:
    """Return ``(n_instances, rows, cols)`` labels, frame k on source instance k (by position)."""
    geometry = case.image.geometry
    frames = np.zeros((len(datasets), *geometry.shape_zyx[1:]), labels.dtype)
    for k, ds in enumerate(datasets):
        if (int(ds.Rows), int(ds.Columns)) != geometry.shape_zyx[1:]:
            raise ValueError(f"source instance {k + 1} is {ds.Rows}x{ds.Columns}, image is {geometry.shape_zyx[1:]}")
        index_zyx = geometry.lps_to_index_zyx([float(v) for v in ds.ImagePositionPatient])
        z = int(np.rint(index_zyx[0]))
        if (
            np.abs(index_zyx - np.rint(index_zyx)).max() > 0.05
            or not 0 <= z < geometry.shape_zyx[0]
            or np.abs(np.rint(index_zyx[1:])).max() > 0
        ):
            raise ValueError(f"source instance {k + 1} does not lie on the image grid")
        frames[k] = labels[z]
    return frames


def write_case(case: ExportCase, ectx: ExportContext, ctx: TaskContext) -> None:
    """Write the DICOM SEG (and the source copies it needs) of one case."""
    import highdicom as hd

    filtered = ectx.labels(case)
    if filtered is None:
        ectx.result.warnings.append(f"{ectx.case_name(case)}: no segmentation passes the filters")
        return
    array, table = filtered
    name = ectx.case_name(case)
    ctx.step(0.05, "source series")
    datasets, generated = _source_datasets(case, ectx, name)
    present = [int(v) for v in np.unique(array) if v]
    if not present:
        ectx.result.warnings.append(f"{name}: segmentation is empty; no SEG written")
        return
    empty = [s.name for s in table if s.id not in present]
    if empty:
        ectx.result.warnings.append(f"{name}: empty segments left out of the SEG: {', '.join(empty)}")
    segments = [table[i] if i in table else Segment(i, f"label_{i}", (128, 174, 128)) for i in present]
    lut = np.zeros(int(array.max()) + 1, np.uint16 if len(present) > 255 else np.uint8)
    lut[present] = np.arange(1, len(present) + 1)
    frames = _frames(datasets, case, lut[array])
    kind = ectx.options.segmentation_type.upper()
    if kind not in ("BINARY", "LABELMAP"):
        raise ValueError(f"segmentation type must be BINARY or LABELMAP, got {kind}")
    ctx.step(0.3, f"{kind} SEG with {len(segments)} segments")
    # highdicom may share DataElement objects with the sources: build the SEG from header-only
    # copies so that de-identifying the SEG cannot touch the image datasets (or twice).
    headers = [_header_copy(ds) for ds in datasets]
    seg = _build(hd, headers, frames, kind, segments, case)
    ctx.step(0.8, "writing")
    if ectx.deid is not None:
        ectx.deid.apply(seg)
        for k, ds in enumerate(datasets):
            ectx.deid.apply(ds)
            if generated:  # rewrite the generated copies in place with their de-identified headers
                _write(ds, ectx.staging / name / "image" / f"IM{k + 1:05d}.dcm")
            else:
                _write(ds, ectx.file(f"{name}/image/IM{k + 1:05d}.dcm"))
    _write(seg, ectx.file(f"{name}/seg/SEG00001.dcm"))


def _build(hd, datasets: list, frames: np.ndarray, kind: str, segments: list[Segment], case: ExportCase):  # noqa: ANN001, ANN202
    """Construct the highdicom Segmentation (pixel values are segment numbers 1..N)."""
    return hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=frames,
        segmentation_type=getattr(hd.seg.SegmentationTypeValues, kind),
        segment_descriptions=segment_descriptions(segments, case.provenance),
        series_instance_uid=hd.UID(),
        series_number=300,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="MedWS",
        manufacturer_model_name="MedWS",
        software_versions=_SOFTWARE_VERSION,
        device_serial_number="0",
        content_label="SEGMENTATION",
    )


def _header_copy(ds: pydicom.Dataset) -> pydicom.Dataset:
    """Return a deep copy of ``ds`` without its pixel data."""
    import copy

    out = pydicom.Dataset()
    for elem in ds:
        if elem.tag != 0x7FE00010:
            out.add(copy.deepcopy(elem))
    out.file_meta = copy.deepcopy(ds.file_meta)
    return out


def _write(ds: pydicom.Dataset, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MedwsIOError(path, f"cannot write DICOM ({exc.strerror or exc})") from None
