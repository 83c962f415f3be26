"""Server settings and secrets (keyring or environment, never the file), query validation, multipart reader."""

from __future__ import annotations

import json
import os
import stat

import keyring
import pytest
from keyring.backend import KeyringBackend

from app.io.pacs import PacsError, StudyQuery, parse_date_range
from app.io.pacs._multipart import TruncatedMultipart, iter_parts
from app.io.pacs.dicomweb import qido_query_string
from app.io.pacs.servers import (
    PacsServer,
    get_secret,
    get_server,
    keyring_available,
    load_servers,
    parse_dimse_address,
    remove_server,
    secret_env_var,
    servers_file,
    set_secret,
    upsert_server,
)


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self):
        super().__init__()
        self.store = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        self.store.pop((service, username), None)


@pytest.fixture
def memory_keyring():
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


@pytest.fixture
def no_keyring():
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(before)


def test_servers_round_trip_without_secrets_in_the_file(memory_keyring, monkeypatch):
    monkeypatch.delenv(secret_env_var("pacs1"), raising=False)
    web = PacsServer("pacs1", url="https://pacs.example.org/dicom-web/", auth="basic", user="alice")
    dim = PacsServer("pacs2", ae_title="ORTHANC", host="10.0.0.5", port=4242, own_ae_title="WS1", own_port=4006,
                     retrieve="get")
    upsert_server(web)
    upsert_server(dim)
    assert set_secret("pacs1", "hunter2-secret")
    assert load_servers() == {"pacs1": web, "pacs2": dim}
    assert get_server("pacs1").url == "https://pacs.example.org/dicom-web"
    text = servers_file().read_text()
    assert "hunter2" not in text and json.loads(text)["servers"][0]["user"] == "alice"
    assert stat.S_IMODE(os.stat(servers_file()).st_mode) == 0o600
    assert get_secret("pacs1") == "hunter2-secret"
    monkeypatch.setenv(secret_env_var("pacs1"), "from-env")
    assert get_secret("pacs1") == "from-env"  # the environment overrides the keyring (CI)
    assert remove_server("pacs1")
    assert memory_keyring.store == {} and list(load_servers()) == ["pacs2"]
    with pytest.raises(PacsError, match="unknown server"):
        get_server("pacs1")


def test_without_keyring_the_secret_comes_from_the_environment(no_keyring, monkeypatch):
    assert not keyring_available()
    assert not set_secret("x", "secret")
    assert get_secret("x") is None
    monkeypatch.setenv("MEDWS_PACS_SECRET_MY_PACS_1", "s")
    assert secret_env_var("my-pacs.1") == "MEDWS_PACS_SECRET_MY_PACS_1" and get_secret("my-pacs.1") == "s"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "bad name", "url": "http://h/dicom-web"},
        {"name": "a", "url": "http://user:pw@h/dicom-web"},
        {"name": "a", "url": "ftp://h/x"},
        {"name": "a"},
        {"name": "a", "url": "http://h", "ae_title": "X", "host": "h", "port": 1},
        {"name": "a", "url": "http://h", "auth": "basic"},
        {"name": "a", "url": "http://h", "auth": "digest"},
        {"name": "a", "ae_title": "WAY-TOO-LONG-AE-TITLE", "host": "h", "port": 104},
        {"name": "a", "ae_title": "X", "host": "h", "port": 70000},
        {"name": "a", "ae_title": "X", "host": "h", "port": 104, "retrieve": "fetch"},
    ],
)
def test_invalid_servers_are_refused(kwargs):
    with pytest.raises(ValueError):
        PacsServer(**kwargs)


def test_dimse_address():
    assert parse_dimse_address("ORTHANC@pacs.local:4242") == ("ORTHANC", "pacs.local", 4242)
    assert parse_dimse_address("A B@[::1]:104") == ("A B", "::1", 104)
    for bad in ("ORTHANC@pacs", "pacs:4242", "@h:1"):
        with pytest.raises(ValueError):
            parse_dimse_address(bad)


def test_query_validation_and_encoding():
    assert parse_date_range("2024-01-01-2024-12-31") == "20240101-20241231"
    for bad in ("2024", "yesterday", "-"):
        with pytest.raises(ValueError):
            StudyQuery(study_date=bad)
    with pytest.raises(ValueError):
        StudyQuery(study_uid="1.2.3/../../etc")
    assert "Doe" not in repr(StudyQuery(patient_name="Doe^John"))
    q = qido_query_string({"PatientName": "Müller^H*", "PatientID": "A&B", "AccessionNumber": "", "StudyDate": "1-2"})
    assert q == "?PatientName=M?ller?H*&PatientID=A?B&StudyDate=1-2"
    assert qido_query_string({"ModalitiesInStudy": "C T"}) == "?ModalitiesInStudy=C%20T"


def _multipart(parts, boundary=b"XyZ"):
    body = b""
    for p in parts:
        body += b"--" + boundary + b"\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n"
    return body + b"--" + boundary + b"--\r\n"


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 10_000])
def test_multipart_parts_survive_any_chunking(chunk):
    parts = [b"DICM" + bytes(range(256)) * 3, b"\r\n--Xy not a boundary", b"third"]
    body = _multipart(parts)
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    assert list(iter_parts(chunks, b"XyZ")) == parts


@pytest.mark.parametrize("cut", [10, 60, -12, -3])
def test_truncated_multipart_never_yields_the_cut_part(cut):
    parts = [b"A" * 40, b"B" * 40]
    body = _multipart(parts)[:cut]
    got = []
    with pytest.raises(TruncatedMultipart):
        for p in iter_parts([body], b"XyZ"):
            got.append(p)
    assert all(p in parts for p in got)
