"""Failures against a real Orthanc: killed mid-retrieve, wrong or missing credentials, TLS verification."""

from __future__ import annotations

import base64
import logging

import pytest

from analysis._task import TaskContext
from app.io.pacs import PacsError, StudyQuery, echo, find_studies, retrieve
from app.io.pacs.servers import PacsServer, secret_env_var
from app.io.pacs.storage import series_dir
from app.io.study_index import StudyIndex


def _killer(server, after: int):
    """A TaskContext that kills ``server`` at the ``after``-th progress report (the first is "Listing series")."""
    calls = []

    def report(fraction, message):
        calls.append(fraction)
        if len(calls) == after:
            server.kill()

    return TaskContext(report=report)


def _assert_one_line(err: PacsError, *needles: str) -> None:
    text = str(err)
    assert "\n" not in text and text.startswith("PACS server '")
    for needle in needles:
        assert needle in text, text


def test_dicomweb_server_killed_mid_retrieve_then_retry_completes(private_web, private_orthanc):
    uploaded = private_orthanc
    index = StudyIndex()
    with pytest.raises(PacsError) as err:
        retrieve(private_web, uploaded.lung1_study, index=index, ctx=_killer(uploaded.server, after=6))
    _assert_one_line(err.value, "retrieve", "connection")
    assert index.series(uploaded.lung1_study) == []
    assert index.studies() == []
    final = series_dir(private_web.name, uploaded.lung1_study, uploaded.lung1_series)
    assert not final.exists()  # the partial files wait in a hidden folder the index never sees
    uploaded.server.restart()
    result = retrieve(private_web, uploaded.lung1_study, index=index)
    assert result.skipped >= 4 and result.received + result.skipped == 48
    assert index.series(uploaded.lung1_study)[0].n_instances == 48
    assert len(index.instances(uploaded.lung1_series)) == 48


@pytest.mark.parametrize("method", ["get", "move"])
def test_dimse_server_killed_mid_retrieve_then_retry_completes(private_orthanc, dimse_factory, method):
    uploaded = private_orthanc
    server = dimse_factory(method, uploaded)
    index = StudyIndex()
    with pytest.raises(PacsError) as err:
        retrieve(server, uploaded.lung1_study, index=index, ctx=_killer(uploaded.server, after=6))
    _assert_one_line(err.value, "retrieve")
    assert index.studies() == []
    uploaded.server.restart()
    result = retrieve(server, uploaded.lung1_study, index=index)
    assert result.skipped >= 4 and result.received + result.skipped == 48
    assert index.series(uploaded.lung1_study)[0].n_instances == 48


def test_wrong_password_is_a_clear_error_and_no_secret_is_logged(orthanc, monkeypatch, caplog, capfd):
    wrong = "Wr0ng-Pa55word-zz"
    server = PacsServer("badpw", url=orthanc.server.dicomweb_url, auth="basic", user=orthanc.user)
    monkeypatch.setenv(secret_env_var("badpw"), wrong)
    caplog.set_level(logging.DEBUG)  # every logger, urllib3 and dicomweb-client included
    for call in (lambda: echo(server), lambda: find_studies(server, StudyQuery(patient_name="Sample*")),
                 lambda: retrieve(server, orthanc.lung1_study, index=StudyIndex())):
        with pytest.raises(PacsError) as err:
            call()
        _assert_one_line(err.value, "authentication failed (HTTP 401)")
        assert wrong not in str(err.value)
    out, errs = capfd.readouterr()
    token = base64.b64encode(f"{orthanc.user}:{wrong}".encode()).decode()
    for text in (caplog.text, out, errs):
        assert wrong not in text and token not in text and orthanc.password not in text


def test_bearer_token_refused_and_missing_secret_named(orthanc, monkeypatch):
    server = PacsServer("tok", url=orthanc.server.dicomweb_url, auth="bearer")
    monkeypatch.setenv(secret_env_var("tok"), "not-a-valid-token")
    with pytest.raises(PacsError) as err:
        echo(server)
    _assert_one_line(err.value, "HTTP 401")
    assert "not-a-valid-token" not in str(err.value)
    monkeypatch.delenv(secret_env_var("tok"))
    with pytest.raises(PacsError) as err:
        echo(server)
    _assert_one_line(err.value, "no token", secret_env_var("tok"))


def test_unreachable_dicomweb_server(monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = PacsServer("gone", url=f"http://127.0.0.1:{port}/dicom-web", timeout_s=2.0)
    with pytest.raises(PacsError) as err:
        find_studies(server, StudyQuery(patient_name="Doe^J*"))
    _assert_one_line(err.value, "refused or unreachable")
    assert "Doe" not in str(err.value)  # no query keys (patient data) in the message


def test_https_is_verified_and_a_ca_bundle_makes_it_work(https_stub, monkeypatch):
    url, cert = https_stub
    monkeypatch.setenv(secret_env_var("tls"), "pw-over-tls")
    untrusted = PacsServer("tls", url=url, auth="basic", user="u")
    with pytest.raises(PacsError) as err:
        echo(untrusted)
    _assert_one_line(err.value, "TLS certificate", "could not be verified")
    trusted = PacsServer("tls", url=url, auth="basic", user="u", ca_bundle=str(cert))
    assert echo(trusted) < 5
    assert find_studies(trusted, StudyQuery(patient_name="x*")) == []
