"""Worklist dock on the real main window: Next case opens and marks in progress, Mark done, the
switch to a new window when a study is open, and the review clock ticked by real input events."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from PySide6.QtCore import Qt

from app.session.worklist import Worklist

pytestmark = pytest.mark.gl


@pytest.fixture
def worklist(tmp_path):
    paths = []
    for n in range(2):
        img = sitk.GetImageFromArray((np.arange(8 * 16 * 16).reshape(8, 16, 16) % 200 + n).astype(np.int16))
        img.SetSpacing((1.0, 1.0, 2.0))
        paths.append(str(tmp_path / f"ct{n}.nii.gz"))
        sitk.WriteImage(img, paths[-1])
    return Worklist.create(tmp_path / "wl.json", paths, name="demo")


def test_next_case_mark_done_and_switch(qtbot, main_window, worklist, monkeypatch):
    monkeypatch.setenv("MEDWS_READER", "dr_gui")
    panel = main_window.worklist_panel
    panel.reader = "dr_gui"
    launched = []
    panel.launcher = lambda argv: launched.append(argv) or True
    assert panel.load(worklist.path)
    assert panel.cases.count() == 2 and "0/2 done" in panel.title.text()
    assert not panel.done_button.isEnabled()

    qtbot.mouseClick(panel.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(main_window.session.images), timeout=20000)
    assert panel.current.id == "case-001" and panel.status_of("case-001") == "in_progress"
    assert Worklist.load(worklist.path).cases[0].readers["dr_gui"]["started_at"]
    assert main_window.session.active_image.metadata["source_path"].endswith("ct0.nii.gz")

    qtbot.mouseClick(panel.done_button, Qt.MouseButton.LeftButton)
    assert Worklist.load(worklist.path).cases[0].status("dr_gui") == "done" and "1/2 done" in panel.title.text()

    qtbot.mouseClick(panel.next_button, Qt.MouseButton.LeftButton)  # a study is open: save, close, new window
    assert launched == [["view", worklist.cases[1].input]]
    assert Worklist.load(worklist.path).cases[1].status("dr_gui") == "in_progress"
    assert not main_window.isVisible()


def test_review_clock_ticks_on_input_in_the_window(qtbot, main_window):
    clock = main_window.session.review_clock
    assert clock.seconds == 0
    view = next(iter(main_window.grid.slice_views.values()))
    qtbot.mouseMove(view, view.rect().center())
    qtbot.keyClick(main_window.grid, Qt.Key.Key_Shift)
    qtbot.wait(120)
    qtbot.keyClick(main_window.grid, Qt.Key.Key_Shift)
    assert 0.1 <= clock.seconds < 5


def test_menus_offer_the_worklist(main_window):
    titles = {a.text().replace("&", "") for m in main_window.menuBar().actions() if m.menu()
              for a in m.menu().actions()}
    assert "Open worklist…" in titles and "Worklist" in titles
