"""``PacsDialog``: query a PACS, retrieve studies into the study index and open them; send the session.

File ▸ Query PACS… opens it. The server list comes from the PACS settings
(:func:`app.io.pacs.load_servers`; ``medws pacs add`` configures them). Searching, retrieving and
sending run in :class:`~app.controllers.jobs.Job` objects (network I/O never blocks the GUI),
with the dialog's progress bar and Cancel button; every failure is shown as one line in the
dialog (with the details in a message box). A retrieved study goes into the user's study index
(the Studies dock is refreshed) and its image series are opened. "Send session" exports the
window's saved session as DICOM SEG (:func:`app.session.cases.export_cases`, then the
``dicom-seg`` exporter) and sends the files. GUI thread only, except the ``*_job`` functions.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from analysis._task import TaskContext
from app.controllers.jobs import Job
from app.io.pacs import (
    PacsServer,
    RetrieveResult,
    SendResult,
    StudyQuery,
    StudyResult,
    find_studies,
    load_servers,
    retrieve,
    send,
)

if TYPE_CHECKING:
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)

MODALITIES = ("", "CT", "MR", "PT", "US", "CR", "DX", "MG", "NM", "XA", "SEG")
COLUMNS = ("Patient", "Patient ID", "Date", "Description", "Modalities", "Series", "Instances")
#: Series kinds of the study index that the viewer opens after a retrieve.
_OPENABLE = ("image",)


def build_query(patient_name: str = "", patient_id: str = "", date_from: str = "", date_to: str = "",
                modality: str = "") -> StudyQuery:
    """Return the :class:`StudyQuery` of the search form (dates ``YYYYMMDD`` or ``YYYY-MM-DD``).

    Raises
    ------
    ValueError
        A malformed date or modality (one line, shown next to the form).
    """
    date_from, date_to = date_from.strip(), date_to.strip()
    date = f"{date_from}-{date_to}" if (date_from or date_to) and date_from != date_to else date_from
    return StudyQuery(patient_name=patient_name.strip(), patient_id=patient_id.strip(), study_date=date,
                      modality=modality.strip())


def _display_name(name: str) -> str:
    return " ".join(str(name or "").replace("^", " ").split()) or "(no name)"


def _date(yyyymmdd: str) -> str:
    d = (yyyymmdd or "").strip()
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else d


def find_studies_job(server: PacsServer, query: StudyQuery, *, ctx: TaskContext) -> list[StudyResult]:
    """Worker thread: search the server."""
    ctx.step(0.1, "searching")
    return find_studies(server, query)


def retrieve_job(server: PacsServer, study_uids: list[str], *, ctx: TaskContext) -> list[RetrieveResult]:
    """Worker thread: retrieve whole studies, one after the other, into the user's study index."""
    results = []
    n = len(study_uids)
    for i, uid in enumerate(study_uids):
        sub = TaskContext(lambda f, m, i=i: ctx.report((i + f) / n, m), ctx.is_cancelled)
        results.append(retrieve(server, uid, ctx=sub))
    return results


def session_seg_files(folder: str | Path, out: str | Path, *, ctx: TaskContext) -> tuple[list[str], list[str]]:
    """Export a session folder's segmentations as DICOM SEG into ``out``; return ``(files, warnings)``.

    Everything the export writes is sent: the SEG, plus the image copies it references when the
    session's image was not a DICOM series (as ``medws pacs send`` does).
    """
    from app.io.export import export
    from app.session.cases import export_cases

    cases, warnings = export_cases(folder, ctx=TaskContext(lambda f, m: ctx.report(0.3 * f, m), ctx.is_cancelled))
    if not any(case.labels is not None for case in cases):
        raise ValueError("the session holds no segmentation to send")
    result = export("dicom-seg", cases, Path(out) / "export")
    warnings = [*warnings, *result.warnings]
    files = [str(Path(out) / "export" / f) for f in result.files if str(f).endswith(".dcm")]
    return files, warnings


def send_session_job(server: PacsServer, folder: str, *, ctx: TaskContext) -> tuple[SendResult, list[str]]:
    """Worker thread: export the session as DICOM SEG in a temporary folder and send it."""
    with tempfile.TemporaryDirectory(prefix="medws-send-") as tmp:
        files, warnings = session_seg_files(folder, tmp, ctx=ctx)
        sub = TaskContext(lambda f, m: ctx.report(0.3 + 0.7 * f, m), ctx.is_cancelled)
        return send(server, files, ctx=sub), warnings


class PacsDialog(QDialog):
    """Query/retrieve from a configured PACS and send the current session to it.

    Attributes
    ----------
    results
        The studies of the last search, in table order.
    job
        The running search/retrieve/send Job (None when idle).
    last_message
        The last line shown in the message label (for tests and batch use).
    """

    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.window = window
        self.setWindowTitle("Query PACS")
        self.setObjectName("pacs_dialog")
        self.results: list[StudyResult] = []
        self.job: Job | None = None
        self.last_message = ""
        self.servers: dict[str, PacsServer] = {}

        self.server_combo = QComboBox()
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Re-read the PACS server list (medws pacs add/list)")
        self.reload_button.clicked.connect(self.reload_servers)
        server_row = QHBoxLayout()
        server_row.addWidget(self.server_combo, 1)
        server_row.addWidget(self.reload_button)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("DOE^J*  (* any run, ? one character)")
        self.id_edit = QLineEdit()
        self.id_edit.setPlaceholderText("patient ID (wildcards allowed)")
        self.date_from = QLineEdit()
        self.date_from.setPlaceholderText("from YYYY-MM-DD")
        self.date_to = QLineEdit()
        self.date_to.setPlaceholderText("to YYYY-MM-DD")
        dates = QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("–"))
        dates.addWidget(self.date_to)
        self.modality_combo = QComboBox()
        self.modality_combo.setEditable(True)
        self.modality_combo.addItems(MODALITIES)
        form = QFormLayout()
        form.addRow("Server", server_row)
        form.addRow("Patient name", self.name_edit)
        form.addRow("Patient ID", self.id_edit)
        form.addRow("Study date", dates)
        form.addRow("Modality", self.modality_combo)
        for edit in (self.name_edit, self.id_edit, self.date_from, self.date_to):
            edit.returnPressed.connect(self.search)

        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(COLUMNS.index("Description"), QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _item: self.retrieve_selected())
        self.retrieve_button = QPushButton("Retrieve and open")
        self.retrieve_button.clicked.connect(self.retrieve_selected)
        self.send_button = QPushButton("Send session")
        self.send_button.setToolTip("Send this study's segmentations to the server as DICOM SEG")
        self.send_button.clicked.connect(self.send_session)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("Close")
        close.clicked.connect(self.close)

        buttons = QHBoxLayout()
        buttons.addWidget(self.search_button)
        buttons.addStretch(1)
        buttons.addWidget(self.retrieve_button)
        buttons.addWidget(self.send_button)
        buttons.addWidget(close)
        busy = QHBoxLayout()
        busy.addWidget(self.progress, 1)
        busy.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        layout.addLayout(busy)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.resize(820, 560)
        self.reload_servers()
        self._set_busy(False)

    # ------------------------------------------------------------------ servers
    def reload_servers(self) -> None:
        """Fill the server picker from the PACS settings."""
        current = self.server_combo.currentText()
        try:
            self.servers = load_servers()
        except Exception as exc:  # noqa: BLE001 - a broken settings file is shown, not raised
            self.servers = {}
            self._show(f"Cannot read the PACS settings: {exc}", error=True)
        self.server_combo.clear()
        for name, server in self.servers.items():
            self.server_combo.addItem(f"{name}  ({server.address})", name)
        if current:
            index = self.server_combo.findText(current)
            if index >= 0:
                self.server_combo.setCurrentIndex(index)
        if not self.servers:
            self._show("No PACS configured: add one with `medws pacs add NAME URL|AET@HOST:PORT`.", error=True)
        self._update_buttons()

    def server(self) -> PacsServer | None:
        """The selected server."""
        name = self.server_combo.currentData()
        return self.servers.get(name) if name else None

    # ------------------------------------------------------------------ actions
    def query(self) -> StudyQuery:
        """The search form as a :class:`StudyQuery` (raises ``ValueError`` on a bad date/modality)."""
        return build_query(self.name_edit.text(), self.id_edit.text(), self.date_from.text(), self.date_to.text(),
                           self.modality_combo.currentText())

    def search(self) -> Job | None:
        """Search the selected server in a Job; the table fills when it answers."""
        server = self.server()
        if server is None or self.job is not None:
            return None
        try:
            query = self.query()
        except ValueError as exc:
            self._show(str(exc), error=True)
            return None
        return self._start(Job(find_studies_job, server, query), f"Searching {server.name}…", self._on_found)

    def _on_found(self, studies: list[StudyResult]) -> None:
        self.results = list(studies)
        self.table.setRowCount(0)
        self.table.setRowCount(len(self.results))
        for row, s in enumerate(self.results):
            n_series = "" if s.n_series is None else str(s.n_series)
            n_inst = "" if s.n_instances is None else str(s.n_instances)
            for col, text in enumerate((_display_name(s.patient_name), s.patient_id, _date(s.study_date),
                                        s.description, "/".join(s.modalities), n_series, n_inst)):
                self.table.setItem(row, col, QTableWidgetItem(str(text or "")))
        if self.results:
            self.table.selectRow(0)
        self._show(f"{len(self.results)} stud{'y' if len(self.results) == 1 else 'ies'} found")

    def selected_studies(self) -> list[StudyResult]:
        """The studies selected in the table."""
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.results[r] for r in rows if r < len(self.results)]

    def retrieve_selected(self) -> Job | None:
        """Retrieve the selected studies (Job), then index and open their image series."""
        server, studies = self.server(), self.selected_studies()
        if server is None or not studies or self.job is not None:
            return None
        uids = [s.study_uid for s in studies]
        text = f"Retrieving {len(uids)} stud{'y' if len(uids) == 1 else 'ies'}…"
        return self._start(Job(retrieve_job, server, uids), text, self._on_retrieved)

    def _on_retrieved(self, results: list[RetrieveResult]) -> None:
        received = sum(r.received for r in results)
        skipped = sum(r.skipped for r in results)
        self._show(f"Retrieved {received} instance(s) ({skipped} already present); opening…")
        self.window.browser.refresh()
        specs = self.openable_specs(results)
        if specs:
            self.window.open_paths(specs)
        else:
            self._show("Retrieved, but the study holds no image series to open.", error=True)

    def openable_specs(self, results: list[RetrieveResult]) -> list[str]:
        """``series:UID`` of the retrieved image series, from the study index (else the folders)."""
        from ui.loading import SERIES_PREFIX

        index = self.window.study_index
        specs: list[str] = []
        for result in results:
            if index is not None:
                specs += [f"{SERIES_PREFIX}{s.series_uid}" for s in index.series(result.study_uid)
                          if s.kind in _OPENABLE]
            else:
                specs += list(result.series_dirs)
        return specs

    def send_session(self) -> Job | None:
        """Save the session, export it as DICOM SEG and send it to the selected server (Job)."""
        server = self.server()
        sessions = getattr(self.window, "sessions", None)
        if server is None or self.job is not None:
            return None
        if sessions is None or sessions.folder is None:
            self._show("Open a study (its session is saved automatically) before sending.", error=True)
            return None
        if sessions.autosaver is not None:
            try:
                sessions.autosaver.save(wait=True)  # the export reads the last committed save
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self._show(f"Cannot save the session: {exc}", error=True)
                return None
        return self._start(Job(send_session_job, server, str(sessions.folder)), f"Sending to {server.name}…",
                           self._on_sent)

    def _on_sent(self, outcome: tuple[SendResult, list[str]]) -> None:
        result, warnings = outcome
        text = f"Sent {result.sent} instance(s) ({result.bytes_sent / 1e6:.1f} MB)"
        if result.failed:
            self._show(f"{text}; the server refused {len(result.failed)}", error=True,
                       details="\n".join([*result.failed, *warnings]))
        else:
            self._show(text + (f" — {len(warnings)} warning(s)" if warnings else ""))

    # ------------------------------------------------------------------ job plumbing
    def _start(self, job: Job, text: str, on_done) -> Job:  # noqa: ANN001
        self.job = job
        job.signals.progress.connect(self._on_job_progress)
        job.signals.finished.connect(lambda result: self._finish(on_done, result))
        job.signals.failed.connect(self._on_job_failed)
        job.signals.cancelled.connect(self._on_job_cancelled)
        self._set_busy(True)
        self._show(text)
        return job.start()

    def _on_job_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(max(0.0, min(1.0, fraction)) * 1000))
        self.progress.setFormat(f"{message[:40]} %p%" if message else "%p%")

    def _finish(self, on_done, result: Any) -> None:  # noqa: ANN001
        self.job = None
        self._set_busy(False)
        try:
            on_done(result)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            log.exception("PACS: handling the result failed")
            self._show(f"{type(exc).__name__}: {exc}", error=True)

    def _on_job_failed(self, exc: BaseException) -> None:
        self.job = None
        self._set_busy(False)
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self._show(line, error=True, details=f"{type(exc).__name__}: {exc}")

    def _on_job_cancelled(self) -> None:
        self.job = None
        self._set_busy(False)
        self._show("Cancelled (a retrieve resumes where it stopped).")

    def cancel(self) -> None:
        """Ask the running search/retrieve/send to stop."""
        if self.job is not None:
            self.job.cancel()

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.progress.setValue(0)
        self.search_button.setEnabled(not busy)
        self._update_buttons()

    def _update_buttons(self) -> None:
        idle = self.job is None and self.server() is not None
        self.search_button.setEnabled(idle)
        self.retrieve_button.setEnabled(idle and bool(self.selected_studies()))
        self.send_button.setEnabled(idle)  # without an open session, send_session says why

    def _show(self, text: str, *, error: bool = False, details: str = "") -> None:
        self.last_message = text
        self.message.setText(text)
        self.message.setStyleSheet("color: #c0392b;" if error else "")
        if error:
            log.warning("PACS: %s", text)
        if details and self.window.interactive:
            box = QMessageBox(QMessageBox.Icon.Warning, "MedWS: PACS", text, QMessageBox.StandardButton.Ok, self)
            box.setDetailedText(details)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()

    def closeEvent(self, event) -> None:  # noqa: N802, ANN001
        """Cancel a running job when the dialog closes (its result is still applied if it arrives)."""
        self.cancel()
        super().closeEvent(event)


def install_pacs_actions(window: MainWindow) -> QAction:
    """Add File ▸ Query PACS… and Send session to PACS… (both open the dialog) above Quit; return the first."""
    from ui.session_manager import _file_menu

    menu, quit_action = _file_menu(window)
    action = QAction("Query &PACS… (retrieve / send)", window)
    action.setShortcut("Ctrl+Shift+P")
    holder: dict[str, PacsDialog] = {}

    def show() -> None:
        dialog = holder.get("dialog")
        if dialog is None:
            dialog = holder["dialog"] = PacsDialog(window)
            window.pacs_dialog = dialog
        dialog.reload_servers()
        dialog.show()
        dialog.raise_()

    action.triggered.connect(show)
    send_action = QAction("Send session to PAC&S…", window)
    send_action.setStatusTip("Send this study's segmentations as DICOM SEG (pick the server in the dialog)")
    send_action.triggered.connect(show)
    for item in (action, send_action):
        if quit_action is not None:
            menu.insertAction(quit_action, item)
        else:
            menu.addAction(item)
    window.pacs_dialog = None
    return action
