"""Worklist dock ("Next case", "Mark done") and the review-time clock ticked by user input.

* :class:`WorklistPanel` shows the cases of a worklist (:mod:`app.session.worklist`) with the
  reader's status. **Next case** marks the next not-done case in progress and opens it through
  ``MainWindow.open_paths``. A window holds one study, so when a study is already open the window
  is closed (its session saved) and a new MedWS window is started on the next case; the worklist
  and current case are kept in the window settings, so the new window's dock shows them.
* :class:`ReviewActivityFilter` (an application event filter) ticks ``session.review_clock`` on
  key presses, mouse presses, moves and wheel events inside the window, so active review time
  (idle gaps over the clock's cut-off excluded) is saved with the session.

GUI thread only; file operations are calls into :mod:`app.session.worklist`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QProcess, Qt
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.io.errors import MedwsIOError
from app.paths import reader_name
from app.session.worklist import Case, Worklist

if TYPE_CHECKING:
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)

_ACTIVITY = frozenset({QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove,
                       QEvent.Type.Wheel, QEvent.Type.MouseButtonDblClick})
_MARKS = {"not_started": "○", "in_progress": "◐", "done": "●"}
SETTINGS_PATH, SETTINGS_CASE = "worklist/path", "worklist/current"


class ReviewActivityFilter(QObject):
    """Ticks ``window.session.review_clock`` on user input aimed at ``window`` (or its children)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() in _ACTIVITY and isinstance(obj, QWidget) and obj.window() is self.window:
            self.window.session.review_clock.tick()
        return False


def _start_medws(argv: list[str]) -> bool:
    """Start a detached MedWS window (the default launcher of the next case)."""
    return QProcess.startDetached(sys.executable, ["-m", "ui.main", *argv])[0]


class WorklistPanel(QWidget):
    """The case list of a worklist with the reader's status, Next case and Mark done."""

    def __init__(self, window: MainWindow, *, launcher: Callable[[list[str]], bool] = _start_medws) -> None:
        super().__init__()
        self.window = window
        self.launcher = launcher
        self.worklist: Worklist | None = None
        self.current: Case | None = None
        self.reader = reader_name()
        self.title = QLabel("No worklist")
        self.title.setWordWrap(True)
        self.cases = QListWidget()
        self.cases.setObjectName("worklist_cases")
        self.open_button = QPushButton("Open worklist…")
        self.next_button = QPushButton("Next case")
        self.next_button.setObjectName("worklist_next")
        self.done_button = QPushButton("Mark done")
        self.done_button.setObjectName("worklist_done")
        self.open_button.clicked.connect(self.open_dialog)
        self.next_button.clicked.connect(self.next_case)
        self.done_button.clicked.connect(self.mark_done)
        self.cases.itemDoubleClicked.connect(lambda item: self.open_case(self._case_of(item)))
        buttons = QHBoxLayout()
        for b in (self.next_button, self.done_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.cases, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.open_button)
        self._refresh()

    # ------------------------------------------------------------------ worklist
    def open_dialog(self) -> None:
        """Ask for a worklist file and show it."""
        path, _ = QFileDialog.getOpenFileName(self, "Open worklist", "", "Worklists (*.json);;All files (*)")
        if path:
            self.load(path)

    def load(self, path: str | Path, current: str | None = None) -> bool:
        """Show the worklist at ``path`` (remembered in the window settings); False with a message on error."""
        try:
            self.worklist = Worklist.load(path)
        except MedwsIOError as exc:
            self._error(str(exc))
            return False
        ids = [c.id for c in self.worklist.cases]
        self.current = self.worklist.cases[ids.index(current)] if current in ids else None
        self.window.settings.setValue(SETTINGS_PATH, str(Path(path).resolve()))
        self._refresh()
        return True

    def _reload(self) -> None:
        """Re-read the file (another reader or the CLI may have changed it), keeping the current case."""
        if self.worklist is not None:
            current = self.current.id if self.current else None
            self.worklist = Worklist.load(self.worklist.path)
            self.current = next((c for c in self.worklist.cases if c.id == current), None)

    def _case_of(self, item: QListWidgetItem) -> Case:
        return next(c for c in self.worklist.cases if c.id == item.data(Qt.ItemDataRole.UserRole))  # type: ignore

    # ------------------------------------------------------------------ actions
    def next_case(self) -> Case | None:
        """Open the next case this reader has not done (after the current one); None when all are done."""
        if self.worklist is None:
            return None
        try:
            self._reload()
        except MedwsIOError as exc:
            self._error(str(exc))
            return None
        case = self.worklist.next_case(self.reader, after=self.current.id if self.current else None)
        if case is None:
            self.window.status.showMessage("Every case of the worklist is done", 5000)
            self._refresh()
            return None
        return self.open_case(case)

    def open_case(self, case: Case) -> Case:
        """Mark ``case`` in progress and open it (in this window when empty, else in a new window)."""
        assert self.worklist is not None
        self.worklist.set_status(case, "in_progress", self.reader)
        self.current = case
        self.window.settings.setValue(SETTINGS_CASE, case.id)
        self.window.settings.sync()
        self._refresh()
        if self.window.session.images:  # one study per window: save and close this one, open the next
            self.window.close()
            if not self.launcher(["view", case.input]):
                log.warning("could not start a MedWS window for the next case")
        else:
            self.window.open_paths([case.input])
        return case

    def mark_done(self) -> None:
        """Mark the current case done for this reader."""
        if self.worklist is None or self.current is None:
            return
        try:
            self._reload()
            self.worklist.set_status(self.current.id, "done", self.reader)
        except MedwsIOError as exc:
            self._error(str(exc))
            return
        self._reload()
        self._refresh()
        self.window.status.showMessage(f"{self.current.id} done", 5000)

    # ------------------------------------------------------------------ display
    def _refresh(self) -> None:
        self.cases.clear()
        wl = self.worklist
        self.next_button.setEnabled(wl is not None)
        self.done_button.setEnabled(wl is not None and self.current is not None)
        if wl is None:
            self.title.setText("No worklist (File ▸ Open worklist…)")
            return
        counts = wl.counts(self.reader)
        self.title.setText(f"<b>{wl.name}</b> — reader {self.reader}: {counts['done']}/{len(wl.cases)} done")
        for case in wl.cases:
            status = case.status(self.reader)
            mark = "▶ " if self.current is not None and case.id == self.current.id else ""
            item = QListWidgetItem(f"{mark}{_MARKS[status]} {case.id}  {Path(case.input).name}")
            item.setData(Qt.ItemDataRole.UserRole, case.id)
            item.setToolTip(f"{case.input}\n{status.replace('_', ' ')}")
            self.cases.addItem(item)

    def status_of(self, case_id: str) -> str:
        """The reader's status of a case, as shown."""
        return next(c for c in self.worklist.cases if c.id == case_id).status(self.reader)  # type: ignore[union-attr]

    def _error(self, text: str) -> None:
        log.warning("worklist: %s", text)
        if self.window.interactive:
            QMessageBox.warning(self, "MedWS worklist", text)
        else:
            self.window.status.showMessage(text, 8000)


def install_worklist(window: MainWindow) -> WorklistPanel:
    """Add the Worklist dock (hidden until a worklist is opened), File ▸ Open worklist…, View ▸ Worklist,
    and the review-time activity filter. Reopens the worklist remembered in the window settings."""
    from PySide6.QtWidgets import QApplication

    panel = WorklistPanel(window)
    dock = QDockWidget("Worklist", window)
    dock.setObjectName("dock_worklist")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    dock.hide()
    panel.dock = dock  # type: ignore[attr-defined]
    for action in window.menuBar().actions():
        menu = action.menu()
        name = action.text().replace("&", "")
        if menu is not None and name == "File":
            quit_action = next((a for a in menu.actions() if a.text().replace("&", "") == "Quit"), None)
            open_action = menu.addAction("Open &worklist…")
            open_action.triggered.connect(lambda: (panel.open_dialog(), dock.show() if panel.worklist else None))
            if quit_action is not None:
                menu.insertAction(quit_action, open_action)
        elif menu is not None and name == "View":
            menu.addSeparator()
            menu.addAction(dock.toggleViewAction())
    window.review_activity = ReviewActivityFilter(window)  # type: ignore[attr-defined]
    QApplication.instance().installEventFilter(window.review_activity)
    remembered = window.settings.value(SETTINGS_PATH)
    if window.interactive and remembered and Path(str(remembered)).is_file():
        if panel.load(str(remembered), current=window.settings.value(SETTINGS_CASE)):
            dock.show()
    return panel
