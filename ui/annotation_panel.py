"""``AnnotationPanel``: the session's proposals and annotations as a list (no box visual yet).

Three groups: segmentations (each segment with its provenance status), boxes (label, confidence,
size in mm, status) and findings (label, confidence, status). Rebuilt from the model on every
change (a few dozen rows); GUI thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

if TYPE_CHECKING:
    from app.model.labels import LabelVolume
    from app.model.session import Session


def _status(provenance: object) -> str:
    return getattr(provenance, "status", "") or "manual"


def _source(provenance: object) -> str:
    return getattr(provenance, "source", "") or ""


class AnnotationPanel(QTreeWidget):
    """Lists segmentations, boxes and findings of a :class:`Session` with confidence and status."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setHeaderLabels(["Item", "Confidence", "Status", "Source"])
        self._watched: list[LabelVolume] = []
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.refresh)
        self._connections = [
            (session.segmentation_added, self._on_session_segmentation_added),
            (session.boxes.added, self._schedule), (session.boxes.changed, self._schedule),
            (session.boxes.removed, self._schedule), (session.findings.added, self._schedule),
            (session.findings.changed, self._schedule), (session.findings.removed, self._schedule),
        ]
        for signal, slot in self._connections:
            signal.connect(slot)
        for labels in session.segmentations:
            self._watch(labels)
        self.refresh()

    def _schedule(self, *_: object) -> None:
        self._refresh_timer.start()

    def _watch(self, labels: LabelVolume) -> None:
        labels.table.changed.connect(self._schedule)
        self._watched.append(labels)

    def _on_session_segmentation_added(self, labels: LabelVolume) -> None:
        self._watch(labels)
        self._schedule()

    def refresh(self) -> None:
        """Rebuild the rows from the session."""
        self.clear()
        s = self.session
        segs = QTreeWidgetItem(self, [f"Segmentations ({len(s.segmentations)})"])
        for labels in s.segmentations:
            item = QTreeWidgetItem(segs, [labels.name or "Segmentation"])
            for seg in labels.table:
                QTreeWidgetItem(item, [f"{seg.id}: {seg.name}", "", _status(seg.provenance),
                                       _source(seg.provenance)])
            statuses = sorted({_status(seg.provenance) for seg in labels.table})
            item.setText(2, ", ".join(statuses))
        boxes = QTreeWidgetItem(self, [f"Boxes ({len(s.boxes)})"])
        for box in sorted(s.boxes, key=lambda b: -(b.confidence or 0.0)):
            size = " × ".join(f"{v:.0f}" for v in box.size_mm)
            name = box.note or f"label {box.label_id}"
            conf = "" if box.confidence is None else f"{box.confidence:.2f}"
            row = QTreeWidgetItem(boxes, [f"{name}  {size} mm", conf, _status(box.provenance),
                                          _source(box.provenance)])
            centre = tuple(round((a + b) / 2, 1) for a, b in zip(box.lps_min, box.lps_max, strict=True))
            row.setToolTip(0, f"centre LPS {centre} mm")
        findings = QTreeWidgetItem(self, [f"Findings ({len(s.findings)})"])
        for finding in s.findings:
            conf = "" if finding.confidence is None else f"{finding.confidence:.2f}"
            QTreeWidgetItem(findings, [f"{finding.label} {finding.value}".strip(), conf,
                                       _status(finding.provenance), _source(finding.provenance)])
        self.expandAll()
        self.resizeColumnToContents(0)

    def rows(self, group: int) -> list[list[str]]:
        """Texts of the rows of one group (0 segmentations, 1 boxes, 2 findings); for tests."""
        top = self.topLevelItem(group)
        return [[top.child(i).text(c) for c in range(self.columnCount())] for i in range(top.childCount())]

    def close_panel(self) -> None:
        """Disconnect from the session."""
        self._refresh_timer.stop()
        for signal, slot in self._connections:
            signal.disconnect(slot)
        for labels in self._watched:
            labels.table.changed.disconnect(self._schedule)
        self._watched.clear()
