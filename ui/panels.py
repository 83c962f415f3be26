"""Dock panels: the study browser and the layer list. GUI thread only."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QTreeWidget, QTreeWidgetItem, QWidget

if TYPE_CHECKING:
    from app.model.image import ImageVolume
    from app.model.session import Session

log = logging.getLogger(__name__)

_SPEC_ROLE = Qt.ItemDataRole.UserRole


class StudyBrowserPanel(QTreeWidget):
    """Studies to open: the fetched samples and, when available, the local study index.

    Signals
    -------
    open_requested(str)
        A path or ``sample:NAME`` the user double-clicked.
    """

    open_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Study / series", "Details"])
        self.itemDoubleClicked.connect(self._on_item_double_clicked)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the sample catalogue and the study index."""
        self.clear()
        samples = QTreeWidgetItem(self, ["Samples", ""])
        try:
            from app.io.samples import list_samples

            for info in list_samples():
                if getattr(info, "available", False):
                    item = QTreeWidgetItem(samples, [info.name, getattr(info, "modality", "")])
                    item.setData(0, _SPEC_ROLE, f"sample:{info.name}")
        except Exception:  # noqa: BLE001 - the browser is optional; never block the window
            log.debug("no sample catalogue", exc_info=True)
        samples.setExpanded(True)
        studies = QTreeWidgetItem(self, ["Study index", ""])
        studies.addChild(QTreeWidgetItem(["(index not available yet)", ""]))
        studies.setExpanded(True)
        self.resizeColumnToContents(0)

    def _on_item_double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        spec = item.data(0, _SPEC_ROLE)
        if spec:
            self.open_requested.emit(str(spec))


class LayerPanel(QListWidget):
    """The session's images; selecting one shows it. Annotations will be listed here later."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._images: list[ImageVolume] = []
        session.image_added.connect(self._on_session_image_added)
        self.currentRowChanged.connect(self._on_current_row_changed)

    def _on_session_image_added(self, image: ImageVolume) -> None:
        self._images.append(image)
        z, y, x = image.geometry.shape_zyx
        item = QListWidgetItem(f"{image.name or 'image'}  [{image.modality}]  {x}×{y}×{z}")
        self.addItem(item)
        self.setCurrentRow(self.count() - 1)

    def _on_current_row_changed(self, row: int) -> None:
        if 0 <= row < len(self._images) and self._images[row] is not self.session.active_image:
            self.session.set_active_image(self._images[row])

    def close_panel(self) -> None:
        """Disconnect from the session."""
        self.session.image_added.disconnect(self._on_session_image_added)
