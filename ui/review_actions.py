"""The Review menu: proposal navigation, accept/reject, and the findings vocabulary's shortcuts.

Window-wide shortcuts (they work while the mouse and focus are in a slice view):

================  ===========================================================================
N / P             next / previous proposal; all views centre on it (also in the panel)
Ctrl+Return       accept the selected annotation and go to the next proposal
Ctrl+Backspace    reject it and go to the next proposal
Alt+1 … Alt+9     attach the vocabulary's findings (as set in its file, CVAT-style tag keys)
Ctrl+Shift+M      Case metrics: how much the proposals were changed (Dice/IoU, box IoU, time)
================  ===========================================================================

A finding's target follows its level: study → the study; series → the displayed series; box → the
box selected in the Annotations panel (or by the box tool); segment → the segment selected in the
panel, else the Segment Editor's current segment. Findings with the same label on the same target
are exclusive (pressing "study: abnormal" replaces "study: normal"); pressing the same entry again
removes it, as CVAT's tag keys toggle. GUI thread only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from app.model.vocabulary import Vocabulary, VocabularyEntry, VocabularyError, default_vocabulary

if TYPE_CHECKING:
    from ui.main_window import MainWindow
    from ui.review_panel import ReviewPanel

log = logging.getLogger(__name__)


class ReviewActions:
    """Build the Review menu of ``window`` around ``panel``.

    Attributes: ``menu``, ``vocabulary``, ``finding_actions`` (entry title → QAction),
    ``next_action``, ``previous_action``, ``accept_action``, ``reject_action``.
    """

    def __init__(self, window: MainWindow, panel: ReviewPanel, vocabulary: Vocabulary | None = None) -> None:
        self.window = window
        self.panel = panel
        if vocabulary is None:
            try:
                vocabulary = default_vocabulary()
            except VocabularyError as exc:  # a broken user file must not stop the window
                log.warning("%s; using the demo vocabulary", exc)
                from app.model.vocabulary import DEFAULT_PATH, load_vocabulary

                vocabulary = load_vocabulary(DEFAULT_PATH)
        self.vocabulary = vocabulary
        panel.vocabulary_entries = vocabulary.entries
        self.finding_actions: dict[str, QAction] = {}
        menu = QMenu("&Review", window)
        menu.setObjectName("menu_review")
        bar = window.menuBar()
        before = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        if before is None:
            bar.addMenu(menu)
        else:
            bar.insertMenu(before, menu)
        self.menu = menu
        self.next_action = self._add("Next proposal", lambda: panel.step_proposal(+1), "N")
        self.previous_action = self._add("Previous proposal", lambda: panel.step_proposal(-1), "P")
        self.accept_action = self._add("Accept selected", lambda: panel.set_selected_status("accepted"),
                                       "Ctrl+Return")
        self.reject_action = self._add("Reject selected", lambda: panel.set_selected_status("rejected"),
                                       "Ctrl+Backspace")
        self.metrics_action = self._add("Case &metrics…", self.show_case_metrics, "Ctrl+Shift+M")
        self.metrics_dialog = None
        menu.addSeparator()
        findings = menu.addMenu("Add &finding")
        for entry in vocabulary.entries:
            action = QAction(f"{entry.title}  ({entry.level})", window)
            if entry.shortcut:
                action.setShortcut(QKeySequence(entry.shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(lambda _=False, e=entry: self.toggle_finding(e))
            findings.addAction(action)
            window.addAction(action)
            self.finding_actions[entry.title + "@" + entry.level] = action
        self.findings_menu = findings

    def link_boxes(self, box_tool: object) -> None:
        """Keep the panel's selection and the box tool's selection (``window.box_tool``) in step: a box
        picked in a view is selected in the list, a box row picked in the list is selected in the views."""
        from app.model.review import AnnotationRef

        def from_panel(ref: AnnotationRef | None) -> None:
            if ref is not None and ref.kind == "box" and ref.item_id in self.window.session.boxes:
                if box_tool.selected_id != ref.item_id:
                    box_tool.select(ref.item_id)

        def from_views(box_id: str | None) -> None:
            if box_id is not None:
                self.panel.select(AnnotationRef("box", box_id), centre=False)

        self.panel.selection_changed.connect(from_panel)
        box_tool.selection_changed.connect(from_views)

    def _add(self, text: str, slot, shortcut: str) -> QAction:
        action = QAction(text, self.window)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _=False: slot())
        self.menu.addAction(action)
        self.window.addAction(action)
        return action

    def show_case_metrics(self) -> None:
        """Open (or refresh) the Case metrics dialog: Dice/IoU of edited proposals, box IoU, time."""
        from ui.case_metrics_dialog import CaseMetricsDialog

        if self.metrics_dialog is None:
            self.metrics_dialog = CaseMetricsDialog(self.window.session, parent=self.window)
        else:
            self.metrics_dialog.refresh()
        self.metrics_dialog.show()
        self.metrics_dialog.raise_()

    # ------------------------------------------------------------------ findings
    def target_for(self, level: str) -> tuple[bool, str | None]:
        """(found, target id) for a finding at ``level``; found False when nothing suitable is selected."""
        if level == "study":
            return True, None
        if level == "series":
            image = self.window.session.active_image
            uid = image.metadata.get("SeriesInstanceUID") if image is not None else None
            return (uid is not None), uid
        ref = self.panel.selected_ref()
        if level == "box":
            if ref is not None and ref.kind == "box":
                return True, ref.item_id
            box_tool = getattr(self.window, "box_tool", None)
            selected = getattr(box_tool, "selected_id", None)
            return (selected is not None), selected
        if ref is not None and ref.kind == "segment":
            return True, f"{ref.segmentation}:{ref.item_id}"
        editor = getattr(getattr(self.window, "segment_editor", None), "controller", None)
        labels = getattr(editor, "labels", None)
        if labels is not None and editor.label_id in labels.table:
            return True, f"{self.window.session.segmentations.index(labels)}:{editor.label_id}"
        return False, None

    def toggle_finding(self, entry: VocabularyEntry) -> bool:
        """Attach ``entry`` to its target (replacing a finding with the same label there), or remove
        it when that exact finding is already attached. False (with a status message) when the level
        needs a selection that is missing."""
        found, target = self.target_for(entry.level)
        if not found:
            self.window.status.showMessage(f"Select a {entry.level} first to label it {entry.title!r}", 4000)
            return False
        findings = self.window.session.findings
        same_label = [f for f in findings if f.level == entry.level and f.target == target
                      and f.label == entry.label]
        exact = [f for f in same_label if f.value == entry.value]
        for finding in same_label:
            findings.remove(finding.id)
        if exact:
            self.window.status.showMessage(f"Removed {entry.title}", 3000)
            return True
        findings.add(entry.finding(target))
        where = "study" if target is None else f"{entry.level} {target}"
        self.window.status.showMessage(f"{entry.title} → {where}", 3000)
        return True
