"""``medws pacs ...`` end to end against a real Orthanc (DICOMweb and DIMSE)."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from app.io.pacs.servers import secret_env_var
from app.io.study_index import StudyIndex


@pytest.fixture(autouse=True)
def _no_keyring():
    import keyring
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


def _run(capsys, *argv):
    rc = main(["pacs", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_dicomweb_add_echo_find_get(orthanc, capsys, monkeypatch, tmp_path):
    rc, out, _ = _run(capsys, "add", "web", "--dicomweb", orthanc.server.dicomweb_url, "--user", orthanc.user)
    assert rc == 0 and secret_env_var("web") in out  # no keyring here: told which variable to set
    monkeypatch.setenv(secret_env_var("web"), orthanc.password)
    rc, out, _ = _run(capsys, "list", "--json")
    assert rc == 0 and json.loads(out)[0]["name"] == "web" and orthanc.password not in out
    assert _run(capsys, "echo", "web")[0] == 0
    rc, out, _ = _run(capsys, "find", "web", "--patient-name", "SAMPLE^L*", "--json")
    (study,) = json.loads(out)
    assert rc == 0 and study["study_uid"] == orthanc.lung1_study
    assert study["patient_name"] == "Sample^Lung1" and study["patient_id"] == "MEDWS-LUNG1"
    assert study["study_date"] and study["modalities"] == ["CT"]
    assert study["n_series"] == 1 and study["n_instances"] == 48
    rc, out, _ = _run(capsys, "find", "web", "--study-date", "20200301-20200331", "--modality", "MR", "--json")
    assert [s["study_uid"] for s in json.loads(out)] == [orthanc.synth_study]
    rc, out, _ = _run(capsys, "find", "web", "--patient-id", "SYN-7")
    assert rc == 0 and orthanc.synth_study in out
    dest = tmp_path / "dest"
    rc, out, _ = _run(capsys, "get", "web", orthanc.lung1_study, "--dest", str(dest), "--json")
    assert rc == 0 and json.loads(out)["received"] == 48
    assert len(list((dest / orthanc.lung1_study / orthanc.lung1_series).glob("*.dcm"))) == 48
    assert StudyIndex().series(orthanc.lung1_study)[0].n_instances == 48


def test_cli_wrong_password_is_one_line_without_the_secret(orthanc, capsys, monkeypatch):
    _run(capsys, "add", "web", "--dicomweb", orthanc.server.dicomweb_url, "--user", orthanc.user)
    monkeypatch.setenv(secret_env_var("web"), "definitely-wrong-pw")
    rc, out, err = _run(capsys, "find", "web", "--patient-name", "Sample*")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "authentication failed" in err and "definitely-wrong-pw" not in out + err


def test_cli_dimse_add_echo_find_get_series(orthanc, capsys):
    address = f"ORTHANCTEST@127.0.0.1:{orthanc.server.dicom_port}"
    rc, _, _ = _run(capsys, "add", "dim", "--dimse", address, "--own-aet", "MEDWSTEST", "--own-port",
                    str(orthanc.own_port))
    assert rc == 0
    assert _run(capsys, "echo", "dim")[0] == 0
    rc, out, _ = _run(capsys, "find", "dim", "--patient-id", "MEDWS-LUNG1", "--json")
    assert [s["n_instances"] for s in json.loads(out)] == [48]
    rc, out, _ = _run(capsys, "get", "dim", orthanc.synth_study, "--series", orthanc.synth_series)
    assert rc == 0 and "4 instances received" in out


def test_cli_send_seg(private_orthanc, capsys, monkeypatch, lung1_seg, tmp_path):
    _run(capsys, "add", "priv", "--dicomweb", private_orthanc.server.dicomweb_url, "--user", private_orthanc.user)
    monkeypatch.setenv(secret_env_var("priv"), private_orthanc.password)
    rc, out, _ = _run(capsys, "send", "priv", str(lung1_seg), "--json")
    assert rc == 0 and json.loads(out)["sent"] == 1
    rc, out, _ = _run(capsys, "find", "priv", "--patient-name", "Sample*", "--json")
    assert "SEG" in json.loads(out)[0]["modalities"]
    (tmp_path / "junk.dcm").write_bytes(b"not dicom")
    rc, _, err = _run(capsys, "send", "priv", str(tmp_path / "junk.dcm"))
    assert rc == 2 and "junk.dcm" in err and "cannot be sent" in err


def test_cli_bad_arguments(capsys):
    rc, _, err = _run(capsys, "add", "x", "--dimse", "nonsense")
    assert rc == 2 and "AE@host:port" in err
    assert _run(capsys, "echo", "missing")[0] == 2


def test_cli_send_a_session_folder_as_dicom_seg(private_orthanc, capsys, monkeypatch, tmp_path):
    from app.io.loader import load_first_image
    from app.model import Session
    from app.session import save_session

    session = Session()
    session.add_image(load_first_image(private_orthanc.lung1_files[0].parent))
    labels = session.new_segmentation("tumour")
    labels.table.new_segment()
    labels.paint((slice(10, 14), slice(200, 240), slice(200, 240)), None, 1)
    folder = save_session(session, tmp_path / "lung1.medws")
    _run(capsys, "add", "priv", "--dicomweb", private_orthanc.server.dicomweb_url, "--user", private_orthanc.user)
    monkeypatch.setenv(secret_env_var("priv"), private_orthanc.password)
    rc, out, err = _run(capsys, "send", "priv", str(folder), "--json")
    assert rc == 0 and json.loads(out)["sent"] == 1, err
    rc, out, _ = _run(capsys, "find", "priv", "--patient-id", "MEDWS-LUNG1", "--json")
    assert set(json.loads(out)[0]["modalities"]) == {"CT", "SEG"}


def test_cli_add_stores_the_password_in_the_keyring_not_the_file(orthanc, capsys, monkeypatch):
    import io

    import keyring
    from keyring.backend import KeyringBackend

    from app.io.pacs.servers import servers_file

    class Memory(KeyringBackend):
        priority = 1
        store: dict = {}

        def get_password(self, service, username):
            return self.store.get((service, username))

        def set_password(self, service, username, password):
            self.store[(service, username)] = password

        def delete_password(self, service, username):
            self.store.pop((service, username), None)

    keyring.set_keyring(Memory())
    monkeypatch.delenv(secret_env_var("kr"), raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(orthanc.password + "\n"))
    rc, out, _ = _run(capsys, "add", "kr", "--dicomweb", orthanc.server.dicomweb_url, "--user", orthanc.user,
                      "--secret-stdin")
    assert rc == 0 and "stored in the system keyring" in out
    assert orthanc.password not in servers_file().read_text()
    assert _run(capsys, "echo", "kr")[0] == 0  # the secret comes back from the keyring
    assert _run(capsys, "remove", "kr")[0] == 0 and Memory.store == {}
