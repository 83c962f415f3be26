"""DIMSE against a real Orthanc: C-ECHO, C-FIND (study/series), C-MOVE to our SCP and C-GET, C-STORE of a SEG."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from app.io.loader import load_first_image
from app.io.pacs import PacsError, StudyQuery, echo, find_series, find_studies, retrieve, send
from app.io.pacs.servers import PacsServer
from app.io.study_index import StudyIndex


def test_c_echo(dimse):
    assert echo(dimse) < 5.0


def test_c_echo_to_a_closed_port_is_one_clear_line(orthanc):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = PacsServer("nowhere", ae_title="X", host="127.0.0.1", port=port, timeout_s=2.0)
    with pytest.raises(PacsError) as err:
        echo(server)
    assert "cannot be reached" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["Sample^Lung1", "sample*", "*LUNG1", "Sample^L*"])
def test_c_find_study_by_name_with_wildcards(dimse, orthanc, name):
    (study,) = find_studies(dimse, StudyQuery(patient_name=name))
    assert study.study_uid == orthanc.lung1_study
    assert study.patient_id == "MEDWS-LUNG1" and study.modalities == ("CT",)
    assert study.n_series == 1 and study.n_instances == 48


def test_c_find_by_date_modality_accession(dimse, orthanc):
    uids = {s.study_uid for s in find_studies(dimse, StudyQuery(study_date="20200301-20200331", modality="MR"))}
    assert uids == {orthanc.synth_study}
    (s,) = find_studies(dimse, StudyQuery(accession_number=orthanc.synth_accession))
    assert s.study_uid == orthanc.synth_study and s.accession_number == orthanc.synth_accession
    assert find_studies(dimse, StudyQuery(patient_id="nobody")) == []


def test_c_find_series(dimse, orthanc):
    (series,) = find_series(dimse, orthanc.lung1_study)
    assert series.series_uid == orthanc.lung1_series and series.modality == "CT" and series.n_instances == 48


def test_retrieve_by_move_and_get_into_empty_index_matches_source(dimse, orthanc):
    index = StudyIndex()
    result = retrieve(dimse, orthanc.lung1_study, index=index)
    assert result.received == 48 and result.skipped == 0
    (series,) = index.series(orthanc.lung1_study)
    assert series.n_instances == 48
    files = index.instances(orthanc.lung1_series)
    got = load_first_image(files[0].parent)
    src = load_first_image(orthanc.lung1_files[0].parent)
    assert np.array_equal(got.array, src.array)
    src_uids = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in orthanc.lung1_files}
    assert {p.stem for p in files} == src_uids


def test_retrieve_resumes_missing_instances_only(dimse, orthanc):
    index = StudyIndex()
    retrieve(dimse, orthanc.synth_study, index=index)
    folder = index.instances(orthanc.synth_series)[0].parent
    removed = sorted(folder.glob("*.dcm"))[:2]
    for p in removed:
        p.unlink()
    result = retrieve(dimse, orthanc.synth_study, index=index)
    assert result.received == 2 and result.skipped == 2
    assert all(p.exists() for p in removed)
    assert index.series(orthanc.synth_study)[0].n_instances == 4


def test_move_destination_port_in_use_is_a_clear_error(orthanc, dimse_factory):
    import socket

    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the port may be in TIME_WAIT
        busy.bind(("", orthanc.own_port))
        busy.listen()
        with pytest.raises(PacsError) as err:
            retrieve(dimse_factory("move"), orthanc.synth_study, index=StudyIndex())
    assert f"cannot listen on port {orthanc.own_port}" in str(err.value)


def test_c_store_seg_back_and_find_it(private_orthanc, dimse_factory, lung1_seg):
    server = dimse_factory("move", private_orthanc)
    result = send(server, [lung1_seg])
    assert result.sent == 1 and not result.failed
    modalities = {s.modality for s in find_series(server, private_orthanc.lung1_study)}
    assert modalities == {"CT", "SEG"}
    index = StudyIndex()
    seg_uid = next(s.series_uid for s in find_series(server, private_orthanc.lung1_study) if s.modality == "SEG")
    retrieve(dimse_factory("get", private_orthanc), private_orthanc.lung1_study, series_uids=[seg_uid], index=index)
    assert [s.kind for s in index.series(private_orthanc.lung1_study)] == ["SEG"]


def test_cancelled_dimse_retrieve_leaves_no_series_and_resumes(dimse, orthanc):
    from analysis._task import Cancelled, TaskContext

    index = StudyIndex()
    seen = []
    ctx = TaskContext(report=lambda f, m: seen.append(f), is_cancelled=lambda: len(seen) > 10)
    with pytest.raises(Cancelled):
        retrieve(dimse, orthanc.lung1_study, index=index, ctx=ctx)
    assert index.studies() == []
    result = retrieve(dimse, orthanc.lung1_study, index=index)
    assert result.skipped >= 5 and result.received + result.skipped == 48
    assert index.series(orthanc.lung1_study)[0].n_instances == 48


def test_no_patient_tags_in_logs_at_info_level(dimse, orthanc, caplog):
    import logging

    caplog.set_level(logging.INFO)  # `medws -v`: pynetdicom would log C-FIND identifiers here
    find_studies(dimse, StudyQuery(patient_name="Sample^Lung1"))
    retrieve(dimse, orthanc.synth_study, index=StudyIndex())
    assert "Lung1" not in caplog.text and "MEDWS-LUNG1" not in caplog.text and "Synthetic" not in caplog.text
