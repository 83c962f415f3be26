from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from app.io.deid import BASIC_PROFILE, Deidentifier, DeidOptions, basic_profile_action
from app.io.export import export
from app.io.export._common import ExportOptions
from app.model.geometry import Geometry
from app.model.image import ImageVolume


def test_remove_dates_option_and_nested_sequences():
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.StudyDate, ds.ContentDate = "X^Y", "P1", "20240101", "20240101"
    ds.SeriesDate = "20240101"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.PersonName = "Nested^Name"
    ds.ReferencedImageSequence = Sequence([item])
    ds.add_new(0x50000010, "US", 3)  # curve data
    ds.OtherPatientIDs = ["A", "B"]
    deid = Deidentifier(DeidOptions(dates="remove", salt="s"))
    deid.apply(ds)
    assert ds.StudyDate == "" and ds.ContentDate == "19000101"  # Z and Z/D (dummy keeps type 1 valid)
    assert ds.SeriesDate == "19000101"
    assert ds.SOPInstanceUID != "1.2.3.4" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
    assert ds.ReferencedImageSequence[0].PersonName == "Anonymized"
    assert 0x50000010 not in ds and "OtherPatientIDs" not in ds
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100"]
    # same salt, same UID; another export (another salt) gives another one
    assert Deidentifier(DeidOptions(salt="s")).uid("1.2.3.4") == ds.SOPInstanceUID
    assert Deidentifier().uid("1.2.3.4") != ds.SOPInstanceUID


def test_profile_table_covers_the_core_identifiers():
    for keyword_tag in (
        0x00100010,
        0x00100020,
        0x00100030,
        0x00080080,
        0x00080090,
        0x00080050,
        0x0020000D,
        0x0020000E,
        0x00080018,
        0x00200052,
        0x00081010,
        0x00181000,
        0x00100040,
        0x00101010,
    ):
        assert keyword_tag in BASIC_PROFILE
    assert len(BASIC_PROFILE) > 280
    assert basic_profile_action(0x00091001) == "X" and basic_profile_action(0x60004000) == "X"


def test_anonymized_nifti_export_has_no_phi_names(tmp_path):
    image = ImageVolume(np.zeros((2, 3, 4), np.int16), Geometry((2, 3, 4)), "CT", name="Doe^Jane chest")
    from app.io.export import ExportCase

    export("nifti", [ExportCase("Doe_Jane_PID-12345", image)], tmp_path / "o", options=ExportOptions(anonymize=True))
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["case_0001", "export.json"]
