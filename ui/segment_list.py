"""Segmentation selector and segment list of the Segment Editor.

:class:`SegmentListMixin` gives :class:`~ui.segment_editor.SegmentEditorPanel` its segmentation
combo and segment table behaviour: one row per segment (colour swatch, name, Show, Lock, review
status), kept in sync with the active segmentation's table and the controller's active segment;
add/remove segments and new segmentations. The editing status (Slicer's not started / in progress /
completed / flagged) is set from the Status column or the row's context menu (which also renames,
recolours and removes); these table edits are undo steps of the segmentation, like voxel edits.
A model proposal's review status (``Segment.provenance``) is separate and shown in the name's
tooltip. GUI thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QSignalBlocker, Qt
from PySide6.QtGui import QActionGroup, QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QColorDialog, QComboBox, QMenu, QTableWidgetItem

from app.model.labels import SEGMENT_STATUSES

if TYPE_CHECKING:
    from app.model.labels import LabelVolume

_STATUS_TITLES = {"not_started": "Not started", "in_progress": "In progress", "completed": "Completed",
                  "flagged": "Flagged"}
COL_COLOR, COL_NAME, COL_VISIBLE, COL_LOCKED, COL_STATUS = range(5)


def _swatch(rgb: tuple[int, int, int], size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(*rgb))
    return QIcon(pixmap)


class SegmentListMixin:
    """Segmentation and segment-list methods of :class:`~ui.segment_editor.SegmentEditorPanel` (uses its widgets)."""

    # --------------------------------------------------------- segmentations
    def _new_segmentation(self) -> None:
        if self.session.active_image is None:
            self.message.setText("Open an image first.")
            return
        labels = self.session.new_segmentation(f"Segmentation {len(self.session.segmentations) + 1}")
        labels.table.new_segment()
        self.controller.set_label_id(next(iter(labels.table)).id)
        self._refresh_segments()

    def _on_session_segmentation_added(self, labels: LabelVolume) -> None:
        self.segmentation_combo.addItem(labels.name or "Segmentation", labels)
        self._select_combo(self.controller.labels)

    def _select_combo(self, labels: LabelVolume | None) -> None:
        for i in range(self.segmentation_combo.count()):
            if self.segmentation_combo.itemData(i) is labels:
                with QSignalBlocker(self.segmentation_combo):
                    self.segmentation_combo.setCurrentIndex(i)

    def _on_segmentation_combo_activated(self, index: int) -> None:
        self.controller.set_labels(self.segmentation_combo.itemData(index))

    def _on_controller_labels_changed(self, labels: LabelVolume | None) -> None:
        if self._table_labels is not None:
            self._table_labels.table.changed.disconnect(self._on_table_changed)
        self._table_labels = labels
        if labels is not None:
            labels.table.changed.connect(self._on_table_changed)
        self._select_combo(labels)
        self._refresh_segments()
        visuals = self.controller.label_visuals()
        if visuals:  # show this segmentation's own display settings
            with QSignalBlocker(self.opacity_slider), QSignalBlocker(self.outline_check):
                self.opacity_slider.setValue(round(visuals[0].fill_opacity * 100))
                self.outline_check.setChecked(visuals[0].outline_visible)

    # -------------------------------------------------------------- segments
    def add_segment(self) -> None:
        """Add a segment (next free id, default colour) and select it; creates a segmentation if needed."""
        c = self.controller
        if c.labels is None:
            if self.session.active_image is None:
                self.message.setText("Open an image first.")
                return
            self.session.new_segmentation()
        assert c.labels is not None
        seg = c.labels.table.new_segment()
        c.set_label_id(seg.id)

    def remove_segment(self) -> None:
        """Remove the selected segment and its voxels (the voxels come back with Undo)."""
        self.controller.remove_segment(self.controller.label_id)

    def _on_table_changed(self, _label_id: int) -> None:
        self._refresh_segments()

    def _refresh_segments(self) -> None:
        self._sync_area_segment_combo()
        labels = self.controller.labels
        table = self.segment_table
        self._updating = True
        try:
            table.setRowCount(0)
            for row, seg in enumerate(labels.table if labels is not None else []):
                table.insertRow(row)
                color = QTableWidgetItem()
                color.setIcon(_swatch(seg.color_rgb))
                color.setData(Qt.ItemDataRole.UserRole, seg.id)
                color.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                color.setToolTip("Double-click to change the colour")
                table.setItem(row, COL_COLOR, color)
                name = QTableWidgetItem(seg.name)
                name.setData(Qt.ItemDataRole.UserRole, seg.id)
                if seg.provenance is not None:  # review status of a model/classical proposal
                    review = seg.provenance.status
                    name.setToolTip(f"{review} — source: {seg.provenance.source}")
                    if review == "proposed":
                        font = name.font()
                        font.setItalic(True)
                        name.setFont(font)
                table.setItem(row, COL_NAME, name)
                for col, value in ((COL_VISIBLE, seg.visible), (COL_LOCKED, seg.locked)):
                    item = QTableWidgetItem()
                    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                                  | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(Qt.CheckState.Checked if value else Qt.CheckState.Unchecked)
                    table.setItem(row, col, item)
                status = QComboBox()
                for key in SEGMENT_STATUSES:
                    status.addItem(_STATUS_TITLES.get(key, key), key)
                status.setCurrentIndex(status.findData(seg.status))
                status.currentIndexChanged.connect(
                    lambda _i, s=status, sid=seg.id: self._set_segment(sid, status=s.currentData()))
                table.setCellWidget(row, COL_STATUS, status)
                if seg.id == self.controller.label_id:
                    table.selectRow(row)
                    table.setCurrentCell(row, COL_NAME)
                if not seg.visible:
                    name.setForeground(QBrush(QColor(140, 140, 140)))
        finally:
            self._updating = False

    def _sync_area_segment_combo(self, *_: object) -> None:
        labels = self.controller.labels
        combo = self.area_segment_combo
        with QSignalBlocker(combo):
            combo.clear()
            combo.addItem("(none)", 0)
            for seg in labels.table if labels is not None else []:
                combo.addItem(_swatch(seg.color_rgb), seg.name, seg.id)
            combo.setCurrentIndex(max(0, combo.findData(self.controller.options.area_segment)))

    def segment_row(self, label_id: int) -> int:
        """Row of ``label_id`` in the segment list (-1 when absent)."""
        for row in range(self.segment_table.rowCount()):
            if self.segment_table.item(row, COL_COLOR).data(Qt.ItemDataRole.UserRole) == label_id:
                return row
        return -1

    def _row_id(self, row: int) -> int | None:
        item = self.segment_table.item(row, COL_COLOR)
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _set_segment(self, label_id: int, **changes: object) -> None:
        labels = self.controller.labels
        if labels is not None and label_id in labels.table:
            labels.table.update(label_id, **changes)

    def _on_segment_item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating:
            return
        label_id = self._row_id(item.row())
        if label_id is None:
            return
        col = item.column()
        if col == COL_NAME and item.text().strip():
            self._set_segment(label_id, name=item.text().strip())
        elif col == COL_VISIBLE:
            self._set_segment(label_id, visible=item.checkState() == Qt.CheckState.Checked)
        elif col == COL_LOCKED:
            self._set_segment(label_id, locked=item.checkState() == Qt.CheckState.Checked)

    def _on_segment_current_cell_changed(self, row: int, *_: int) -> None:
        if self._updating:
            return
        label_id = self._row_id(row)
        if label_id is not None:
            self.controller.set_label_id(label_id)

    def _on_segment_cell_double_clicked(self, row: int, col: int) -> None:
        label_id = self._row_id(row)
        if col == COL_COLOR and label_id is not None:
            self._pick_colour(label_id)

    def _on_controller_segment_changed(self, label_id: int) -> None:
        row = self.segment_row(label_id)
        if row >= 0 and row != self.segment_table.currentRow():
            self._updating = True
            try:
                self.segment_table.selectRow(row)
                self.segment_table.setCurrentCell(row, COL_NAME)
            finally:
                self._updating = False

    # ------------------------------------------------------------ context menu
    def segment_context_menu(self, label_id: int) -> QMenu | None:
        """Build the context menu of one segment row: status, rename, colour, remove (None if unknown)."""
        labels = self.controller.labels
        if labels is None or label_id not in labels.table:
            return None
        seg = labels.table[label_id]
        menu = QMenu(self.segment_table)
        status_menu = menu.addMenu("Status")
        group = QActionGroup(status_menu)
        for key in SEGMENT_STATUSES:
            action = status_menu.addAction(_STATUS_TITLES.get(key, key))
            action.setObjectName(f"status_{key}")
            action.setCheckable(True)
            action.setChecked(seg.status == key)
            group.addAction(action)
            action.triggered.connect(lambda _=False, k=key: self._set_segment(label_id, status=k))
        rename = menu.addAction("Rename")
        rename.setObjectName("rename")
        rename.triggered.connect(lambda: self._edit_name(label_id))
        colour = menu.addAction("Colour…")
        colour.setObjectName("colour")
        colour.triggered.connect(lambda: self._pick_colour(label_id))
        menu.addSeparator()
        remove = menu.addAction("Remove segment")
        remove.setObjectName("remove")
        remove.triggered.connect(lambda: self.controller.remove_segment(label_id))
        return menu

    def _on_segment_context_menu(self, pos: QPoint) -> None:
        label_id = self._row_id(self.segment_table.rowAt(pos.y()))
        menu = self.segment_context_menu(label_id) if label_id is not None else None
        if menu is not None:
            menu.exec(self.segment_table.viewport().mapToGlobal(pos))
            menu.deleteLater()

    def _edit_name(self, label_id: int) -> None:
        row = self.segment_row(label_id)
        if row >= 0:
            self.segment_table.editItem(self.segment_table.item(row, COL_NAME))

    def _pick_colour(self, label_id: int) -> None:
        labels = self.controller.labels
        if labels is None or label_id not in labels.table:
            return
        color = QColorDialog.getColor(QColor(*labels.table[label_id].color_rgb), self, "Segment colour")
        if color.isValid():
            self._set_segment(label_id, color_rgb=(color.red(), color.green(), color.blue()))
