"""File ▸ Export dataset…: the export dialog and the background export of the window's session.

:class:`ExportDialog` only collects choices (format, output folder, anonymization, review-status
filter, overwrite) and turns them into :class:`~app.io.export.ExportOptions`. :class:`DatasetExporter`
owns the menu action: on OK it saves the session (a full save, waited for, because
:func:`app.session.cases.export_cases` reads the last committed save), then runs
:func:`export_session_job` in a :class:`~app.controllers.jobs.Job` with progress in the status bar
and its Cancel button (the pattern of :mod:`ui.analysis_menu`). The result is a message with the
number of cases and files and the output folder; a failure is an error box (one line + details).
The exporter writes atomically, so a cancelled or failed export leaves no output folder.
GUI thread only, except :func:`export_session_job`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.controllers.jobs import Job
from app.io.export import EXPORTERS, ExportOptions, ExportResult
from app.model.annotations import REVIEW_STATUSES

if TYPE_CHECKING:
    from analysis._task import TaskContext
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)

#: Format key → what the combo box shows.
FORMAT_TITLES = {
    "dicom-seg": "DICOM SEG",
    "seg-nrrd": "Slicer .seg.nrrd",
    "nifti": "NIfTI image + labelmap",
    "coco": "COCO (PNG slices + JSON)",
    "nnunet": "nnU-Net v2 dataset",
    "csv": "CSV tables (boxes, findings, measurements)",
}

#: Review statuses exported by default.
DEFAULT_STATUSES = frozenset({"accepted", "edited", "manual"})


def export_session_job(folder: str, fmt: str, out: str, options: ExportOptions, *,
                       ctx: TaskContext) -> tuple[ExportResult, list[str]]:
    """Worker thread: read the saved session ``folder`` as cases and export them to ``out``.

    Returns ``(result, warnings)``; the warnings are those of reading the session (resampled
    segmentations...) followed by the exporter's.
    """
    from app.io.export import export
    from app.io.export._common import sub_context
    from app.session.cases import export_cases

    cases, warnings = export_cases(folder, ctx=sub_context(ctx, 0.0, 0.3))
    result = export(fmt, cases, out, options=options, ctx=sub_context(ctx, 0.3, 1.0))
    return result, warnings + result.warnings


class ExportDialog(QDialog):
    """Ask for the export format, output folder and options; OK only when they are complete.

    Attributes
    ----------
    format_combo, folder_edit, anonymize_check, status_checks, overwrite_check
        The fields (``status_checks``: review status → check box), set programmatically by tests.
    """

    def __init__(self, parent: QWidget | None = None, folder: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Export dataset")
        self.setObjectName("export_dialog")
        self.format_combo = QComboBox()
        for key in EXPORTERS:
            self.format_combo.addItem(FORMAT_TITLES.get(key, key), key)
        self.format_combo.setCurrentIndex(self.format_combo.findData("nifti"))
        self.folder_edit = QLineEdit(folder)
        self.folder_edit.setPlaceholderText("a new or empty folder")
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the output folder")
        browse.clicked.connect(self.browse)
        folder_row = QHBoxLayout()
        folder_row.setContentsMargins(0, 0, 0, 0)
        folder_row.addWidget(self.folder_edit)
        folder_row.addWidget(browse)
        self.anonymize_check = QCheckBox("Anonymize (DICOM PS3.15 basic profile)")
        self.anonymize_check.setToolTip("De-identify DICOM objects and replace case names by case_NNNN")
        self.anonymize_check.setChecked(True)
        self.overwrite_check = QCheckBox("Overwrite a non-empty output folder")
        self.overwrite_check.setToolTip("The old folder is replaced only once the new export is complete")
        statuses = QGroupBox("Review status to export")
        status_row = QHBoxLayout(statuses)
        self.status_checks: dict[str, QCheckBox] = {}
        for status in REVIEW_STATUSES:
            check = QCheckBox(status)
            check.setChecked(status in DEFAULT_STATUSES)
            check.toggled.connect(self._update_ok)
            status_row.addWidget(check)
            self.status_checks[status] = check
        self.surfaces_combo = QComboBox()
        self.surfaces_combo.addItems(["none", "stl", "obj", "ply"])
        self.surfaces_combo.setToolTip("Also write one surface mesh per segment (LPS mm, stated in each file)")
        form = QFormLayout()
        form.addRow("Format:", self.format_combo)
        form.addRow("Output folder:", folder_row)
        form.addRow("Surfaces:", self.surfaces_combo)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.anonymize_check)
        layout.addWidget(statuses)
        layout.addWidget(self.overwrite_check)
        layout.addWidget(self.buttons)
        self.folder_edit.textChanged.connect(self._update_ok)
        self._update_ok()

    def browse(self) -> None:
        """Pick the output folder."""
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _update_ok(self, *_: object) -> None:
        ok = bool(self.folder_edit.text().strip()) and bool(self.statuses())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def accept(self) -> None:
        """Close with OK, only when the choices are complete."""
        if self.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled():
            super().accept()

    # ------------------------------------------------------------------ values
    def format(self) -> str:
        """The chosen :data:`~app.io.export.EXPORTERS` key."""
        return self.format_combo.currentData()

    def output_folder(self) -> Path:
        """The chosen output folder."""
        return Path(self.folder_edit.text().strip()).expanduser()

    def statuses(self) -> frozenset[str]:
        """The review statuses checked."""
        return frozenset(s for s, check in self.status_checks.items() if check.isChecked())

    def options(self) -> ExportOptions:
        """The choices as exporter options (every status checked = no status filter)."""
        statuses = self.statuses()
        return ExportOptions(
            anonymize=self.anonymize_check.isChecked(),
            statuses=None if statuses == frozenset(REVIEW_STATUSES) else statuses,
            overwrite=self.overwrite_check.isChecked(),
            surfaces=None if self.surfaces_combo.currentText() == "none" else self.surfaces_combo.currentText(),
        )


class DatasetExporter:
    """File ▸ Export dataset…: the dialog, the session save and the export Job of ``window``.

    Attributes
    ----------
    action
        The menu action.
    dialog
        The open dialog (None when closed).
    job
        The running export (None when idle).
    last_box
        The last result or error message box (None before any).
    messages
        ``(title, line)`` of every result and error shown, oldest first.
    """

    def __init__(self, window: MainWindow) -> None:
        from ui.session_manager import _file_menu

        self.window = window
        self.dialog: ExportDialog | None = None
        self.job: Job | None = None
        self.last_box: QMessageBox | None = None
        self.messages: list[tuple[str, str]] = []
        self._last_folder = ""
        self._title = ""
        self._closed = False
        menu, quit_action = _file_menu(window)
        self.action = QAction("&Export dataset…", window)
        self.action.setShortcut("Ctrl+Shift+E")
        self.action.setStatusTip("Export this study's annotations as a dataset (NIfTI, DICOM SEG, nnU-Net, COCO…)")
        self.action.triggered.connect(self.show_dialog)
        if quit_action is not None:
            menu.insertAction(quit_action, self.action)
        else:
            menu.addAction(self.action)
        window.status.cancel_requested.connect(self.cancel)
        window.loader.finished.connect(self._on_loader_finished)  # the status bar is shared with loading

    # ------------------------------------------------------------------ dialog
    def show_dialog(self) -> ExportDialog:
        """Open the (window-modal, non-blocking) dialog; OK starts the export."""
        if self.dialog is not None:
            self.dialog.raise_()
            return self.dialog
        dialog = ExportDialog(self.window, self._last_folder)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.start(dialog.format(), dialog.output_folder(), dialog.options()))
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = dialog
        dialog.open()
        return dialog

    # ------------------------------------------------------------------ run
    def start(self, fmt: str, out: Path, options: ExportOptions) -> Job | None:
        """Save the session (waiting for it), then export it in a Job; None when it cannot start."""
        if self.job is not None:
            self.show_error("Export busy", "An export is already running.")
            return None
        folder = self._save_session()
        if folder is None:
            return None
        self._last_folder = str(out)
        job = Job(export_session_job, str(folder), fmt, str(out), options)
        job.signals.progress.connect(self._on_job_progress)
        job.signals.finished.connect(self._on_job_finished)
        job.signals.failed.connect(self._on_job_failed)
        job.signals.cancelled.connect(self._on_job_cancelled)
        self.job = job
        self._title = f"Exporting {fmt}"
        self.window.status.set_busy(True, f"{self._title}…")
        self.window.status.cancel_button.setToolTip("Cancel the export")
        return job.start()

    def _save_session(self) -> Path | None:
        """Full save of the session folder, waited for; its path, or None (the user was told why)."""
        sessions = getattr(self.window, "sessions", None)
        if sessions is None or sessions.folder is None:
            self.show_error("Nothing to export", "Open a study first (its session is saved automatically).")
            return None
        if sessions.autosaver is None:  # read-only: the last save of its owner is what we can export
            return sessions.folder
        n_errors = len(sessions.errors)
        try:
            sessions.autosaver.save(wait=True)  # export_cases reads the last committed save
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.show_error("Export failed", f"cannot save the session: {exc}", f"{type(exc).__name__}: {exc}")
            return None
        if len(sessions.errors) > n_errors:  # the save failed and the session manager said so
            return None
        sessions.dirty = False
        sessions._update_state()  # title: "saved" (same as File ▸ Save)
        return sessions.folder

    def _on_job_progress(self, fraction: float, message: str) -> None:
        if self.job is not None:
            self.window.status.set_progress(fraction, message)

    def _on_loader_finished(self) -> None:
        if self.job is not None:  # a load ended while the export runs: keep its progress bar
            self.window.status.set_busy(True, f"{self._title}…")

    def _done(self) -> bool:
        """Forget the finished job; False when the window closed meanwhile (report nothing)."""
        self.job = None
        if self._closed:
            return False
        if not self.window.loader.busy:
            self.window.status.set_busy(False)
            self.window.status.cancel_button.setToolTip("Cancel loading")
        return True

    def _on_job_finished(self, outcome: tuple[ExportResult, list[str]]) -> None:
        if not self._done():
            return
        result, warnings = outcome
        line = f"Exported {result.n_cases} case(s), {len(result.files)} files, to {result.out}"
        self.window.status.showMessage(line, 8000)
        self._message(QMessageBox.Icon.Information, "Export finished", line,
                      "\n".join(f"warning: {w}" for w in warnings))

    def _on_job_failed(self, exc: BaseException) -> None:
        if not self._done():
            return
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.show_error("Export failed", line, f"{type(exc).__name__}: {exc}\n\nNothing was written.")

    def _on_job_cancelled(self) -> None:
        if not self._done():
            return
        self.window.status.showMessage("Export cancelled (nothing was written)", 5000)

    def cancel(self) -> None:
        """Ask the running export to stop (status bar Cancel)."""
        if self.job is not None:
            self.job.cancel()

    def shutdown(self) -> None:
        """Cancel the export and stop following the window (window close)."""
        self.cancel()
        self._closed = True  # a result arriving later is dropped: the window is going away
        self.window.loader.finished.disconnect(self._on_loader_finished)

    # ------------------------------------------------------------------ messages
    def show_error(self, title: str, line: str, details: str = "") -> None:
        """Tell the user about a failure (window-modal box; the log too)."""
        log.warning("%s: %s", title, line)
        self._message(QMessageBox.Icon.Warning, title, line, details)

    def _message(self, icon: QMessageBox.Icon, title: str, line: str, details: str = "") -> None:
        self.messages.append((title, line))
        if not self.window.interactive:
            if icon == QMessageBox.Icon.Warning:
                self.window.last_errors.append(f"{title}: {line}")
            return
        box = QMessageBox(icon, f"MedWS: {title}", line, QMessageBox.StandardButton.Ok, self.window)
        box.setObjectName("export_message_box")
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "last_box", None) if self.last_box is box else None)
        self.last_box = box
        box.open()


def install_export_action(window: MainWindow) -> DatasetExporter:
    """Add File ▸ Export dataset… (above Quit) to ``window``; return its exporter."""
    return DatasetExporter(window)
