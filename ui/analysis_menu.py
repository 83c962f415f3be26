"""The Analysis menu: preprocessing, classical segmentation and AI models, wired to the window.

Thin glue around :class:`~app.controllers.analysis.AnalysisController`: each menu entry starts a
controller run (a background Job), progress goes to the status bar's progress bar (its Cancel
button cancels the running analyses), failures open a message box (title, one line, details) and
results land in the session, where the window already shows them:

* derived volumes → ``session.add_image(activate=False)``: listed in the Layers dock, selectable
  as the displayed image;
* segmentation proposals → a new ``LabelVolume`` (overlay in the slice views, surfaces in 3D),
  listed in Layers and in the Annotations dock with their provenance status;
* boxes (lesion candidates, detection models) and findings (classification models) → the
  Annotations dock (the review panel, :mod:`ui.review_panel`), with confidence.

Every model task runs through the controller (a child process on its single-thread model pool).
GUI thread only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMenu, QMessageBox

from app.controllers.analysis import AnalysisController
from app.controllers.jobs import Job
from app.model.annotations import Box, Finding
from app.model.image import ImageVolume
from ui.param_dialog import ParamDialog
from ui.review_panel import ReviewPanel

if TYPE_CHECKING:
    from analysis.infer.manifest import ModelManifest
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)

#: Tasks the Models menu offers.
MODEL_TASKS = ("segmentation", "detection", "classification")


def supported_tasks() -> set[str]:
    """Model tasks the installed inference code can run (``analysis.infer.run.DEFAULT_RUNNERS``)."""
    try:
        from analysis.infer.run import DEFAULT_RUNNERS
    except ImportError:
        return {"segmentation"}
    return set(DEFAULT_RUNNERS) & set(MODEL_TASKS)


class AnalysisMenu:
    """Build the Analysis menu and the Annotations dock of ``window`` and route results.

    Attributes
    ----------
    controller
        The window's :class:`AnalysisController` (shut down by :meth:`shutdown`).
    menu
        The Analysis ``QMenu``; submenus ``preprocess_menu``, ``segment_menu``, ``models_menu``.
    actions
        ``"preprocess:<op>"``, ``"segment:ct-tissues"``, ``"segment:lung-lesions"``,
        ``"model:<name>"`` → ``QAction``.
    param_dialog
        The open parameter dialog (non-modal ``open()``; None when closed).
    last_error_box
        The last error message box shown (None before any failure).
    """

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.session = window.session
        self.controller = AnalysisController(window.session, window)
        self.actions: dict[str, QAction] = {}
        self.param_dialog: ParamDialog | None = None
        self.last_error_box: QMessageBox | None = None
        self.errors: list[tuple[str, str, str]] = []
        self._active: dict[str, str] = {}  # channel → title of runs in flight
        self.annotations = ReviewPanel(window.session)
        self.annotations.centre_requested.connect(window.centre_views_on)
        self.annotations.message.connect(lambda text: window.status.showMessage(text, 4000))
        dock = QDockWidget("Annotations", window)
        dock.setObjectName("dock_annotations")
        dock.setWidget(self.annotations)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        layers = window.findChild(QDockWidget, "dock_layers")
        if layers is not None:
            window.tabifyDockWidget(layers, dock)
            layers.raise_()
        self.dock = dock
        self.menu = self._build_menu()
        from ui.review_actions import ReviewActions  # Review menu: N/P, accept/reject, finding shortcuts

        self.review = ReviewActions(window, self.annotations)
        c = self.controller
        c.started.connect(self._on_controller_started)
        c.progress.connect(self._on_controller_progress)
        c.finished.connect(self._on_controller_finished)
        c.failed.connect(self._on_controller_failed)
        c.cancelled.connect(self._on_controller_cancelled)
        window.status.cancel_requested.connect(self.cancel)
        window.loader.finished.connect(self._on_loader_finished)  # the status bar is shared with loading
        self.session.active_image_changed.connect(self._on_session_active_image_changed)
        self._on_session_active_image_changed(self.session.active_image)

    # ------------------------------------------------------------------ menu
    def _build_menu(self) -> QMenu:
        from analysis.preprocess import OPS

        menu = QMenu("&Analysis", self.window)
        menu.setObjectName("menu_analysis")
        bar = self.window.menuBar()
        before = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        if before is None:
            bar.addMenu(menu)
        else:
            bar.insertMenu(before, menu)
        self.preprocess_menu = menu.addMenu("&Preprocess")
        for name, op in OPS.items():
            action = self.preprocess_menu.addAction(f"{name}…")
            action.setToolTip(op.help)
            action.setStatusTip(op.help)
            action.triggered.connect(lambda _=False, n=name: self.ask_preprocess(n))
            self.actions[f"preprocess:{name}"] = action
        self.segment_menu = menu.addMenu("&Segment")
        for key, text, slot in (("ct-tissues", "CT &tissues (lungs, airways, bone, fat, soft tissue)",
                                 self.run_ct_tissues),
                                ("lung-lesions", "&Lung lesion candidates", self.run_lung_lesions)):
            action = self.segment_menu.addAction(text)
            action.triggered.connect(lambda _=False, f=slot: f())
            self.actions[f"segment:{key}"] = action
        self.models_menu = menu.addMenu("&Models")
        self.models_menu.aboutToShow.connect(self.fill_models_menu)
        self.fill_models_menu()
        return menu

    def fill_models_menu(self) -> None:
        """(Re)list the available models: name, version, task; licence and description as tooltip."""
        from app.models import available_models

        for key in [k for k in self.actions if k.startswith("model:")]:
            del self.actions[key]
        self.models_menu.clear()
        self.models_menu.setToolTipsVisible(True)
        tasks = supported_tasks()
        try:
            models = available_models()
        except Exception as exc:  # noqa: BLE001 - a broken models folder must not break the menu
            log.warning("cannot list models: %s", exc)
            models = {}
        for name, manifest in sorted(models.items()):
            if manifest.task not in tasks:
                continue
            action = self.models_menu.addAction(f"{manifest.name} {manifest.version}  ({manifest.task})")
            tip = f"Licence: {manifest.licence or 'not stated'}"
            if manifest.description:
                tip += f"\n{manifest.description}"
            action.setToolTip(tip)
            action.setStatusTip(tip.splitlines()[0])
            action.triggered.connect(lambda _=False, m=manifest: self.run_model(m))
            action.setEnabled(self.session.active_image is not None)
            self.actions[f"model:{name}"] = action
        if self.models_menu.isEmpty():
            self.models_menu.addAction("(no models installed)").setEnabled(False)

    def _on_session_active_image_changed(self, image: ImageVolume | None) -> None:
        for action in self.actions.values():
            action.setEnabled(image is not None)

    # ------------------------------------------------------------------ runs
    def ask_preprocess(self, op_name: str) -> ParamDialog:
        """Open the parameter dialog of ``op_name``; OK starts the op on the displayed image."""
        from analysis.preprocess import OPS

        op = OPS[op_name]
        if self.param_dialog is not None:
            self.param_dialog.close()
        dialog = ParamDialog(f"Preprocess: {op_name}", op.defaults, op.help, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._guard(f"preprocess:{op_name}", op_name,
                                                    lambda: self.controller.run_preprocess(op_name,
                                                                                           **dialog.values())))
        dialog.finished.connect(lambda _r: setattr(self, "param_dialog", None))
        self.param_dialog = dialog
        dialog.open()
        return dialog

    def run_ct_tissues(self) -> Job | None:
        """Segment ▸ CT tissues on the displayed image."""
        return self._guard("classical:ct-tissues", "CT tissues", self.controller.run_ct_tissues)

    def run_lung_lesions(self) -> Job | None:
        """Segment ▸ Lung lesion candidates on the displayed image."""
        return self._guard("classical:lung-lesions", "Lung lesion candidates", self.controller.run_lung_lesions)

    def run_model(self, manifest: ModelManifest) -> Job | None:
        """Run a model on the displayed image through the controller (any task)."""
        return self._guard(f"model:{manifest.name}", f"AI: {manifest.name}",
                           lambda: self.controller.run_model(manifest))

    def _guard(self, channel: str, title: str, start) -> Job | None:  # noqa: ANN001
        """Start a run; an error raised while starting (no image, bad parameter) is shown too."""
        try:
            return start()
        except Exception as exc:  # noqa: BLE001 - failed(exc) always reaches the user
            log.warning("%s: %s", title, exc)
            self.show_error(f"{title} failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                            f"{type(exc).__name__}: {exc}")
            return None

    # ------------------------------------------------------------------ controller → window
    def _on_controller_started(self, channel: str, title: str) -> None:
        self._active[channel] = title
        self.window.status.set_busy(True, f"{title}…")
        self.window.status.cancel_button.setToolTip("Cancel " + ", ".join(self._active.values()))

    def _on_controller_progress(self, channel: str, fraction: float, message: str) -> None:
        if channel in self._active:
            self.window.status.set_progress(fraction, message)

    def _on_loader_finished(self) -> None:
        if self._active:  # a load ended while analyses run: keep their progress bar
            self.window.status.set_busy(True, f"{', '.join(self._active.values())}…")

    def _done(self, channel: str) -> str:
        title = self._active.pop(channel, channel)
        if not self._active and not self.window.loader.busy:
            self.window.status.set_busy(False)
            self.window.status.cancel_button.setToolTip("Cancel loading")
        return title

    def _on_controller_finished(self, channel: str, result: object) -> None:
        title = self._done(channel)
        if isinstance(result, ImageVolume):
            text = f"{title}: added “{result.name}” (select it in Layers to display it)"
        elif isinstance(result, list):
            text = f"{title}: {len(result)} proposal(s) in the Annotations panel"
            if result and isinstance(result[0], Box | Finding):
                self.dock.raise_()
        else:
            text = f"{title}: proposal “{getattr(result, 'name', '')}” added"
        self.window.status.showMessage(text, 8000)

    def _on_controller_failed(self, channel: str, title: str, message: str) -> None:
        self._done(channel)
        self.show_error(f"{title} failed", message, f"{channel}: {message}\n\nSee the log for the full traceback.")

    def _on_controller_cancelled(self, channel: str) -> None:
        title = self._done(channel)
        self.window.status.showMessage(f"{title}: cancelled", 5000)

    def show_error(self, title: str, line: str, details: str = "") -> None:
        """Tell the user: a window-modal (non-blocking) message box, or the log in batch mode."""
        self.errors.append((title, line, details))
        log.warning("%s: %s", title, line)
        if not self.window.interactive:
            self.window.last_errors.append(f"{title}: {line}")
        box = QMessageBox(QMessageBox.Icon.Warning, f"MedWS: {title}", line, QMessageBox.StandardButton.Ok,
                          self.window)
        box.setObjectName("analysis_error_box")
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "last_error_box", None) if self.last_error_box is box
                             else None)
        self.last_error_box = box
        if self.window.interactive:
            box.open()

    def cancel(self) -> None:
        """Cancel every analysis in flight (status bar Cancel)."""
        for channel in list(self._active):
            self.controller.cancel(channel)

    def shutdown(self, wait_ms: int = 2000) -> bool:
        """Cancel every run and wait for the pools (window close)."""
        idle = self.controller.shutdown(wait_ms)
        self.window.loader.finished.disconnect(self._on_loader_finished)
        self.session.active_image_changed.disconnect(self._on_session_active_image_changed)
        self.annotations.close_panel()
        return idle
