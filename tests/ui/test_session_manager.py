"""Session folders from the window: autosave, reopen, lock (read-only), recovery prompt, Save / Save As."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from app.io.volume_files import write_image
from app.model.session import Session

pytestmark = pytest.mark.gl

PAINT_BOX = (slice(10, 14), slice(20, 30), slice(30, 40))


@pytest.fixture
def nifti(tmp_path, volume) -> Path:
    return write_image(volume, tmp_path / "phantom.nii.gz")


@pytest.fixture
def answers(monkeypatch):
    """Answers to the session manager's yes/no questions, in order; records the questions asked."""
    from PySide6.QtWidgets import QMessageBox

    state = {"answers": [], "asked": []}

    def question(parent, title, text, *args, **kwargs):
        state["asked"].append(title)
        yes = state["answers"].pop(0) if state["answers"] else True
        return QMessageBox.StandardButton.Yes if yes else QMessageBox.StandardButton.No

    monkeypatch.setattr("ui.session_manager.QMessageBox.question", question)
    return state


@pytest.fixture
def open_window(qtbot):
    """Factory: an interactive MainWindow (dialogs answered by ``answers``) with ``path`` opened."""
    from ui.main_window import MainWindow

    windows = []

    def make(path: Path):
        window = MainWindow(Session(), interactive=True, mapper_kind="cpu")
        window.resize(900, 700)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        with qtbot.waitSignal(window.loader.finished, timeout=20000):
            window.open_paths([str(path)])
        qtbot.waitUntil(lambda: not window.sessions._attach_pending, timeout=5000)
        return window

    yield make
    for window in windows:
        window.close()


def _paint(session: Session):
    seg = session.new_segmentation("Manual")
    seg.table.new_segment("lesion")
    with seg.transaction("Brush"):
        seg.paint(PAINT_BOX, None, 1)
    return seg


def test_edit_is_autosaved_and_back_after_reopening(open_window, answers, nifti, qtbot):
    window = open_window(nifti)
    sessions = window.sessions
    assert sessions.autosaver is not None and sessions.state == "saved"
    assert window.windowTitle().startswith("MedWS — phantom.nii.gz — saved")
    _paint(window.session)
    assert sessions.state == "unsaved changes" and window.isWindowModified()
    assert "unsaved changes" in window.windowTitle()
    qtbot.waitUntil(lambda: (sessions.folder / "journal.wal").stat().st_size > 200, timeout=3000)  # timer ticks
    folder = sessions.folder
    window.close()
    assert not (folder / "lock.json").exists()

    again = open_window(nifti)
    assert again.sessions.folder == folder and answers["asked"] == []
    (seg,) = again.session.segmentations
    assert seg.name == "Manual" and seg.table[1].name == "lesion"
    assert np.all(seg.array[PAINT_BOX] == 1) and seg.array.sum() == seg.array[PAINT_BOX].size
    assert any("Manual" in again.layers.item(i).text() for i in range(again.layers.count()))


def test_save_action_clears_unsaved_state(open_window, answers, nifti, qtbot):
    window = open_window(nifti)
    _paint(window.session)
    assert window.sessions.save_action.shortcut().toString() == "Ctrl+S"
    window.sessions.save_action.trigger()
    assert window.sessions.state == "saved" and not window.isWindowModified()
    qtbot.waitUntil(lambda: window.sessions.autosaver._compactor is None
                    or not window.sessions.autosaver._compactor.is_alive(), timeout=5000)
    from app.session import read_manifest

    assert read_manifest(window.sessions.folder)["counts"]["segmentations"] == 1


def test_second_window_on_the_same_session_opens_read_only(open_window, answers, nifti):
    first = open_window(nifti)
    _paint(first.session)
    first.sessions.save()
    answers["answers"] = [True]
    second = open_window(nifti)
    assert answers["asked"] == ["MedWS: Session in use"]
    assert second.sessions.read_only and second.sessions.autosaver is None
    assert "read-only" in second.windowTitle()
    assert not second.sessions.save_action.isEnabled()
    assert len(second.session.segmentations) == 1  # the saved annotations are shown


def test_session_locked_by_another_process_can_be_declined(open_window, answers, nifti, tmp_path, qtbot):
    first = open_window(nifti)
    folder = first.sessions.folder
    first.close()
    ready = tmp_path / "ready"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import pathlib, sys, time
        from app.session import SessionLock
        lock = SessionLock.acquire({str(folder)!r})
        pathlib.Path({str(ready)!r}).write_text("x")
        sys.stdin.read()
        lock.release()
    """)], stdin=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    try:
        qtbot.waitUntil(ready.exists, timeout=20000)
        answers["answers"] = [False]
        window = open_window(nifti)
        assert answers["asked"] == ["MedWS: Session in use"]
        assert window.sessions.autosaver is None and not window.sessions.read_only
        assert window.sessions.state == "not saved"
    finally:
        holder.communicate(b"", timeout=20)


@pytest.mark.parametrize("recover_it", [True, False])
def test_journal_left_behind_prompts_for_recovery(open_window, answers, nifti, recover_it):
    """A crash after an autosave tick (journal flushed, no final save): the next open asks."""
    from app.io.volume_files import read_volume
    from app.session import Autosaver, default_session_folder, has_recoverable_changes

    crashed = Session()
    crashed.add_image(read_volume(nifti))
    folder = default_session_folder(crashed)
    autosaver = Autosaver(crashed, folder).start()
    _paint(crashed)
    assert autosaver.flush()
    autosaver.close(save=False)  # what a kill -9 after the tick leaves: a journal, no save of the edit
    assert has_recoverable_changes(folder)

    answers["answers"] = [recover_it]
    window = open_window(nifti)
    assert answers["asked"] == ["MedWS: Recover unsaved changes?"]
    assert window.sessions.folder == folder and window.sessions.autosaver is not None
    assert not has_recoverable_changes(folder)
    if recover_it:
        (seg,) = window.session.segmentations
        assert np.all(seg.array[PAINT_BOX] == 1)
    else:
        assert all(not s.array.any() for s in window.session.segmentations)


def test_save_as_moves_the_session(open_window, answers, nifti, tmp_path):
    window = open_window(nifti)
    _paint(window.session)
    old = window.sessions.folder
    assert window.sessions.save_as(tmp_path / "copy")
    new = tmp_path / "copy.medws"
    assert window.sessions.folder == new and (new / "lock.json").exists()
    assert not (old / "lock.json").exists()
    assert window.sessions.state == "saved"
    from app.session import load_session

    assert load_session(new).segmentations[0].array[PAINT_BOX].all()


def test_reopened_boxes_are_not_an_undoable_edit(open_window, answers, nifti, qtbot):
    from app.model.annotations import Box

    window = open_window(nifti)
    box = window.session.boxes.add(Box((0, 0, 0), (5, 5, 5)))
    assert window.annotation_history.can_undo
    window.sessions.save()
    window.close()
    again = open_window(nifti)
    assert box.id in again.session.boxes
    assert not again.annotation_history.can_undo  # Ctrl+Z must not remove what was loaded


def test_labels_opened_again_with_their_image_are_not_duplicated(open_window, answers, nifti, volume, tmp_path,
                                                                  qtbot):
    """``medws view IMAGE --labels L`` twice: the session folder saved L the first time; the second
    start shows it once, and an edited copy is kept next to the file's version."""
    from app.io.volume_files import write_volume

    labels = np.zeros(volume.geometry.shape_zyx, np.uint8)
    labels[PAINT_BOX] = 2
    labels_path = write_volume(labels, volume.geometry, tmp_path / "tumour.nii.gz")

    def start():
        from ui.main_window import MainWindow

        window = MainWindow(Session(), interactive=True, mapper_kind="cpu")
        qtbot.addWidget(window)
        window.show()
        with qtbot.waitSignal(window.loader.finished, timeout=20000):
            window.open_paths([str(nifti)], labels=str(labels_path))
        qtbot.waitUntil(lambda: not window.sessions._attach_pending, timeout=5000)
        return window

    first = start()
    assert [seg.name for seg in first.session.segmentations] == ["tumour"]
    first.sessions.save_action.trigger()
    first.close()
    second = start()
    assert [seg.name for seg in second.session.segmentations] == ["tumour"]  # not a second copy
    with second.session.segmentations[0].transaction("edit"):
        second.session.segmentations[0].paint(PAINT_BOX, None, 1)
    second.sessions.save_action.trigger()
    second.close()
    third = start()  # the file's version and the edited one; starting again adds nothing more
    assert [seg.name for seg in third.session.segmentations] == ["tumour", "tumour"]
    assert sorted(int(seg.array[PAINT_BOX].max()) for seg in third.session.segmentations) == [1, 2]
    third.sessions.save_action.trigger()
    third.close()
    fourth = start()
    assert len(fourth.session.segmentations) == 2
    fourth.close()
