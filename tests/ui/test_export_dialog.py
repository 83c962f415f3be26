"""File ▸ Export dataset…: dialog → session save → export Job with status-bar progress and cancel."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from app.io.volume_files import write_image
from app.model.session import Session

pytestmark = pytest.mark.gl

PAINT_BOX = (slice(10, 14), slice(20, 30), slice(30, 40))


@pytest.fixture
def window(qtbot, tmp_path, volume, monkeypatch):
    """An interactive MainWindow with the phantom opened and its session folder attached."""
    from PySide6.QtWidgets import QMessageBox

    from ui.main_window import MainWindow

    monkeypatch.setattr("ui.session_manager.QMessageBox.question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    nifti = write_image(volume, tmp_path / "phantom.nii.gz")
    win = MainWindow(Session(), interactive=True, mapper_kind="cpu")
    win.resize(900, 700)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.loader.finished, timeout=20000):
        win.open_paths([str(nifti)])
    qtbot.waitUntil(lambda: win.sessions.autosaver is not None, timeout=5000)
    yield win
    win.close()


def _paint(session: Session):
    seg = session.new_segmentation("Manual")
    seg.table.new_segment("lesion")
    with seg.transaction("Brush"):
        seg.paint(PAINT_BOX, None, 1)
    return seg


def _open_dialog(window, out: Path, fmt: str = "nifti"):
    action = window.exporter.action
    assert action in window.menuBar().actions()[0].menu().actions()  # File menu
    action.trigger()
    dialog = window.exporter.dialog
    assert dialog is not None and dialog.isVisible()
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(fmt))
    dialog.folder_edit.setText(str(out))
    return dialog


def test_dialog_defaults_anonymize_and_reviewed_statuses(window):
    from app.io.export import EXPORTERS

    dialog = window.exporter.show_dialog()
    assert [dialog.format_combo.itemData(i) for i in range(dialog.format_combo.count())] == list(EXPORTERS)
    assert dialog.anonymize_check.isChecked()
    assert "PS3.15" in dialog.anonymize_check.text()
    assert dialog.statuses() == {"accepted", "edited", "manual"}
    assert not dialog.overwrite_check.isChecked()
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert not ok.isEnabled()  # no folder yet
    dialog.folder_edit.setText("/tmp/somewhere")
    assert ok.isEnabled()
    for check in dialog.status_checks.values():
        check.setChecked(False)
    assert not ok.isEnabled()  # nothing would be exported
    dialog.status_checks["proposed"].setChecked(True)
    options = dialog.options()
    assert options.anonymize and options.statuses == {"proposed"} and not options.overwrite
    for check in dialog.status_checks.values():
        check.setChecked(True)
    assert dialog.options().statuses is None  # every status: no filter
    dialog.reject()


def test_export_nifti_from_the_dialog_writes_the_painted_labels(window, qtbot, tmp_path):
    from app.io.volume_files import read_volume

    seg = _paint(window.session)
    assert window.sessions.state == "unsaved changes"
    out = tmp_path / "dataset"
    dialog = _open_dialog(window, out)
    dialog.accept()  # saves the session, then starts the Job
    job = window.exporter.job
    assert job is not None
    assert window.sessions.state == "saved"
    assert window.status.progress.isVisibleTo(window) and window.status.cancel_button.isVisibleTo(window)
    qtbot.waitUntil(lambda: window.exporter.job is None, timeout=30000)  # results arrive queued
    assert not window.status.progress.isVisibleTo(window)

    manifest = json.loads((out / "export.json").read_text())
    assert manifest["format"] == "nifti" and manifest["anonymized"] and manifest["n_cases"] == 1
    (case,) = {Path(f).parts[0] for f in manifest["files"]}
    assert case.startswith("case_")  # anonymized: pseudonymous case name
    labels = read_volume(out / case / "labels.nii.gz")
    np.testing.assert_array_equal(labels.array, seg.array)
    assert json.loads((out / case / "labels.json").read_text())["labels"][0]["name"] == "lesion"
    image = read_volume(out / case / "image.nii.gz")
    np.testing.assert_array_equal(image.array, window.session.active_image.array)

    title, line = window.exporter.messages[-1]
    assert title == "Export finished"
    assert "1 case(s)" in line and f"{len(manifest['files'])} files" in line and str(out) in line
    assert window.exporter.last_box is not None and window.exporter.last_box.text() == line
    window.exporter.last_box.close()


def test_cancel_from_the_status_bar_leaves_no_output_folder(window, qtbot, tmp_path, monkeypatch):
    import app.io.export.nifti as nifti_export

    _paint(window.session)
    entered = threading.Event()
    real_write_case = nifti_export.write_case

    def slow_write_case(case, ectx, ctx):
        real_write_case(case, ectx, ctx)  # files land in the staging folder...
        entered.set()
        while True:  # ...then wait for Cancel (raises Cancelled)
            ctx.step(0.9, "waiting")
            threading.Event().wait(0.01)

    monkeypatch.setattr(nifti_export, "write_case", slow_write_case)
    out = tmp_path / "cancelled"
    _open_dialog(window, out).accept()
    job = window.exporter.job
    qtbot.waitUntil(entered.is_set, timeout=30000)
    assert any(p.name.endswith(".partial") for p in tmp_path.iterdir())
    with qtbot.waitSignal(job.signals.cancelled, timeout=10000):
        window.status.cancel_button.click()
    qtbot.waitUntil(lambda: window.exporter.job is None, timeout=5000)
    assert not out.exists()
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
    assert not window.status.progress.isVisibleTo(window)
    assert "cancelled" in window.status.currentMessage()


def test_failed_export_shows_one_line_and_details(window, qtbot, tmp_path):
    _paint(window.session)
    out = tmp_path / "full"
    out.mkdir()
    (out / "old.txt").write_text("x")
    dialog = _open_dialog(window, out)
    dialog.accept()  # overwrite is off
    assert window.exporter.job is not None
    qtbot.waitUntil(lambda: window.exporter.job is None, timeout=30000)
    title, line = window.exporter.messages[-1]
    assert title == "Export failed" and "not empty" in line and "\n" not in line
    box = window.exporter.last_box
    assert box.text() == line and "Nothing was written" in box.detailedText()
    box.close()
    assert (out / "old.txt").exists() and sorted(p.name for p in out.iterdir()) == ["old.txt"]


def test_export_without_an_open_study_says_why(main_window):
    dialog = main_window.exporter.show_dialog()
    dialog.folder_edit.setText("/tmp/nowhere")
    dialog.accept()
    assert main_window.exporter.job is None
    assert main_window.exporter.messages[-1][0] == "Nothing to export"
