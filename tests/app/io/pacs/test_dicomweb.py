"""DICOMweb against a real Orthanc: QIDO with wildcards, WADO-RS into the index, STOW-RS of a DICOM SEG."""

from __future__ import annotations

import numpy as np
import pytest

from analysis._task import Cancelled, TaskContext
from app.io.loader import load_first_image
from app.io.pacs import StudyQuery, find_series, find_studies, retrieve, send
from app.io.pacs.dicomweb import qido_query_string
from app.io.pacs.storage import series_dir
from app.io.study_index import StudyIndex


def _uids(results):
    return {r.study_uid for r in results}


@pytest.mark.parametrize("name", ["Sample^Lung1", "sample^lung1", "Sample*", "*Lung1", "Sample^L*", "S?mple^Lung1"])
def test_find_by_patient_name_with_wildcards(web, orthanc, name):
    found = find_studies(web, StudyQuery(patient_name=name))
    assert _uids(found) == {orthanc.lung1_study}
    (study,) = found
    assert study.patient_id == "MEDWS-LUNG1" and study.modalities == ("CT",)
    assert study.n_series == 1 and study.n_instances == 48


def test_dicomweb_client_encoding_matches_nothing_on_orthanc_but_ours_does(web, orthanc):
    # Why the query string is built by hand: dicomweb-client sends PatientName=Sample%2A.
    import requests
    from dicomweb_client import DICOMwebClient

    session = requests.Session()
    session.auth = (orthanc.user, orthanc.password)
    theirs = DICOMwebClient(web.url, session=session).search_for_studies(search_filters={"PatientName": "Sample*"})
    version = orthanc.server.rest("GET", "/system")["Version"]
    if version.startswith("1.10"):
        assert theirs == []
    assert qido_query_string({"PatientName": "Doe^J*", "StudyDate": "20200101-20201231"}) == (
        "?PatientName=Doe?J*&StudyDate=20200101-20201231"
    )
    assert len(find_studies(web, StudyQuery(patient_name="Sample*"))) == 1


def test_find_by_id_date_range_modality_and_accession(web, orthanc):
    synth, lung = {orthanc.synth_study}, {orthanc.lung1_study}
    assert _uids(find_studies(web, StudyQuery(patient_id="SYN-*"))) == synth
    assert _uids(find_studies(web, StudyQuery(patient_id="MEDWS-LUNG1"))) == lung
    assert _uids(find_studies(web, StudyQuery(study_date="20200301-20200331"))) == synth
    assert _uids(find_studies(web, StudyQuery(study_date=orthanc.synth_date))) == synth
    assert _uids(find_studies(web, StudyQuery(study_date="2019-01-01-2019-12-31"))) == set()
    assert _uids(find_studies(web, StudyQuery(study_date="-20201231"))) == synth
    assert _uids(find_studies(web, StudyQuery(modality="MR"))) == synth
    assert lung <= _uids(find_studies(web, StudyQuery(modality="ct")))
    assert _uids(find_studies(web, StudyQuery(accession_number=orthanc.synth_accession))) == synth
    assert _uids(find_studies(web, StudyQuery(accession_number="ACC-*", patient_name="synth*"))) == synth
    assert _uids(find_studies(web, StudyQuery(patient_name="Nobody*"))) == set()


def test_retrieve_into_empty_index_matches_source_voxels(web, orthanc, tmp_path):
    index = StudyIndex()
    assert index.studies() == []
    reports = []
    result = retrieve(web, orthanc.lung1_study, index=index, dest=tmp_path / "dest",
                      ctx=TaskContext(report=lambda f, m: reports.append(f)))
    assert result.received == 48 and result.skipped == 0 and result.bytes_received > 20e6
    assert reports[-1] == 1.0 and all(b >= a - 1e-9 for a, b in zip(reports, reports[1:], strict=False))
    (series,) = index.series(orthanc.lung1_study)
    assert series.series_uid == orthanc.lung1_series and series.n_instances == 48
    files = index.instances(orthanc.lung1_series)
    assert len(files) == 48 and all(series_dir(web.name, orthanc.lung1_study, orthanc.lung1_series) == p.parent
                                    for p in files)
    got = load_first_image(files[0].parent)
    src = load_first_image(orthanc.lung1_files[0].parent)
    assert got.array.shape == src.array.shape and np.array_equal(got.array, src.array)
    assert np.allclose(got.geometry.origin_lps_mm, src.geometry.origin_lps_mm)
    copied = sorted((tmp_path / "dest" / orthanc.lung1_study / orthanc.lung1_series).glob("*.dcm"))
    assert len(copied) == 48
    again = retrieve(web, orthanc.lung1_study, index=index)
    assert again.received == 0 and again.skipped == 48


def test_cancelled_retrieve_leaves_no_series_and_resumes(web, orthanc):
    index = StudyIndex()
    seen = []

    def report(fraction, message):
        seen.append(fraction)

    ctx = TaskContext(report=report, is_cancelled=lambda: len(seen) > 12)
    with pytest.raises(Cancelled):
        retrieve(web, orthanc.lung1_study, index=index, ctx=ctx)
    assert index.series(orthanc.lung1_study) == []
    result = retrieve(web, orthanc.lung1_study, index=index)
    assert result.skipped >= 5 and result.received == 48 - result.skipped
    assert index.series(orthanc.lung1_study)[0].n_instances == 48


def test_retrieve_one_series_of_a_study(web, orthanc):
    index = StudyIndex()
    result = retrieve(web, orthanc.synth_study, series_uids=[orthanc.synth_series], index=index)
    assert result.received == 4
    assert [s.series_uid for s in index.series(orthanc.synth_study)] == [orthanc.synth_series]


def test_send_dicom_seg_back_and_find_it(private_web, private_orthanc, lung1_seg):
    web, orthanc = private_web, private_orthanc
    result = send(web, [lung1_seg])
    assert result.sent == 1 and not result.failed
    series = find_series(web, orthanc.lung1_study)
    assert "SEG" in {s.modality for s in series}
    seg_series = next(s for s in series if s.modality == "SEG")
    index = StudyIndex()
    retrieve(web, orthanc.lung1_study, series_uids=[seg_series.series_uid], index=index)
    assert [s.kind for s in index.series(orthanc.lung1_study)] == ["SEG"]
    assert "SEG" in find_studies(web, StudyQuery(patient_name="Sample*"))[0].modalities
