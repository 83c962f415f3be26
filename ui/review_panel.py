"""``ReviewPanel``: every annotation of the study (segments, boxes, findings) for review.

One flat, sortable list (default: confidence, highest first) with a status filter. Keys while the
list has focus, as a reader expects from a worklist-style review:

=============  ==============================================================================
Enter          accept the selected annotation, then go to the next proposal
Delete         reject it, then go to the next proposal
N / P          next / previous proposal (status ``proposed``); all views centre on it
U              back to ``proposed`` (undo the review decision)
double-click   centre all views on the annotation
=============  ==============================================================================

Findings (classification labels) come from the vocabulary (:mod:`app.model.vocabulary`); the
"Add finding" menu and the vocabulary's shortcuts (window-wide, installed by
:func:`ui.review_actions.install_review_actions`) attach one to the study, the active series, the
selected box or the selected segment. Status changes go through :func:`app.model.review.set_status`
(stamping reader and time). Rebuilt from the model on every change (a few hundred rows at most);
GUI thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.model.review import AnnotationRef, ReviewItem, iter_annotations, set_status
from ui.timers import single_shot_timer

if TYPE_CHECKING:
    from app.model.labels import LabelVolume
    from app.model.session import Session
    from app.model.vocabulary import VocabularyEntry

#: Filter title → statuses shown.
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "All": ("manual", "proposed", "accepted", "edited", "rejected"),
    "To review (proposed)": ("proposed",),
    "Accepted": ("accepted",),
    "Edited": ("edited",),
    "Rejected": ("rejected",),
    "Manual": ("manual",),
    "Not rejected": ("manual", "proposed", "accepted", "edited"),
}
COLUMNS = ("Item", "Confidence", "Status", "Kind", "Source", "Reader")
_KIND_TITLES = {"segment": "Segment", "box": "Box", "finding": "Finding"}
_REF_ROLE = Qt.ItemDataRole.UserRole + 1


class _SortItem(QTreeWidgetItem):
    """Row that sorts numerically by confidence (blank = lowest)."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        if column == 1:
            return _conf(self.text(1)) < _conf(other.text(1))
        return self.text(column) < other.text(column)


def _conf(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return -1.0


class ReviewPanel(QWidget):
    """The Annotations dock: list, filter, review keys.

    Signals
    -------
    centre_requested(object)
        LPS mm point (numpy array) the views should centre on.
    selection_changed(object)
        The selected :class:`~app.model.review.AnnotationRef` (None when nothing is selected).
    message(str)
        A one-line note for the status bar.
    """

    centre_requested = Signal(object)
    selection_changed = Signal(object)
    message = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.reader: str | None = None  # None: the OS user (see app.model.review)
        self.vocabulary_entries: tuple[VocabularyEntry, ...] = ()  # set by ui.review_actions
        self.filter_combo = QComboBox()
        self.filter_combo.addItems(list(STATUS_FILTERS))
        self.filter_combo.setToolTip("Show annotations with these review statuses")
        self.summary = QLabel()
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.SingleSelection)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.setToolTip("Enter accept · Delete reject · N/P next/previous proposal · U back to proposed")
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.filter_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.summary)
        self._items: list[ReviewItem] = []
        self._refresh_timer = single_shot_timer(self, self.refresh)
        self._watched: list[LabelVolume] = []
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
        self.filter_combo.currentIndexChanged.connect(self._schedule)
        self.tree.itemDoubleClicked.connect(lambda item, _c: self._centre_on(self._ref_of(item)))
        self.tree.itemSelectionChanged.connect(lambda: self.selection_changed.emit(self.selected_ref()))
        self.tree.customContextMenuRequested.connect(self._on_context_menu)
        self.tree.installEventFilter(self)
        self.refresh()

    # ------------------------------------------------------------------ model → rows
    def _schedule(self, *_: object) -> None:
        self._refresh_timer.start()

    def _watch(self, labels: LabelVolume) -> None:
        labels.table.changed.connect(self._schedule)
        self._watched.append(labels)

    def _on_session_segmentation_added(self, labels: LabelVolume) -> None:
        self._watch(labels)
        self._schedule()

    def refresh(self) -> None:
        """Rebuild the rows from the session, keeping the selection."""
        selected = self.selected_ref()
        self._items = iter_annotations(self.session)
        shown = STATUS_FILTERS[self.filter_combo.currentText()]
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        restore = None
        for item in self._items:
            if item.status not in shown:
                continue
            conf = "" if item.confidence is None else f"{item.confidence:.2f}"
            row = _SortItem(self.tree, [item.name, conf, item.status, _KIND_TITLES.get(item.ref.kind, item.ref.kind),
                                        item.source, item.reader])
            row.setData(0, _REF_ROLE, item.ref)
            if item.centre_lps_mm is not None:
                centre = ", ".join(f"{v:.1f}" for v in item.centre_lps_mm)
                row.setToolTip(0, f"{item.name}\ncentre LPS ({centre}) mm")
            if item.status == "proposed":
                font = row.font(0)
                font.setItalic(True)
                row.setFont(0, font)
            if item.ref == selected:
                restore = row
        self.tree.setSortingEnabled(True)
        if restore is not None:
            self.tree.setCurrentItem(restore)
        for column in (0, 1, 2, 3):
            self.tree.resizeColumnToContents(column)
        counts = {s: sum(1 for i in self._items if i.status == s) for s in ("proposed", "accepted", "edited",
                                                                             "rejected")}
        reviewed = counts["accepted"] + counts["edited"] + counts["rejected"]
        total = reviewed + counts["proposed"]
        self.summary.setText(f"{reviewed} of {total} proposals reviewed · {len(self._items)} annotations"
                             if total else f"{len(self._items)} annotations")

    # ------------------------------------------------------------------ queries (tests, actions)
    def rows(self, kind: str | None = None) -> list[list[str]]:
        """Texts of the visible rows in display order (optionally of one kind: segment/box/finding)."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            row = self.tree.topLevelItem(i)
            ref = self._ref_of(row)
            if kind is None or (ref is not None and ref.kind == kind):
                out.append([row.text(c) for c in range(len(COLUMNS))])
        return out

    def _ref_of(self, row: QTreeWidgetItem | None) -> AnnotationRef | None:
        return None if row is None else row.data(0, _REF_ROLE)

    def selected_ref(self) -> AnnotationRef | None:
        """The selected annotation, if any."""
        return self._ref_of(self.tree.currentItem()) if self.tree.selectedItems() else None

    def item_for(self, ref: AnnotationRef) -> ReviewItem | None:
        """The current :class:`ReviewItem` of ``ref``."""
        return next((i for i in self._items if i.ref == ref), None)

    def select(self, ref: AnnotationRef, *, centre: bool = True) -> bool:
        """Select ``ref``'s row (if shown) and optionally centre the views on it."""
        for i in range(self.tree.topLevelItemCount()):
            row = self.tree.topLevelItem(i)
            if self._ref_of(row) == ref:
                self.tree.setCurrentItem(row)
                self.tree.scrollToItem(row)
                if centre:
                    self._centre_on(ref)
                return True
        return False

    # ------------------------------------------------------------------ review actions
    def set_selected_status(self, status: str, *, advance: bool = True) -> bool:
        """Give the selected annotation ``status``; with ``advance`` move on to the next proposal."""
        ref = self.selected_ref()
        if ref is None:
            return False
        item = self.item_for(ref)
        if item is not None and item.status == "manual":
            return self._manual_decision(ref, status)
        set_status(self.session, ref, status, reader=self.reader)
        if status == "rejected" and ref.kind == "segment":
            labels = self.session.segmentations[ref.segmentation]
            labels.table.update(int(ref.item_id), visible=False)
        elif status in ("accepted", "proposed") and ref.kind == "segment":
            labels = self.session.segmentations[ref.segmentation]
            if not labels.table[int(ref.item_id)].visible:
                labels.table.update(int(ref.item_id), visible=True)
        self.refresh()
        if advance:
            self.step_proposal(+1, wrap=True)
        return True

    def _manual_decision(self, ref: AnnotationRef, status: str) -> bool:
        """Manual annotations are not reviewed: "reject" deletes a manual box or finding (an undo step
        of the annotation history); anything else just says so."""
        if status == "rejected" and ref.kind in ("box", "finding"):
            items = self.session.boxes if ref.kind == "box" else self.session.findings
            items.remove(ref.item_id)
            self.message.emit(f"Deleted manual {ref.kind}")
            self.refresh()
            return True
        self.message.emit("Manual annotations have no review status (delete or edit them instead)")
        return False

    def step_proposal(self, step: int, *, wrap: bool = True) -> AnnotationRef | None:
        """Select the next (``step`` = +1) or previous (−1) ``proposed`` row in display order and
        centre the views on it. Returns its ref (None when no proposal is left)."""
        rows = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        proposals = [i for i, row in enumerate(rows) if row.text(2) == "proposed"]
        if not proposals:
            return None
        current = self.tree.indexOfTopLevelItem(self.tree.currentItem()) if self.tree.selectedItems() else -1
        if step > 0:
            after = [i for i in proposals if i > current]
            target = after[0] if after else (proposals[0] if wrap else None)
        else:
            before = [i for i in proposals if i < current] if current >= 0 else proposals
            target = before[-1] if before else (proposals[-1] if wrap else None)
        if target is None:
            return None
        ref = self._ref_of(rows[target])
        self.select(ref)
        return ref

    def _centre_on(self, ref: AnnotationRef | None) -> None:
        item = self.item_for(ref) if ref is not None else None
        if item is not None and item.centre_lps_mm is not None:
            self.centre_requested.emit(item.centre_lps_mm)

    def eventFilter(self, obj: object, event: object) -> bool:  # noqa: N802 - Qt override
        if obj is self.tree and isinstance(event, QKeyEvent) and event.type() == QKeyEvent.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                return self.set_selected_status("accepted")
            if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
                return self.set_selected_status("rejected")
            if key == Qt.Key.Key_U:
                return self.set_selected_status("proposed", advance=False)
            if key == Qt.Key.Key_N:
                self.step_proposal(+1)
                return True
            if key == Qt.Key.Key_P:
                self.step_proposal(-1)
                return True
        return super().eventFilter(obj, event)

    def _on_context_menu(self, pos: object) -> None:
        row = self.tree.itemAt(pos)
        if row is None:
            return
        self.tree.setCurrentItem(row)
        menu = QMenu(self)
        for title, status in (("Accept", "accepted"), ("Reject", "rejected"), ("Mark edited", "edited"),
                              ("Back to proposed", "proposed")):
            action = menu.addAction(title)
            action.triggered.connect(lambda _=False, s=status: self.set_selected_status(s, advance=False))
        menu.addSeparator()
        menu.addAction("Centre views on it").triggered.connect(lambda: self._centre_on(self.selected_ref()))
        ref = self._ref_of(row)
        if ref is not None and ref.kind in ("box", "finding"):
            menu.addAction("Edit note…").triggered.connect(lambda: self.edit_note(ref))
        if ref is not None and ref.kind == "finding":
            finding = self.session.findings[ref.item_id]
            values = [e for e in self.vocabulary_entries if e.label == finding.label and e.level == finding.level]
            if values:
                sub = menu.addMenu("Set value")
                for entry in values:
                    sub.addAction(entry.value or entry.label).triggered.connect(
                        lambda _=False, e=entry: self.set_finding_value(ref, e))
        self.context_menu = menu
        menu.popup(self.tree.viewport().mapToGlobal(pos))

    def edit_note(self, ref: AnnotationRef, text: str | None = None) -> bool:
        """Set the free-text note of a box or finding (asks when ``text`` is None); an undo step."""
        items = self.session.boxes if ref.kind == "box" else self.session.findings
        current = items[ref.item_id].note
        if text is None:
            from PySide6.QtWidgets import QInputDialog

            text, ok = QInputDialog.getText(self, "MedWS: note", "Note:", text=current)
            if not ok:
                return False
        if text == current:
            return False
        items.update(ref.item_id, note=text)
        return True

    def set_finding_value(self, ref: AnnotationRef, entry: VocabularyEntry) -> None:
        """Change a finding's value (and code) to ``entry``'s; a proposal becomes ``edited``."""
        code = f"{entry.code.scheme}^{entry.code.value}^{entry.code.meaning}" if entry.code else ""
        self.session.findings.update(ref.item_id, value=entry.value, code=code)

    def close_panel(self) -> None:
        """Disconnect from the session."""
        self._refresh_timer.stop()
        for signal, slot in self._connections:
            signal.disconnect(slot)
        for labels in self._watched:
            labels.table.changed.disconnect(self._schedule)
        self._watched.clear()
