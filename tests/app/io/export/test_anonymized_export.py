"""De-identified exports: basic-profile tags gone, references valid, no PHI in names (see test_deid.py)."""

from __future__ import annotations

import datetime as dt
import json

import highdicom as hd
import numpy as np
import pydicom
import pytest

from app.io.deid import DeidOptions, basic_profile_action
from app.io.export import ExportError, export
from app.io.export._common import ExportOptions
from app.model.annotations import Provenance

PHI = ("Doe^Jane", "PID-12345", "General Hospital", "Dr^Who", "ACC-777", "SECRET-PRIVATE")


def _add_phi(paths):
    """Put typical PHI (and a private block) into every source file."""
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.InstitutionName = "General Hospital"
        ds.ReferringPhysicianName = "Dr^Who"
        ds.AccessionNumber = "ACC-777"
        ds.PatientBirthDate = "19700101"
        ds.OtherPatientIDs = "OTHER-1"
        ds.StudyDate = "20240315"
        ds.OperatorsName = "Op^Erator"
        ds.add_new(0x60003000, "OB", b"\x00" * 8)  # overlay data
        block = ds.private_block(0x0009, "ACME 1.0", create=True)
        block.add_new(0x01, "LO", "SECRET-PRIVATE")
        ds.save_as(p)


def _all_elements(ds):
    yield from ds.iterall()
    yield from ds.file_meta


def _strings(ds):
    return {str(e.value) for e in _all_elements(ds) if e.VR != "SQ" and e.VR not in ("OB", "OW")}


@pytest.fixture
def anonymized(cases, tmp_path):
    case = cases.make_case(source_dir=tmp_path / "src", provenance=Provenance(source="net@1", status="accepted"))
    _add_phi(case.source_files)
    originals = [pydicom.dcmread(p) for p in case.source_files]
    options = ExportOptions(
        anonymize=True, deid=DeidOptions(date_offset_days=-100), mapping_path=tmp_path / "private" / "mapping.json"
    )
    export("dicom-seg", [case], tmp_path / "out", options=options)
    out = tmp_path / "out"
    images = sorted(out.glob("case_0001/image/*.dcm"))
    seg_path = out / "case_0001/seg/SEG00001.dcm"
    return case, originals, images, seg_path, out, tmp_path / "private" / "mapping.json"


def test_every_basic_profile_tag_is_gone_or_replaced(anonymized):
    case, originals, images, seg_path, out, _ = anonymized
    assert len(images) == len(originals)
    original_uids = {str(e.value) for ds in originals for e in _all_elements(ds) if e.VR == "UI"}
    original_uids = {u for u in original_uids if not u.startswith("1.2.840.10008.")}
    for path in [*images, seg_path]:
        ds = pydicom.dcmread(path)
        for elem in _all_elements(ds):
            action = basic_profile_action(int(elem.tag))
            assert not elem.tag.is_private, path
            assert action is None or action != "X", f"{elem.keyword} should be removed"
            if elem.VR == "UI" and elem.keyword != "ImplementationClassUID":
                assert str(elem.value) not in original_uids, f"{elem.keyword} keeps an original UID"
            if action == "Z" and elem.keyword not in ("PatientName", "PatientID") and elem.VR not in ("DA", "TM"):
                assert elem.value in ("", None) or len(elem.value) == 0, elem.keyword
            original = originals[0].get(elem.tag)
            if action and "D" in action and elem.VR not in ("SQ", "UI", "DA", "TM", "DT") and original is not None:
                assert not original.value or elem.value != original.value, f"{elem.keyword} kept its value"
        text = " ".join(_strings(ds))
        for phi in (*PHI, "OTHER-1", "Op^Erator", "19700101"):
            assert phi not in text, (path.name, phi)
        assert ds.PatientName == "ANON0001^" and ds.PatientID == "ANON0001"  # a pseudonym, never empty
        assert ds.PatientIdentityRemoved == "YES"
        assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100", "113107"]
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert "PatientBirthDate" not in ds or ds.PatientBirthDate == ""
    img = pydicom.dcmread(images[0])
    assert img.StudyDate == (dt.date(2024, 3, 15) - dt.timedelta(days=100)).strftime("%Y%m%d")
    assert 0x60003000 not in img and "InstitutionName" not in img or img.InstitutionName == "ANONYMIZED"


def test_references_between_image_and_seg_stay_valid(anonymized):
    case, _, images, seg_path, _, _ = anonymized
    imgs = [pydicom.dcmread(p) for p in images]
    seg = hd.seg.segread(seg_path)
    assert seg.StudyInstanceUID == imgs[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == imgs[0].FrameOfReferenceUID
    ref = seg.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == imgs[0].SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in ref.ReferencedInstanceSequence} <= {d.SOPInstanceUID for d in imgs}
    px = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[d.SOPInstanceUID for d in imgs], combine_segments=True
    )
    assert np.array_equal(px > 0, case.labels.array > 0)
    # pixels of the image copies are untouched
    assert np.array_equal(
        np.stack([d.pixel_array for d in imgs]), np.stack([pydicom.dcmread(p).pixel_array for p in case.source_files])
    )


def test_no_phi_in_file_names_or_json_and_mapping_only_where_asked(anonymized):
    _, _, _, _, out, mapping = anonymized
    names = " ".join(str(p.relative_to(out)) for p in out.rglob("*"))
    assert "study1" not in names and "PID" not in names
    manifest = (out / "export.json").read_text()
    assert "study1" not in manifest and "PID-12345" not in manifest
    data = json.loads(mapping.read_text())
    assert data["patients"] == {"PID-12345": "ANON0001"} and data["cases"] == {"study1": "case_0001"}
    assert data["date_offset_days"] == -100 and (mapping.stat().st_mode & 0o777) == 0o600


def test_mapping_inside_the_export_is_refused(cases, tmp_path):
    with pytest.raises(ExportError, match="re-identification"):
        export(
            "nifti",
            [cases.make_case()],
            tmp_path / "out",
            options=ExportOptions(anonymize=True, mapping_path=tmp_path / "out" / "map.json"),
        )
    assert not (tmp_path / "out").exists()
