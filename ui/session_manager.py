"""``SessionManager``: the window's session folder — lock, recovery prompt, autosave, Save / Save As.

When the first image of a study is opened, its session folder is found
(:func:`~app.session.find_session_for`, else :func:`~app.session.default_session_folder`) and
locked. Saved annotations are loaded into the window's :class:`~app.model.session.Session`
(autosaved edits newer than the last save are recovered if the user agrees, else discarded), and an
:class:`~app.session.Autosaver` journals every edit, ticked by a 500 ms ``QTimer``. A folder
locked by another MedWS (another process, or another window of this one) can be opened
read-only. File ▸ Save (Ctrl+S) writes a full save in the background, File ▸ Save As moves the
session to a new folder, and closing the window makes a final save and releases the lock. The
window title ends with the state: "saved", "unsaved changes", "read-only" or "not saved".
GUI thread only; every file operation is a call into :mod:`app.session`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.io.errors import MedwsIOError
from app.model.review import adopt_review_state
from app.model.session import Session
from app.session import (
    Autosaver,
    SessionLock,
    SessionLockedError,
    default_session_folder,
    discard_journal,
    find_session_for,
    has_recoverable_changes,
    load_session,
    recover,
    save_as,
)
from app.session.folder import MANIFEST_NAME, SUFFIX

if TYPE_CHECKING:
    from app.model.image import ImageVolume
    from app.model.labels import LabelVolume
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)

#: Session folders held by a window of this process (a lock is per process, so two windows of one
#: MedWS would otherwise both "hold" it). resolved folder → manager.
_HELD: dict[Path, SessionManager] = {}

TICK_MS = 500


def _file_menu(window: MainWindow) -> tuple[Any, QAction | None]:
    """The File menu and its Quit action (entries are inserted above Quit)."""
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == "File":
            menu = action.menu()
            quit_action = next((a for a in menu.actions() if a.text().replace("&", "") == "Quit"), None)
            return menu, quit_action
    return window.menuBar().addMenu("&File"), None


class SessionManager:
    """Attach a window's session to its session folder and keep it saved.

    Attributes
    ----------
    folder
        The session folder (None until an image is opened, or when the user declined a locked one).
    autosaver
        The running :class:`Autosaver` (None when read-only or detached).
    read_only
        True when the folder is edited elsewhere and was opened read-only.
    dirty
        True when there are edits since the last full save (they are in the journal already).
    """

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.session: Session = window.session
        self.folder: Path | None = None
        self.lock: SessionLock | None = None
        self.autosaver: Autosaver | None = None
        self.read_only = False
        self.dirty = False
        self.errors: list[str] = []
        self._attach_pending = False
        self._edit_connections: list[tuple[Any, Any]] = []
        self._closed = False
        self.timer = QTimer(window)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        menu, quit_action = _file_menu(window)
        self.save_action = QAction("&Save session", window)
        self.save_action.setShortcut(QKeySequence.StandardKey.Save)
        self.save_action.setStatusTip("Save the annotations of this study now (edits are also autosaved)")
        self.save_action.triggered.connect(self.save)
        self.save_as_action = QAction("Save session &as…", window)
        self.save_as_action.setShortcut(QKeySequence.StandardKey.SaveAs)
        self.save_as_action.triggered.connect(self.save_as_dialog)
        for action in (self.save_action, self.save_as_action):
            menu.insertAction(quit_action, action) if quit_action else menu.addAction(action)
        if quit_action is not None:
            menu.insertSeparator(quit_action)
        self.session.image_added.connect(self._on_session_image_added)
        self.session.active_image_changed.connect(self._on_session_active_image_changed)
        self._update_state()
        if self.session.images:  # installed after the first frame (fast start): attach the open study
            self._on_session_image_added(self.session.active_image or self.session.images[0])

    # ------------------------------------------------------------------ attach
    def _on_session_image_added(self, image: ImageVolume) -> None:
        if self.folder is None and not self._attach_pending and "derived_from" not in image.metadata:
            self._attach_pending = True
            QTimer.singleShot(0, self._attach_later)  # after the loader has added every image

    def _attach_later(self) -> None:
        self._attach_pending = False
        if self.folder is None and not self._closed and self.session.images:
            self.attach()

    def _find_folder(self) -> Path:
        image = self.session.active_image or self.session.images[0]
        study_uid = self.session.study_uid or image.metadata.get("study_uid")
        found = find_session_for(study_uid=study_uid, image_path=image.metadata.get("source_path"))
        return found or default_session_folder(self.session)

    def attach(self, folder: str | os.PathLike[str] | None = None) -> str:
        """Lock, load (or recover) and start autosaving the session folder of the open study.

        Returns
        -------
        str
            "editing", "read-only" or "detached" (the user declined, or the folder failed).
        """
        folder = Path(folder) if folder is not None else self._find_folder()
        other = _HELD.get(folder.resolve())
        try:
            if other is not None and other is not self:
                raise SessionLockedError(folder, {"pid": os.getpid(), "host": "this computer",
                                                  "started_at": other.lock.owner["started_at"] if other.lock else 0})
            lock = SessionLock.acquire(folder)
        except SessionLockedError as exc:
            return self._offer_read_only(folder, exc)
        except MedwsIOError as exc:
            self._error("Cannot open the session", str(exc))
            return "detached"
        try:
            if (folder / MANIFEST_NAME).exists():
                self._adopt(self._load_or_recover(folder))
            self.autosaver = Autosaver(self.session, folder, lock=lock, on_error=self._on_autosave_error).start()
        except Exception as exc:  # noqa: BLE001 - shown to the user; the study stays open, unsaved
            lock.release()
            log.exception("cannot attach session folder")
            self._error("Cannot open the session", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return "detached"
        self.folder, self.lock, self.read_only = folder, lock, False
        _HELD[folder.resolve()] = self
        self._watch_edits()
        self.dirty = False
        self.timer.start()
        self._update_state()
        return "editing"

    def _offer_read_only(self, folder: Path, exc: SessionLockedError) -> str:
        line = str(exc).splitlines()[0]
        if not self.ask("Session in use", f"{line}\n\nOpen its saved annotations read-only?"):
            self._update_state()
            return "detached"
        try:
            if (folder / MANIFEST_NAME).exists():
                self._adopt(load_session(folder))
        except MedwsIOError as err:
            self._error("Cannot open the session", str(err))
            return "detached"
        self.folder, self.read_only = folder, True
        self._update_state()
        return "read-only"

    def _load_or_recover(self, folder: Path) -> Session:
        if has_recoverable_changes(folder):
            if self.ask("Recover unsaved changes?",
                        "MedWS was not closed properly: this study has autosaved edits newer than its last "
                        "save.\n\nRecover them? (No discards them.)"):
                return recover(folder)
            discard_journal(folder)
        return load_session(folder)

    def _adopt(self, stored: Session) -> None:
        """Move the stored session's annotations into the window's session (which keeps its images)."""
        s = self.session
        s.uid = stored.uid
        s.study_uid = s.study_uid or stored.study_uid
        known = {(r.get("series_uid"), r.get("source_path")) for r in s.sources}
        s.sources.extend(r for r in stored.sources if (r.get("series_uid"), r.get("source_path")) not in known)
        # a stored segmentation identical to one the window already has (``medws view IMAGE --labels
        # L`` again, on a study whose folder saved L last time) is that one, not another copy
        duplicate_of = {}
        for i, labels in enumerate(stored.segmentations):
            j = next((j for j, mine in enumerate(s.segmentations) if mine.same_content(labels)), None)
            if j is not None:
                duplicate_of[i] = j
        kept = [i for i in range(len(stored.segmentations)) if i not in duplicate_of]
        index_map = {i: len(s.segmentations) + k for k, i in enumerate(kept)} | duplicate_of
        adopt_review_state(s, stored, index_map)  # originals of proposals (segment refs moved) and review time
        for i in kept:
            labels = stored.segmentations[i]
            s.segmentations.append(labels)
            s.segmentation_added.emit(labels)
        history = getattr(self.window, "annotation_history", None)  # loading is not an undoable edit
        with history.suspended() if history is not None else contextlib.nullcontext():
            for box in stored.boxes:
                s.boxes.add(box)
            for finding in stored.findings:
                s.findings.add(finding)
        s.measurements = list(stored.measurements)

    # ------------------------------------------------------------------ state
    def _watch_edits(self) -> None:
        s = self.session
        self._connect(s.segmentation_added, self._on_session_segmentation_added)
        for labels in s.segmentations:
            self._watch_labels(labels)
        for items in (s.boxes, s.findings):
            for signal in (items.added, items.changed, items.removed):
                self._connect(signal, self._mark_dirty)

    def _watch_labels(self, labels: LabelVolume) -> None:
        self._connect(labels.changed, self._mark_dirty)
        self._connect(labels.table.changed, self._mark_dirty)

    def _on_session_segmentation_added(self, labels: LabelVolume) -> None:
        self._watch_labels(labels)
        self._mark_dirty()

    def _connect(self, signal: Any, slot: Any) -> None:
        signal.connect(slot)
        self._edit_connections.append((signal, slot))

    def _disconnect_edits(self) -> None:
        for signal, slot in self._edit_connections:
            signal.disconnect(slot)
        self._edit_connections.clear()

    def _mark_dirty(self, *_: object) -> None:
        if not self.dirty:
            self.dirty = True
            self._update_state()

    @property
    def state(self) -> str:
        """"saved", "unsaved changes", "read-only" or "not saved" (no session folder)."""
        if self.read_only:
            return "read-only"
        if self.autosaver is None:
            return "not saved"
        return "unsaved changes" if self.dirty else "saved"

    def _on_session_active_image_changed(self, image: ImageVolume | None) -> None:
        self._update_state()

    def _update_state(self) -> None:
        image = self.session.active_image
        base = f"MedWS — {image.name}" if image is not None else "MedWS"
        state = self.state
        if image is not None or self.folder is not None:
            base += f" — {state}"
        self.window.setWindowTitle(base + "[*]")
        self.window.setWindowModified(state == "unsaved changes")
        self.save_action.setEnabled(self.autosaver is not None)
        self.save_as_action.setEnabled(bool(self.session.images) or self.folder is not None)

    # ------------------------------------------------------------------ actions
    def tick(self) -> None:
        """Hand the edits since the last tick to the journal (500 ms timer)."""
        if self.autosaver is not None:
            self.autosaver.tick()

    def save(self) -> bool:
        """File ▸ Save: a full save, written in the background; False when there is nothing to save to."""
        if self.autosaver is None:
            if self.session.images and not self.read_only:
                return self.save_as_dialog()
            return False
        try:
            self.autosaver.save(wait=False)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._on_autosave_error(exc)
            return False
        self.dirty = False
        self._update_state()
        self.window.status.showMessage(f"Saved session {self.folder.name if self.folder else ''}", 5000)
        return True

    def save_as_dialog(self) -> bool:
        """File ▸ Save As: ask for a new session folder (``*.medws``) and move the session there."""
        path, _ = QFileDialog.getSaveFileName(self.window, "Save session as", str(Path.home() / f"session{SUFFIX}"),
                                              f"MedWS session (*{SUFFIX})")
        return bool(path) and self.save_as(path)

    def save_as(self, folder: str | os.PathLike[str]) -> bool:
        """Save the session (a copy under a new session id) to ``folder`` and keep editing it there."""
        folder = Path(folder)
        if not folder.name.endswith(SUFFIX):
            folder = folder.with_name(folder.name + SUFFIX)
        try:
            if self.autosaver is not None:
                old = self.folder
                self.autosaver.save_as(folder)
                _HELD.pop(old.resolve(), None) if old is not None else None
                self.lock = self.autosaver.lock
            else:
                save_as(self.session, folder)
                self.autosaver = Autosaver(self.session, folder, on_error=self._on_autosave_error).start()
                self.lock = self.autosaver.lock
                self._watch_edits()
                self.timer.start()
        except Exception as exc:  # noqa: BLE001 - shown to the user
            log.warning("save as failed: %s", exc)
            self._error("Save As failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return False
        self.folder, self.read_only, self.dirty = folder, False, False
        _HELD[folder.resolve()] = self
        self._update_state()
        self.window.status.showMessage(f"Session saved as {folder}", 5000)
        return True

    def _on_autosave_error(self, exc: BaseException) -> None:
        self.dirty = True
        self._update_state()
        self._error("Autosave failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    # ------------------------------------------------------------------ dialogs
    def ask(self, title: str, text: str) -> bool:
        """Ask a yes/no question (Yes is the default)."""
        answer = QMessageBox.question(self.window, f"MedWS: {title}", text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def _error(self, title: str, line: str) -> None:
        self.errors.append(f"{title}: {line}")
        log.warning("%s: %s", title, line)
        box = QMessageBox(QMessageBox.Icon.Warning, f"MedWS: {title}", line, QMessageBox.StandardButton.Ok,
                          self.window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Final save, stop autosaving and release the lock (window close)."""
        if self._closed:
            return
        self._closed = True
        self.timer.stop()
        self.session.image_added.disconnect(self._on_session_image_added)
        self.session.active_image_changed.disconnect(self._on_session_active_image_changed)
        self._disconnect_edits()
        if self.folder is not None and _HELD.get(self.folder.resolve()) is self:
            del _HELD[self.folder.resolve()]
        if self.autosaver is not None:
            try:
                self.autosaver.close()
            except Exception:  # noqa: BLE001 - the journal still holds every edit: recovered next time
                log.exception("final save failed; the autosave journal keeps the edits")
            self.autosaver = None
