"""Undo/redo of box and finding edits: before/after atoms recorded from the sets' own signals.

:class:`AnnotationHistory` listens to ``added`` / ``removed`` / ``changed`` of a
:class:`~app.model.annotations.BoxSet` and a :class:`~app.model.annotations.FindingSet`, so every
mutation is undoable whatever code path made it (a tool, the review panel, a model run). An atom
is :class:`ItemEdit` ``(kind, before, after)`` holding two frozen items (``before`` None = added,
``after`` None = removed): a few hundred bytes, so the history is bounded by step count.

Grouping:

* :meth:`AnnotationHistory.transaction` makes one step of everything inside it (one mouse drag =
  one step; the atoms of one item are merged into its net before → after);
* outside a transaction, one emission is one step, *including* the edits that slots make while it
  is being delivered (e.g. the review tracker stamping ``edited`` on a moved proposal): the history
  connects with the highest priority to open an implicit group and the lowest to close it;
* nothing is recorded while a step is replayed, or inside :meth:`AnnotationHistory.suspended`
  (loading a session).

Steps carry a number from :func:`app.model.history.next_seq`, restamped when they move between the
stacks, like the segmentation :class:`~app.model.history.History`, so an undo router can pick
whichever history holds the most recent step. GUI thread only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from psygnal import Signal

from app.model.history import UndoStackState, next_seq

if TYPE_CHECKING:
    from app.model.annotations import BoxSet, FindingSet

_FIRST, _LAST = 10_000, -10_000  # psygnal slot priorities: open / close an implicit group


@dataclass(frozen=True)
class ItemEdit:
    """One atom: item ``before`` became ``after`` in the set named ``kind`` ("box" or "finding").

    Invariant: at least one of ``before`` / ``after`` is set; when both are, they share an ``id``.
    """

    kind: str
    before: Any
    after: Any

    @property
    def item_id(self) -> str:
        """Id of the item edited."""
        return (self.after if self.after is not None else self.before).id


@dataclass
class AnnotationStep:
    """The atoms of one step, in the order they happened; ``seq`` orders steps across histories."""

    title: str
    edits: tuple[ItemEdit, ...]
    seq: int = 0


def _net(edits: list[ItemEdit]) -> list[ItemEdit]:
    """Merge the atoms of each item into one net before → after (dropping no-ops), in first-touch order.

    Atoms may arrive out of order when a slot edits an item during the emission of another edit
    of it (the inner emission reaches this history first); the chain is linked by value.
    """
    by_id: dict[tuple[str, str], list[ItemEdit]] = {}
    for e in edits:
        by_id.setdefault((e.kind, e.item_id), []).append(e)
    out: list[ItemEdit] = []
    for (kind, _), chain in by_id.items():
        afters = [e.after for e in chain]
        befores = [e.before for e in chain]
        head = next((e for e in chain if not any(e.before == a for a in afters if a is not None)), chain[0])
        tail = next((e for e in reversed(chain) if not any(e.after == b for b in befores if b is not None)),
                    chain[-1])
        if head.before is None and tail.after is None:
            continue  # added and removed again
        if head.before is not None and head.before == tail.after:
            continue  # back where it started
        out.append(ItemEdit(kind, head.before, tail.after))
    return out


def _title(edits: list[ItemEdit]) -> str:
    if len(edits) != 1:
        return f"Edit {len(edits)} annotations"
    e = edits[0]
    verb = "Add" if e.before is None else "Delete" if e.after is None else "Edit"
    return f"{verb} {e.kind}"


class AnnotationHistory(UndoStackState):
    """Undo/redo stacks for the boxes and findings of one session (see module docstring).

    Parameters
    ----------
    boxes, findings
        The sets to follow (usually ``session.boxes`` and ``session.findings``).
    max_steps
        Undo steps kept (the oldest go first).

    Signals
    -------
    changed()
        After every recorded step, undo, redo or clear.
    """

    changed = Signal()

    def __init__(self, boxes: BoxSet, findings: FindingSet, max_steps: int = 1000) -> None:
        self.sets = {"box": boxes, "finding": findings}
        self.max_steps = int(max_steps)
        self._undo: deque[AnnotationStep] = deque()
        self._redo: list[AnnotationStep] = []
        self._open: list[ItemEdit] | None = None  # atoms of the explicit transaction
        self._open_title = ""
        self._group: list[ItemEdit] = []  # atoms of the implicit group (one emission)
        self._depth = 0  # emissions being delivered
        self._suspended = 0
        self._connections: list[tuple[Any, Any]] = []
        for kind, items in self.sets.items():
            for signal, record in ((items.added, lambda item, k=kind: self._record(ItemEdit(k, None, item))),
                                   (items.removed, lambda item, k=kind: self._record(ItemEdit(k, item, None))),
                                   (items.changed, lambda old, new, k=kind: self._record(ItemEdit(k, old, new)))):
                signal.connect(self._enter, priority=_FIRST)
                signal.connect(record, priority=_LAST)
                self._connections += [(signal, self._enter), (signal, record)]

    # ------------------------------------------------------------- recording
    def _enter(self, *_: object) -> None:
        self._depth += 1

    def _record(self, edit: ItemEdit) -> None:
        self._depth = max(0, self._depth - 1)
        if not self._suspended:
            if self._open is not None:
                self._open.append(edit)
            else:
                self._group.append(edit)
        if self._depth == 0 and self._group:
            group, self._group = self._group, []
            self._push("", group)

    def _push(self, title: str, edits: list[ItemEdit]) -> None:
        net = _net(edits)
        if not net:
            return
        self._undo.append(AnnotationStep(title or _title(net), tuple(net), next_seq()))
        while len(self._undo) > self.max_steps:
            self._undo.popleft()
        self._redo.clear()
        self.changed.emit()

    @contextmanager
    def transaction(self, title: str = "") -> Iterator[None]:
        """Make one undo step of every box/finding edit inside the block (nested blocks join the outer)."""
        if self._open is not None:
            yield
            return
        self._open, self._open_title = [], title
        try:
            yield
        finally:
            edits, self._open = self._open, None
            self._push(title, edits)

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Record nothing inside the block (e.g. while a session's annotations are loaded)."""
        self._suspended += 1
        try:
            yield
        finally:
            self._suspended -= 1

    # ------------------------------------------------------------- replaying
    def _apply(self, step: AnnotationStep, *, forward: bool) -> None:
        edits = step.edits if forward else tuple(reversed(step.edits))
        with self.suspended():
            for e in edits:
                items = self.sets[e.kind]
                old, new = (e.before, e.after) if forward else (e.after, e.before)
                if new is None:
                    if old.id in items:
                        items.remove(old.id)
                elif new.id not in items:
                    items.add(new)
                else:
                    items.update(new.id, **{f.name: getattr(new, f.name) for f in fields(new) if f.name != "id"})

    def undo(self) -> bool:
        """Revert the most recent step; False when there is none or a transaction is open."""
        if not self._undo or self._open is not None:
            return False
        step = self._undo.pop()
        self._apply(step, forward=False)
        step.seq = next_seq()
        self._redo.append(step)
        self.changed.emit()
        return True

    def redo(self) -> bool:
        """Re-apply the most recently undone step; False when there is none or a transaction is open."""
        if not self._redo or self._open is not None:
            return False
        step = self._redo.pop()
        self._apply(step, forward=True)
        step.seq = next_seq()
        self._undo.append(step)
        self.changed.emit()
        return True

    def clear(self) -> None:
        """Forget every step (after loading a session, say)."""
        self._undo.clear()
        self._redo.clear()
        self.changed.emit()

    # ----------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Stop following the sets."""
        for signal, slot in self._connections:
            signal.disconnect(slot, missing_ok=True)
        self._connections.clear()
