"""PACS dialog against a real Orthanc on loopback: search, retrieve into the index and open, send the session."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from app.model.session import Session
from ui.pacs_dialog import PacsDialog, build_query, session_seg_files

pytestmark = pytest.mark.gl

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("medws_ui_pacs_fixtures", _HERE.parent / "app/io/pacs/conftest.py")
pacs_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = pacs_fixtures
_spec.loader.exec_module(pacs_fixtures)


def test_build_query_accepts_wildcards_iso_dates_and_ranges():
    q = build_query("Synth*", "SYN-?", "2020-03-01", "2020-03-31", "mr")
    assert (q.patient_name, q.patient_id, q.study_date, q.modality) == ("Synth*", "SYN-?", "20200301-20200331", "MR")
    assert build_query(date_from="20200315").study_date == "20200315-"  # on or after
    assert build_query(date_from="2020-03-15", date_to="2020-03-15").study_date == "20200315"
    assert build_query(date_to="2020-03-15").study_date == "-20200315"
    with pytest.raises(ValueError):
        build_query(date_from="March")


@pytest.fixture(scope="module")
def synthetic_orthanc(tmp_path_factory):
    """An Orthanc of this module holding only the small synthetic MR study (fast to start and move)."""
    root = tmp_path_factory.mktemp("ui-orthanc")
    own_port = pacs_fixtures.orthanc_server.free_port()
    server = pacs_fixtures.start_orthanc(root / "server", own_port)
    try:
        server.upload(pacs_fixtures.write_synthetic(root / "synthetic"))
        yield server
    finally:
        server.kill()


@pytest.fixture
def configured(synthetic_orthanc, monkeypatch):
    """The Orthanc saved in the PACS settings (DICOMweb, basic auth; password from the env var)."""
    from app.io.pacs.servers import PacsServer, secret_env_var, upsert_server

    monkeypatch.setenv(secret_env_var("ui-orthanc"), pacs_fixtures.orthanc_server.PASSWORD)
    upsert_server(PacsServer("ui-orthanc", url=synthetic_orthanc.dicomweb_url, auth="basic",
                             user=pacs_fixtures.orthanc_server.USER, timeout_s=10.0))
    return synthetic_orthanc


@pytest.fixture
def window(qtbot, monkeypatch):
    from ui.main_window import MainWindow

    monkeypatch.setattr("ui.session_manager.QMessageBox.question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    window = MainWindow(Session(), interactive=True, mapper_kind="cpu")
    window.resize(900, 700)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()


def _dialog(window) -> PacsDialog:
    window.pacs_action.trigger()
    dialog = window.pacs_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_no_server_configured_says_how_to_add_one(window):
    dialog = _dialog(window)
    assert dialog.server() is None and not dialog.search_button.isEnabled()
    assert "medws pacs add" in dialog.last_message


def test_bad_date_is_shown_in_the_dialog(window, configured):
    dialog = _dialog(window)
    dialog.date_from.setText("yesterday")
    assert dialog.search() is None
    assert "study date" in dialog.last_message
    assert dialog.send_session() is None  # no study open yet: nothing to send
    assert dialog.last_message.startswith("Open a study")


def test_search_retrieve_and_open_then_send_the_session(window, configured, qtbot):
    dialog = _dialog(window)
    assert dialog.server().name == "ui-orthanc"
    dialog.name_edit.setText("synth*")
    dialog.modality_combo.setCurrentText("MR")
    with qtbot.waitSignal(dialog.search().signals.finished, timeout=20000):
        assert dialog.progress.isVisibleTo(dialog)
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 0).text() == "Synthetic Test"
    assert dialog.table.item(0, 2).text() == "2020-03-15"
    assert dialog.retrieve_button.isEnabled()

    with qtbot.waitSignal(window.loader.finished, timeout=60000):
        job = dialog.retrieve_selected()
        assert job is not None
    assert window.session.active_image is not None
    assert window.session.active_image.geometry.shape_zyx == (4, 32, 32)
    assert window.study_index.series(dialog.results[0].study_uid)  # indexed
    qtbot.waitUntil(lambda: window.sessions.autosaver is not None, timeout=5000)

    seg = window.session.new_segmentation("Manual")
    seg.table.new_segment("lesion")
    with seg.transaction("Brush"):
        seg.paint((slice(1, 3), slice(8, 16), slice(8, 16)), None, 1)
    assert dialog.send_button.isEnabled()
    assert dialog.send_session() is not None
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60000)
    assert dialog.last_message.startswith("Sent 1 instance"), dialog.last_message
    from app.io.pacs import find_series

    modalities = {s.modality for s in find_series(dialog.server(), dialog.results[0].study_uid)}
    assert modalities == {"MR", "SEG"}


def test_session_seg_files_refuses_a_session_without_segmentation(tmp_path, volume):
    from analysis._task import NULL_CONTEXT
    from app.io.volume_files import write_image
    from app.session import save_session

    session = Session()
    image = volume.__class__(volume.array, volume.geometry, modality="CT", name="phantom",
                             metadata={"source_path": str(write_image(volume, tmp_path / "p.nii.gz"))})
    session.add_image(image)
    save_session(session, tmp_path / "s.medws")
    with pytest.raises(ValueError, match="no segmentation"):
        session_seg_files(tmp_path / "s.medws", tmp_path / "out", ctx=NULL_CONTEXT)
    assert np.all(volume.array == image.array)
