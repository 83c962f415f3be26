"""Dock panels: the study browser (with series thumbnails) and the layer list. GUI thread only.

Thumbnails (middle slice, auto window; :mod:`app.io.thumbnails`) are made or read from their disk
cache in one background :class:`~app.controllers.jobs.Job` per refresh and arrive one by one
(``Job.emit_partial``), so the browser never waits for pixel data.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QTreeWidget, QTreeWidgetItem, QWidget

from app.controllers.jobs import Job
from app.io.thumbnails import THUMB_PX, indexed_thumbnails
from ui.loading import SAMPLE_PREFIX, SERIES_PREFIX

if TYPE_CHECKING:
    from app.io.study_index import StudyIndex
    from app.model.image import ImageVolume
    from app.model.labels import LabelVolume
    from app.model.session import Session

log = logging.getLogger(__name__)

_SPEC_ROLE = Qt.ItemDataRole.UserRole
ICON_PX = 48  # thumbnails are made at THUMB_PX and shown at this size in the tree


def thumbnail_icon(thumb: np.ndarray) -> QIcon:
    """Return a QIcon of a ``(rows, cols)`` uint8 grey thumbnail (copied; GUI thread)."""
    image = np.ascontiguousarray(thumb, dtype=np.uint8)
    rows, cols = image.shape
    qimage = QImage(image.data, cols, rows, cols, QImage.Format.Format_Grayscale8).copy()
    return QIcon(QPixmap.fromImage(qimage))


def _date(yyyymmdd: str) -> str:
    d = (yyyymmdd or "").strip()
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else d


class StudyBrowserPanel(QTreeWidget):
    """Studies to open: the local study index (patients → studies → series) and the samples.

    Double-clicking a series or a sample asks to open it. Image series show a thumbnail of their
    middle slice once the background job has made it (or read it from the cache in
    ``thumbnail_cache``, default ``cache_dir()/thumbnails``).

    Signals
    -------
    open_requested(str)
        ``series:UID`` or ``sample:NAME``.
    thumbnails_done(int)
        The refresh's thumbnail job ended; how many thumbnails it delivered.
    """

    open_requested = Signal(str)
    thumbnails_done = Signal(int)

    def __init__(self, index: StudyIndex | None = None, parent: QWidget | None = None,
                 thumbnail_cache: Path | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.thumbnail_cache = thumbnail_cache
        self.thumbnail_job: Job | None = None
        self._series_items: dict[str, QTreeWidgetItem] = {}
        self._icons: dict[str, QIcon] = {}  # series UID → icon, kept across refreshes
        self.setHeaderLabels(["Study / series", "Details"])
        self.setIconSize(QSize(ICON_PX, ICON_PX))
        self.itemDoubleClicked.connect(self._on_item_double_clicked)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the study index and the sample catalogue; thumbnails follow in the background."""
        self._cancel_thumbnails()
        self._series_items = {}
        self.clear()
        studies = QTreeWidgetItem(self, ["Study index", ""])
        try:
            self._fill_index(studies)
        except Exception:  # noqa: BLE001 - the browser is optional; never block the window
            log.debug("study index unavailable", exc_info=True)
            QTreeWidgetItem(studies, ["(study index unavailable)", ""])
        if studies.childCount() == 0:
            QTreeWidgetItem(studies, ["(empty: File → Import folder into index)", ""])
        studies.setExpanded(True)
        samples = QTreeWidgetItem(self, ["Samples", ""])
        try:
            from app.io.samples import list_samples

            for info in list_samples():
                if getattr(info, "available", False):
                    item = QTreeWidgetItem(samples, [info.name, getattr(info, "modality", "")])
                    item.setData(0, _SPEC_ROLE, f"{SAMPLE_PREFIX}{info.name}")
        except Exception:  # noqa: BLE001 - as above
            log.debug("no sample catalogue", exc_info=True)
        samples.setExpanded(True)
        self.resizeColumnToContents(0)
        self._start_thumbnails()

    # ------------------------------------------------------------ thumbnails
    def _start_thumbnails(self) -> None:
        missing = [uid for uid in self._series_items if uid not in self._icons]
        if self.index is None or not missing:
            return
        job = Job(indexed_thumbnails, self.index, missing, self.thumbnail_cache,
                  on_thumbnail=lambda uid, thumb: job.emit_partial((uid, thumb)), max_px=THUMB_PX)
        job.signals.partial.connect(self._on_thumbnail_partial)
        job.signals.finished.connect(self._on_thumbnail_finished)
        job.signals.failed.connect(lambda exc: log.warning("thumbnails failed: %s", type(exc).__name__))
        job.signals.failed.connect(lambda *_: self.thumbnails_done.emit(0))
        job.signals.cancelled.connect(lambda: self.thumbnails_done.emit(0))
        self.thumbnail_job = job.start()

    def _on_thumbnail_partial(self, result: tuple[str, np.ndarray]) -> None:
        uid, thumb = result
        self._icons[uid] = thumbnail_icon(thumb)
        item = self._series_items.get(uid)
        if item is not None:
            item.setIcon(0, self._icons[uid])

    def _on_thumbnail_finished(self, count: int) -> None:
        self.thumbnails_done.emit(int(count))

    def _cancel_thumbnails(self) -> None:
        if self.thumbnail_job is not None and not self.thumbnail_job.done:
            self.thumbnail_job.cancel()
        self.thumbnail_job = None

    def series_icon(self, series_uid: str) -> QIcon | None:
        """The thumbnail icon shown for a series (None until it arrived)."""
        return self._icons.get(series_uid)

    def close_panel(self) -> None:
        """Stop making thumbnails."""
        self._cancel_thumbnails()

    def _fill_index(self, parent: QTreeWidgetItem) -> None:
        if self.index is None:
            return
        for patient in self.index.patients():
            name = " ".join(str(patient.patient_name or "").replace("^", " ").split()) or "(no name)"
            p_item = QTreeWidgetItem(parent, [name, str(patient.patient_id or "")])
            for study in self.index.studies(patient.key):
                s_item = QTreeWidgetItem(p_item, [
                    f"{_date(study.study_date)}  {study.description or '(no description)'}",
                    f"{study.modalities}, {study.n_series} series"])
                for series in self.index.series(study.study_uid):
                    number = "" if series.series_number is None else f"#{series.series_number} "
                    item = QTreeWidgetItem(s_item, [
                        f"{number}{series.description or series.modality}",
                        f"{series.modality} {series.kind}, {series.n_instances} files"])
                    if series.kind == "image":
                        item.setData(0, _SPEC_ROLE, f"{SERIES_PREFIX}{series.series_uid}")
                        self._series_items[series.series_uid] = item
                        if series.series_uid in self._icons:
                            item.setIcon(0, self._icons[series.series_uid])
            p_item.setExpanded(True)

    def _on_item_double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        spec = item.data(0, _SPEC_ROLE)
        if spec:
            self.open_requested.emit(str(spec))


def _labels_text(labels: LabelVolume) -> str:
    """Layer row of a segmentation: its name and the review status of its segments (e.g. "proposed")."""
    statuses = sorted({getattr(seg.provenance, "status", "") or "manual" for seg in labels.table})
    suffix = f"  ({', '.join(statuses)})" if statuses else ""
    return f"    ▣ {getattr(labels, 'name', '') or 'Segmentation'}{suffix}"


class LayerPanel(QListWidget):
    """The session's images and segmentations; selecting an image shows it."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._objects: list[object] = []  # row → ImageVolume or LabelVolume
        self._table_slots: list[tuple[object, object]] = []
        session.image_added.connect(self._on_session_image_added)
        session.segmentation_added.connect(self._on_session_segmentation_added)
        session.active_image_changed.connect(self._on_session_active_image_changed)
        self.currentRowChanged.connect(self._on_current_row_changed)

    def _add_row(self, obj: object, text: str) -> None:
        self._objects.append(obj)
        item = QListWidgetItem(text)
        item.setToolTip(text)
        self.addItem(item)

    def _on_session_image_added(self, image: ImageVolume) -> None:
        z, y, x = image.geometry.shape_zyx
        self._add_row(image, f"{image.name or 'image'}  [{image.modality}]  {x}×{y}×{z}")
        if image is self.session.active_image or len(self.session.images) == 1:
            self.setCurrentRow(self.count() - 1)

    def _on_session_segmentation_added(self, labels: LabelVolume) -> None:
        self._add_row(labels, _labels_text(labels))
        item = self.item(self.count() - 1)  # the review status shows once segments are added
        slot = lambda *_: (item.setText(_labels_text(labels)), item.setToolTip(_labels_text(labels)))  # noqa: E731
        labels.table.changed.connect(slot)
        self._table_slots.append((labels.table, slot))

    def _on_session_active_image_changed(self, image: ImageVolume | None) -> None:
        row = next((i for i, obj in enumerate(self._objects) if obj is image), -1)
        if row != self.currentRow():
            self.setCurrentRow(row)

    def _on_current_row_changed(self, row: int) -> None:
        obj = self._objects[row] if 0 <= row < len(self._objects) else None
        if obj is not None and obj in self.session.images and obj is not self.session.active_image:
            self.session.set_active_image(obj)

    def close_panel(self) -> None:
        """Disconnect from the session."""
        self.session.image_added.disconnect(self._on_session_image_added)
        self.session.segmentation_added.disconnect(self._on_session_segmentation_added)
        self.session.active_image_changed.disconnect(self._on_session_active_image_changed)
        for table, slot in self._table_slots:
            table.changed.disconnect(slot)
        self._table_slots.clear()
