"""Review ▸ Case metrics…: how much the reader changed the model's proposals in the open case.

The numbers ``medws stats`` prints per case (:func:`app.model.edit_metrics.case_metrics`), live:
per proposed segment Dice / IoU against the kept original and voxels edited, per proposed box IoU
and whether its label changed, status counts, label changes and active review time. Computed on
the GUI thread when the dialog opens or Refresh is pressed (one label-array scan per proposed
segment: tens of milliseconds on a 512×512×300 case). GUI thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.model.edit_metrics import case_metrics

if TYPE_CHECKING:
    from analysis.review_metrics import CaseMetrics
    from app.model.session import Session

COLUMNS = ("Proposal", "Kind", "Status", "Dice", "IoU", "Voxels edited", "Label changed")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def summary_text(metrics: CaseMetrics) -> str:
    """One paragraph: proposals by status, means, label changes, voxels edited, review time."""
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(metrics.statuses.items())) or "none"
    parts = [f"{metrics.proposals} proposals ({statuses}); {metrics.manual} added by hand"]
    dice, box_iou = metrics.mean("dice"), metrics.mean("iou", "boxes")
    if dice is not None:
        over = _count(len(metrics.segments), "segment")
        parts.append(f"mean Dice {dice:.3f}, IoU {metrics.mean('iou'):.3f} over {over}")
    if box_iou is not None:
        parts.append(f"mean box IoU {box_iou:.3f} over {_count(len(metrics.boxes), 'box', 'boxes')}")
    minutes, seconds = divmod(round(metrics.time_s), 60)
    parts.append(f"{metrics.label_changes} label changes, {metrics.voxels_edited} voxels edited, "
                 f"review time {minutes} min {seconds:02d} s")
    return "; ".join(parts)


class CaseMetricsDialog(QDialog):
    """Table of the open case's edit metrics with a Refresh button."""

    def __init__(self, session: Session, case: str = "this case", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("MedWS: Case metrics")
        self.session = session
        self.case = case
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.refresh_button = buttons.addButton("Refresh", QDialogButtonBox.ButtonRole.ActionRole)
        self.refresh_button.clicked.connect(self.refresh)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(720, 360)
        self.metrics: CaseMetrics | None = None
        self.refresh()

    def refresh(self) -> None:
        """Recompute the metrics from the session and refill the table."""
        self.metrics = m = case_metrics(self.session, self.case)
        self.summary.setText(summary_text(m))
        rows = [(s["name"], "Segment", s["status"], _fmt(s["dice"]), _fmt(s["iou"]), str(s["voxels_edited"]), "")
                for s in m.segments]
        rows += [(b["name"], "Box", b["status"], "", _fmt(b["iou"]), "", "yes" if b["label_changed"] else "no")
                 for b in m.boxes]
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()

    def cell_texts(self) -> list[list[str]]:
        """The table's texts (for tests)."""
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]
