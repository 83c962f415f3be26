"""``MainWindow``: menus, toolbar, docks, status bar and the four linked viewports.

Thin glue between Qt and the session: opening goes through :class:`~ui.loading.LoadController`
(a background Job), the active image is wrapped once as a shared
:class:`~render.image_data.VtkImage` and handed to :class:`~ui.viewer_state.ViewerState`, which
every viewport follows. GUI thread only.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence
from PySide6.QtWidgets import QComboBox, QDockWidget, QFileDialog, QLabel, QMainWindow, QMenu, QMessageBox

from app.controllers.jobs import Job
from app.model.geometry import Geometry
from app.model.image import ImageVolume
from app.paths import config_dir
from render.image_data import VtkImage
from render.orientation import ViewKind
from render.volume_visual import VOLUME_PRESETS
from ui.loading import LoadController, LoadOutcome
from ui.panels import LayerPanel, StudyBrowserPanel
from ui.status_bar import MedwsStatusBar
from ui.view_grid import ViewGrid
from ui.viewer_state import WL_PRESETS, ViewerState

if TYPE_CHECKING:
    from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent

    from app.model.labels import LabelVolume
    from app.model.session import Session

log = logging.getLogger(__name__)

_MAX_RECENT = 10
_LAYOUT_TITLES = {"2x2": "2×2 (axial, coronal, sagittal, 3D)", "1x3": "1×3 + 3D",
                  "axial": "Axial only", "coronal": "Coronal only", "sagittal": "Sagittal only",
                  "3d": "3D only"}
_LAYOUT_ICONS = {"2x2": "fa5s.th-large", "1x3": "mdi6.view-dashboard-outline", "axial": "fa5s.square",
                 "coronal": "fa5s.square", "sagittal": "fa5s.square", "3d": "fa5s.cube"}


def _icon(name: str) -> QIcon:
    try:
        import qtawesome as qta  # ~0.3 s with its fonts: after the first frame in fast start

        return qta.icon(name)
    except Exception:  # noqa: BLE001 - a missing glyph must not stop the window
        return QIcon()


class MainWindow(QMainWindow):
    """The MedWS workstation window.

    Parameters
    ----------
    session
        The open study (owned by the composition root).
    interactive
        False for batch use (``medws screenshot``): errors go to the log instead of dialogs.
    mapper_kind
        Volume mapper for the 3D view ("cpu", "gpu", None = choose from the OpenGL renderer).
    loader
        A load controller already reading the command line's inputs (fast start); default: a new one.
    defer_extras
        Fast start (see :mod:`ui.startup`): the study index, the editing/analysis docks and menus and
        the 3D view's image wait for :meth:`finish_startup`, called after the first slice frame.
    """

    def __init__(self, session: Session, *, interactive: bool = True, mapper_kind: str | None = None,
                 loader: LoadController | None = None, defer_extras: bool = False) -> None:
        super().__init__()
        self.session = session
        self.interactive = interactive
        self.state = ViewerState()
        self.last_errors: list[str] = []
        self._closed = False
        self.setWindowTitle("MedWS")
        self.setAcceptDrops(True)
        self._pending_icons: list[tuple[QAction | QMenu, str]] | None = [] if defer_extras else None
        self.grid = ViewGrid(self.state, self, mapper_kind=mapper_kind, dormant=defer_extras)
        self.setCentralWidget(self.grid)
        self.status = MedwsStatusBar(self)
        self.setStatusBar(self.status)
        self.loader = loader or LoadController(self)
        self.loader.setParent(self)
        self.settings = QSettings(str(config_dir() / "medws.ini"), QSettings.Format.IniFormat)
        self._build_docks()
        self._build_actions()
        self._connect()
        if self.loader.busy:  # started by the composition root before the window existed (fast start)
            for spec in self.loader.specs:
                self._remember_recent(spec)
            self.status.set_busy(True, "Loading…")
        self.extras_installed = False
        self.sessions = None
        self.resize(1400, 950)
        if defer_extras:
            self.grid.volume_view.hold()
        else:
            self.finish_startup()

    def finish_startup(self) -> None:
        """Open the study index, install the editing/analysis docks and menus, release the 3D view.

        Runs once (from ``__init__``, or after the first frame in fast start); each part catches up
        with an image or segmentation opened before it.
        """
        if self.extras_installed or self._closed:
            return
        self.extras_installed = True
        self.grid.wake_all()  # fast start: normally done at the first frame already
        pending, self._pending_icons = self._pending_icons or [], None
        for target, name in pending:
            target.setIcon(_icon(name))
        self._open_study_index()
        from ui.segment_editor import install_segment_editor  # Segment Editor dock + slice-view tool routing

        self.segment_editor = install_segment_editor(self)
        if self.session.segmentations and self.segment_editor.controller.labels is None:  # opened before it
            self.segment_editor.controller.set_labels(self.session.segmentations[-1])
        from ui.wl_histogram import install_window_level_dock  # W/L dock: histogram, numeric W/L, presets

        self.wl_panel = install_window_level_dock(self)
        from ui.measure_panel import install_measurements  # Measurements dock, Measure menu, slice-view routing

        self.measure_panel = install_measurements(self)
        from ui.analysis_menu import AnalysisMenu  # Analysis menu + Annotations dock

        self.analysis = AnalysisMenu(self)
        from ui.box_dialog import install_boxes  # Box mode (B), box visuals, annotation undo; Edit ▸ Undo routes

        self.box_tool = install_boxes(self)
        self.analysis.review.link_boxes(self.box_tool)  # list selection ↔ box selection in the views
        from ui.session_manager import SessionManager  # session folder: lock, recovery, autosave, Save

        self.sessions = SessionManager(self) if self.interactive else None
        from ui.pacs_dialog import install_pacs_actions  # File ▸ Query PACS… (retrieve, send the session)

        self.pacs_action = install_pacs_actions(self)
        from ui.export_dialog import install_export_action  # File ▸ Export dataset… (Job, status-bar progress)

        self.exporter = install_export_action(self)
        from ui.worklist_panel import install_worklist  # Worklist dock (Next case, Mark done), review-time clock

        self.worklist_panel = install_worklist(self)
        from ui.help_dialog import install_help_menu  # Help ▸ Mouse and keys… (F1), the last menu

        self.help_action = install_help_menu(self)
        volume_view = self.grid.volume_view
        volume_view.release()
        if self.state.image is not None:  # the slice-plane outlines, as ViewGrid draws them on a new image
            for kind, view in self.grid.slice_views.items():
                volume_view.on_slice_changed(kind.value, view.scene.slice_index, view.scene.n_slices)
        self._show_volume_preset(volume_view.scene.volume.preset_name)

    # ------------------------------------------------------------------ build
    def _build_docks(self) -> None:
        self.study_index = None
        self.browser: StudyBrowserPanel | None = None  # filled by _open_study_index
        self.layers = LayerPanel(self.session)
        for title, widget, area in (("Studies", None, Qt.DockWidgetArea.LeftDockWidgetArea),
                                    ("Layers", self.layers, Qt.DockWidgetArea.LeftDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{title.lower()}")
            if widget is not None:
                dock.setWidget(widget)
            self.addDockWidget(area, dock)
        self.resizeDocks([self.findChild(QDockWidget, "dock_studies")], [240], Qt.Orientation.Horizontal)

    def _open_study_index(self) -> None:
        try:
            from app.io.study_index import StudyIndex

            self.study_index = StudyIndex()
        except Exception:  # noqa: BLE001 - browsing is optional; the viewer must still open
            log.warning("study index unavailable", exc_info=True)
        self.browser = StudyBrowserPanel(self.study_index)
        self.browser.open_requested.connect(lambda spec: self.open_paths([spec]))
        self.findChild(QDockWidget, "dock_studies").setWidget(self.browser)
        self.import_action.setEnabled(self.study_index is not None)

    def _action(self, text: str, slot, icon: str = "", shortcut: str | QKeySequence = "") -> QAction:
        action = QAction(text, self)
        if icon:
            self._set_icon(action, icon)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _set_icon(self, target: QAction | QMenu, name: str) -> None:
        if self._pending_icons is None:
            target.setIcon(_icon(name))
        else:
            self._pending_icons.append((target, name))

    def _build_actions(self) -> None:
        menu = self.menuBar()
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("toolbar_main")
        self.open_file_action = self._action("Open &file…", self.open_file_dialog, "fa5s.file-medical",
                                             QKeySequence.StandardKey.Open)
        self.open_folder_action = self._action("Open f&older…", self.open_folder_dialog, "fa5s.folder-open",
                                               "Ctrl+Shift+O")
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.open_file_action)
        file_menu.addAction(self.open_folder_action)
        self.import_action = self._action("&Import folder into study index…", self.import_folder_dialog,
                                          "fa5s.database")
        self.import_action.setEnabled(False)  # until _open_study_index
        file_menu.addAction(self.import_action)
        self.recent_menu = file_menu.addMenu("&Recent")
        self._set_icon(self.recent_menu, "fa5s.history")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, "fa5s.sign-out-alt", QKeySequence.StandardKey.Quit))
        toolbar.addAction(self.open_file_action)
        toolbar.addAction(self.open_folder_action)
        toolbar.addSeparator()

        view_menu = menu.addMenu("&View")
        self.layout_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for i, (name, title) in enumerate(_LAYOUT_TITLES.items()):
            action = self._action(title, lambda _=False, n=name: self.grid.set_layout(n),
                                  _LAYOUT_ICONS[name], f"Ctrl+{i + 1}")
            action.setCheckable(True)
            group.addAction(action)
            view_menu.addAction(action)
            self.layout_actions[name] = action
            if name in ("2x2", "1x3", "3d"):
                toolbar.addAction(action)
        self.layout_actions["2x2"].setChecked(True)
        view_menu.addSeparator()
        self.crosshair_action = self._action("Show &crosshair", self.set_crosshair_visible, "fa5s.crosshairs", "C")
        self.crosshair_action.setCheckable(True)
        self.crosshair_action.setChecked(True)
        view_menu.addAction(self.crosshair_action)
        toolbar.addAction(self.crosshair_action)
        self.smooth_action = self._action("&Smooth slices (linear interpolation)", self.set_smooth_slices,
                                          "fa5s.adjust", "S")
        self.smooth_action.setCheckable(True)
        self.smooth_action.setChecked(True)
        view_menu.addAction(self.smooth_action)
        reset = self._action("&Reset views", self.reset_views, "fa5s.sync-alt", "Ctrl+R")
        view_menu.addAction(reset)
        toolbar.addAction(reset)
        toolbar.addSeparator()

        wl_menu = menu.addMenu("&Window/level")
        for key, (title, width, level) in WL_PRESETS.items():
            action = self._action(f"{title}  (W {width:.0f} / L {level:.0f})",
                                  lambda _=False, k=key: self.state.apply_preset(k), "fa5s.adjust", key)
            wl_menu.addAction(action)
        wl_menu.addAction(self._action("&Auto (from image)", self.auto_window_level))

        volume_menu = menu.addMenu("&3D")
        group = QActionGroup(self)
        self.volume_preset_actions: dict[str, QAction] = {}
        for name, preset in VOLUME_PRESETS.items():
            action = self._action(preset.title, lambda _=False, n=name: self.set_volume_preset(n), "fa5s.cube")
            action.setCheckable(True)
            group.addAction(action)
            volume_menu.addAction(action)
            self.volume_preset_actions[name] = action
        self.volume_preset_actions["ct_bone"].setChecked(True)
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" 3D: "))
        self.volume_preset_combo = QComboBox()
        self.volume_preset_combo.setToolTip("3D rendering preset")
        for name, preset in VOLUME_PRESETS.items():
            self.volume_preset_combo.addItem(preset.title, name)
        self.volume_preset_combo.activated.connect(
            lambda i: self.set_volume_preset(self.volume_preset_combo.itemData(i)))
        toolbar.addWidget(self.volume_preset_combo)

    def _connect(self) -> None:
        self.loader.started.connect(lambda text: self.status.set_busy(True, f"Loading {text}…"))
        self.loader.progress.connect(self.status.set_progress)
        self.loader.preview.connect(self._on_loader_preview)
        self.loader.loaded.connect(self._on_loader_loaded)
        self.loader.cancelled.connect(lambda: self.status.showMessage("Loading cancelled", 5000))
        self.loader.cancelled.connect(self._clear_preview)
        self.loader.finished.connect(lambda: self.status.set_busy(False))
        self.status.cancel_requested.connect(self.loader.cancel)
        self.session.active_image_changed.connect(self._on_session_active_image_changed)
        self.session.segmentation_added.connect(self._on_session_segmentation_added)
        self.state.window_level_changed.connect(self.status.set_window_level)
        self.grid.layout_changed.connect(self._on_grid_layout_changed)
        for view in self.grid.slice_views.values():
            view.hovered.connect(self._on_view_hovered)
            view.slice_changed.connect(self.status.set_slice)
        self.status.follow_cursor(self.state)

    # ------------------------------------------------------------------ open
    def open_paths(self, specs: list[str], labels: str | None = None) -> Job:
        """Load files, folders or ``sample:NAME`` specs (and a labelmap of the first) in the background."""
        for spec in specs:
            self._remember_recent(spec)
        return self.loader.load(specs, labels=labels)

    def open_file_dialog(self) -> None:
        """Ask for volume files and open them."""
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open image", "", "Images (*.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd *.dcm);;All files (*)")
        if paths:
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        """Ask for a DICOM folder and open it."""
        folder = QFileDialog.getExistingDirectory(self, "Open DICOM folder")
        if folder:
            self.open_paths([folder])

    def import_folder_dialog(self) -> None:
        """Ask for a folder and add its DICOM files to the study index in the background."""
        folder = QFileDialog.getExistingDirectory(self, "Import folder into the study index")
        if folder:
            self.import_folder(folder)

    def import_folder(self, folder: str) -> Job | None:
        """Index ``folder`` in a background Job; the browser refreshes when it is done."""
        if self.study_index is None:
            return None
        job = Job(self.study_index.import_folder, folder)
        self.status.set_busy(True, f"Indexing {Path(folder).name}…")
        self.status.cancel_requested.connect(job.cancel)
        job.signals.progress.connect(self.status.set_progress)

        def done(*_: object) -> None:
            self.status.cancel_requested.disconnect(job.cancel)
            self.status.set_busy(False)
            if self.browser is not None:
                self.browser.refresh()

        def failed(exc: object) -> None:
            done()
            if self.interactive:
                QMessageBox.warning(self, "MedWS: import failed", str(exc))

        job.signals.finished.connect(done)
        job.signals.cancelled.connect(done)
        job.signals.failed.connect(failed)
        return job.start()

    def _remember_recent(self, spec: str) -> None:
        recent = [r for r in self.recent_files() if r != spec]
        self.settings.setValue("recent", [spec, *recent][:_MAX_RECENT])

    def recent_files(self) -> list[str]:
        """Recently opened specs, newest first."""
        value = self.settings.value("recent", [])
        return [str(v) for v in ([value] if isinstance(value, str) else value or [])]

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for spec in self.recent_files():
            self.recent_menu.addAction(Path(spec).name or spec).triggered.connect(
                lambda _=False, s=spec: self.open_paths([s]))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(empty)").setEnabled(False)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        """Accept files and folders dragged from a file manager."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        """Open the dropped files and folders."""
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.open_paths(paths)
            event.acceptProposedAction()

    # --------------------------------------------------------------- results
    def _on_loader_preview(self, z: int, slice_yx: np.ndarray) -> None:
        """Show the reader's middle slice in the axial view until the volume is complete."""
        if self.state.image is not None or slice_yx.ndim != 2:
            return
        preview = ImageVolume(slice_yx[None], Geometry((1, *slice_yx.shape)), modality="OT", name="preview")
        axial = self.grid.slice_views[ViewKind.AXIAL]
        axial.scene.set_image(VtkImage(preview))
        axial.scene.set_window_level(*preview.default_window())

    def _clear_preview(self) -> None:
        """Drop a preview left in the axial view by a load that failed or was cancelled."""
        axial = self.grid.slice_views[ViewKind.AXIAL].scene
        if axial.image is not None and axial.image is not self.state.image:
            axial.set_image(self.state.image)
            if self.state.image is not None:
                axial.set_cursor(self.state.cursor_lps)
                axial.set_window_level(*self.state.window_level)

    def _on_loader_loaded(self, outcome: LoadOutcome) -> None:
        self.last_errors = list(outcome.errors)
        for image in outcome.images:
            self.session.add_image(image, activate=image is outcome.images[0])
        for labels in outcome.segmentations:
            self.session.add_segmentation(labels)
        self._clear_preview()
        if outcome.errors:
            text = "\n".join(outcome.errors)
            log.warning("could not open:\n%s", text)
            if self.interactive:
                QMessageBox.warning(self, "MedWS: could not open", text)
            else:
                print(text, file=sys.stderr)
        if outcome.images:
            self.status.showMessage(f"Opened {len(outcome.images)} image(s)", 5000)

    def _on_session_active_image_changed(self, image: ImageVolume | None) -> None:
        if image is not None and image.geometry.shape_zyx[0] == 1:
            self.grid.set_layout("axial")  # a single 2-D image: the other views would be empty
        self.state.set_image(VtkImage(image) if image is not None else None)
        self._show_volume_preset(self.grid.volume_view.scene.volume.preset_name)  # MR switches preset
        self.setWindowTitle(f"MedWS — {image.name}" if image is not None else "MedWS")

    def _on_session_segmentation_added(self, labels: LabelVolume) -> None:
        for view in self.grid.slice_views.values():
            view.add_labels(labels)
        self.grid.volume_view.add_labels(labels)

    def _on_view_hovered(self, lps_mm: np.ndarray) -> None:
        self.status.show_probe(self.state, lps_mm)

    def _on_grid_layout_changed(self, name: str) -> None:
        if name in self.layout_actions:
            self.layout_actions[name].setChecked(True)

    # --------------------------------------------------------------- actions
    def reset_views(self) -> None:
        """Fit every view, recentre the crosshair and undo the crosshair rotation (axis-aligned views)."""
        self.state.reset_rotation()
        for view in self.grid.slice_views.values():
            view.scene.reset_view()
        self.grid.volume_view.scene.reset_view()

    def centre_views_on(self, lps_mm: np.ndarray) -> None:
        """Move the linked cursor to ``lps_mm`` and pan every slice view so that it sits in the centre
        (zoom unchanged); used by the review panel's N/P and double-click."""
        lps = np.asarray(lps_mm, dtype=float)
        self.state.set_cursor(lps)
        for view in self.grid.slice_views.values():
            view.scene.centre_on(lps)

    def set_crosshair_visible(self, visible: bool) -> None:
        """Show or hide the crosshair lines in every slice view."""
        for view in self.grid.slice_views.values():
            view.scene.set_crosshair_visible(visible)

    def set_smooth_slices(self, smooth: bool) -> None:
        """Linear or nearest-neighbour display of the slice views."""
        for view in self.grid.slice_views.values():
            view.scene.image_visual.set_interpolation(smooth)

    def auto_window_level(self) -> None:
        """Back to the image's default window (DICOM header or percentiles)."""
        if self.state.volume is not None:
            self.state.set_window_level(*self.state.volume.default_window())

    def set_volume_preset(self, name: str) -> None:
        """Apply a 3D transfer-function preset."""
        self.grid.volume_view.scene.volume.set_preset(name)
        self._show_volume_preset(name)

    def _show_volume_preset(self, name: str) -> None:
        self.volume_preset_actions[name].setChecked(True)
        self.volume_preset_combo.setCurrentIndex(self.volume_preset_combo.findData(name))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Cancel background jobs, then close the viewports (finalising their render windows)."""
        if not self._closed:
            self._closed = True
            self.loader.cancel()
            if self.extras_installed:
                self.wl_panel.close_panel()
                self.measure_panel.close_panel()
                self.analysis.shutdown()
                self.exporter.shutdown()
            if self.sessions is not None:
                self.sessions.close()  # final save, lock released
            Job.cancel_all(wait_ms=2000)
            self.layers.close_panel()
            self.session.segmentation_added.disconnect(self._on_session_segmentation_added)
            self.grid.close_views()
            if self.study_index is not None:
                self.study_index.close()
        super().closeEvent(event)

