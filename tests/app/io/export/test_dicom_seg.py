from __future__ import annotations

import shutil
import subprocess

import highdicom as hd
import numpy as np
import pydicom
import pytest

from app.io.export import export
from app.io.export._common import ExportOptions
from app.io.export.dicom_seg import algorithm_type
from app.model.annotations import Provenance

DCIODVFY = shutil.which("dciodvfy")


def _read_back(seg_path, case, source_paths):
    """Return the SEG's labels on the case grid (label ids), placed through LPS coordinates."""
    seg = hd.seg.segread(seg_path)
    number_to_id = {int(s.SegmentNumber): int(s.TrackingID.split()[-1]) for s in seg.SegmentSequence}
    uids = [pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in source_paths]
    by_instance = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, combine_segments=True)
    volume = seg.get_volume(combine_segments=True)
    # every voxel of highdicom's volume goes through its affine to LPS, then through our Geometry
    idx = np.indices(volume.array.shape).reshape(3, -1).T
    lps = np.c_[idx, np.ones(len(idx))] @ volume.affine.T
    zyx = np.rint(case.image.geometry.lps_to_index_zyx(lps[:, :3])).astype(int)
    placed = np.zeros(case.image.geometry.shape_zyx, np.uint16)
    lut = np.zeros(max(number_to_id) + 1, np.uint16)
    for number, label_id in number_to_id.items():
        lut[number] = label_id
    placed[tuple(zyx.T)] = lut[volume.array.reshape(-1)]
    return seg, lut[by_instance], placed


def test_binary_seg_round_trips_voxels_in_lps_and_codes(dicom_case, tmp_path):
    result = export("dicom-seg", [dicom_case], tmp_path / "out")
    assert result.files == ["study1/seg/SEG00001.dcm"]  # originals are referenced, not copied
    seg, by_instance, placed = _read_back(tmp_path / "out/study1/seg/SEG00001.dcm", dicom_case, dicom_case.source_files)
    expected = dicom_case.labels.array
    assert np.array_equal(by_instance, expected)
    assert np.array_equal(placed, expected)
    assert seg.SegmentationType == "BINARY"
    src = pydicom.dcmread(dicom_case.source_files[0])
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == src.SeriesInstanceUID
    assert seg.FrameOfReferenceUID == src.FrameOfReferenceUID
    liver, lesion = seg.SegmentSequence
    assert liver.SegmentLabel == "liver" and liver.SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"
    assert lesion.SegmentedPropertyCategoryCodeSequence[0].CodeMeaning == "Tissue"
    assert lesion.SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Organ"
    assert liver.SegmentAlgorithmType == "AUTOMATIC" and liver.SegmentAlgorithmName == "lesionnet"


def test_volume_image_is_written_as_a_series_first_oblique(cases, tmp_path):
    case = cases.make_case("vol", cases.OBLIQUE)
    export("dicom-seg", [case], tmp_path / "out")
    images = sorted((tmp_path / "out/vol/image").glob("*.dcm"))
    assert len(images) == cases.OBLIQUE.shape_zyx[0]
    _, by_instance, placed = _read_back(tmp_path / "out/vol/seg/SEG00001.dcm", case, images)
    assert np.array_equal(by_instance, case.labels.array)
    assert np.array_equal(placed, case.labels.array)


def test_labelmap_type_round_trips(dicom_case, tmp_path):
    export("dicom-seg", [dicom_case], tmp_path / "out", options=ExportOptions(segmentation_type="LABELMAP"))
    seg = hd.seg.segread(tmp_path / "out/study1/seg/SEG00001.dcm")
    assert seg.SegmentationType == "LABELMAP"
    uids = [pydicom.dcmread(p).SOPInstanceUID for p in dicom_case.source_files]
    px = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, combine_segments=True)
    names = {int(s.SegmentNumber): s.SegmentLabel for s in seg.SegmentSequence}
    assert {names[v] for v in np.unique(px) if v} == {"liver", "lesion"}
    assert np.array_equal(px > 0, dicom_case.labels.array > 0)


def test_algorithm_type_follows_provenance():
    assert algorithm_type(None) == "MANUAL"
    assert algorithm_type(Provenance()) == "MANUAL"
    assert algorithm_type(Provenance(source="net@1", status="proposed")) == "AUTOMATIC"
    assert algorithm_type(Provenance(source="net@1", status="edited", edited_by="alice")) == "SEMIAUTOMATIC"


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) is not installed")
def test_binary_seg_passes_dciodvfy(dicom_case, tmp_path):
    for anonymize in (False, True):
        out = tmp_path / f"out{anonymize}"
        export("dicom-seg", [dicom_case], out, options=ExportOptions(anonymize=anonymize))
        run = subprocess.run([DCIODVFY, str(out / "study1/seg/SEG00001.dcm")], capture_output=True, text=True)
        errors = [line for line in run.stderr.splitlines() if line.startswith("Error")]
        assert errors == [], errors
