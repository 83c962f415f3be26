"""``UndoRouter``: Edit ▸ Undo / Redo (Ctrl+Z, Ctrl+Y) go to whichever history holds the most recent step.

Two kinds of history exist: the active segmentation's :class:`~app.model.history.History` (voxel
and label-table steps, driven through the Segment Editor's controller) and the session's
:class:`~app.model.annotation_history.AnnotationHistory` (boxes and findings). Every step of
either carries a number of one process-wide sequence, restamped when it moves between stacks
(``last_undo_seq`` / ``last_redo_seq``, 0 when empty), so Undo reverts the step with the largest
``last_undo_seq`` and Redo re-applies the one undone most recently (largest ``last_redo_seq``).

:func:`install_undo_router` points the Segment Editor's existing Undo/Redo actions (menu, toolbar
buttons, ``z`` / ``y`` keys) at the router and keeps them enabled while any history can act.
GUI thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from PySide6.QtGui import QAction

    from ui.main_window import MainWindow


class UndoSource(Protocol):
    """What the router needs of a history."""

    @property
    def last_undo_seq(self) -> int: ...  # noqa: D102
    @property
    def last_redo_seq(self) -> int: ...  # noqa: D102
    def undo(self) -> bool: ...  # noqa: D102
    def redo(self) -> bool: ...  # noqa: D102


class EditorUndoSource:
    """The Segment Editor's active segmentation as an :class:`UndoSource` (nothing when none is active)."""

    def __init__(self, editor: Any) -> None:
        self.editor = editor

    def _history(self) -> Any:
        labels = getattr(self.editor, "labels", None)
        return labels.history if labels is not None else None

    @property
    def last_undo_seq(self) -> int:
        """Sequence number of the segmentation step Undo would revert (0: none)."""
        history = self._history()
        return int(history.last_undo_seq) if history is not None else 0

    @property
    def last_redo_seq(self) -> int:
        """Sequence number of the segmentation step Redo would re-apply (0: none)."""
        history = self._history()
        return int(history.last_redo_seq) if history is not None else 0

    def undo(self) -> bool:
        """Undo through the editor (it refreshes its views and buttons)."""
        return bool(self.editor.undo())

    def redo(self) -> bool:
        """Redo through the editor."""
        return bool(self.editor.redo())


class UndoRouter(QObject):
    """Route undo/redo to the source holding the most recent step.

    Signals
    -------
    changed()
        After a routed undo/redo (and when :meth:`refresh` is called).
    """

    changed = Signal()

    def __init__(self, sources: list[UndoSource], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sources = list(sources)

    def _pick(self, attr: str) -> UndoSource | None:
        best = max(self.sources, key=lambda s: getattr(s, attr), default=None)
        return best if best is not None and getattr(best, attr) > 0 else None

    @property
    def can_undo(self) -> bool:
        """True when some source has a step to undo."""
        return self._pick("last_undo_seq") is not None

    @property
    def can_redo(self) -> bool:
        """True when some source has a step to redo."""
        return self._pick("last_redo_seq") is not None

    def undo(self) -> bool:
        """Undo the most recent step of all sources; False when there is none (or it was refused)."""
        source = self._pick("last_undo_seq")
        done = source is not None and source.undo()
        self.changed.emit()
        return done

    def redo(self) -> bool:
        """Redo the most recently undone step of all sources; False when there is none."""
        source = self._pick("last_redo_seq")
        done = source is not None and source.redo()
        self.changed.emit()
        return done

    def refresh(self) -> None:
        """Announce that a source's stacks changed (updates the actions' enabled state)."""
        self.changed.emit()


def _retarget(action: QAction, slot: Any) -> None:
    try:
        action.triggered.disconnect()  # the editor's own slot: active segmentation only
    except (RuntimeError, TypeError):
        pass
    action.triggered.connect(slot)


def install_undo_router(window: MainWindow, annotation_history: UndoSource) -> UndoRouter:
    """Make the window's Undo/Redo actions route between the segmentation and ``annotation_history``."""
    panel = window.segment_editor
    editor = panel.controller
    router = UndoRouter([EditorUndoSource(editor), annotation_history], window)
    undo_action, redo_action = panel.undo_action, panel.redo_action
    _retarget(undo_action, router.undo)
    _retarget(redo_action, router.redo)

    def update_actions(*_: object) -> None:
        undo_action.setEnabled(router.can_undo)
        redo_action.setEnabled(router.can_redo)

    editor.history_changed.connect(update_actions)  # after the panel's own update: this one wins
    router.changed.connect(update_actions)
    changed = getattr(annotation_history, "changed", None)
    if changed is not None:
        changed.connect(update_actions)
    router.update_actions = update_actions  # type: ignore[attr-defined]
    update_actions()
    return router
