"""Undo history made of region diffs (never full-volume copies), bounded in bytes.

Every step is stamped with a number from one process-wide sequence each time it moves onto the
undo stack (push, redo) or the redo stack (undo), so a router over several histories (labels,
annotations) can undo the most recent step of all of them (:attr:`History.last_undo_seq`) and
redo the most recently undone one (:attr:`History.last_redo_seq`).
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from psygnal import Signal

#: One clock for every History in the process (``next`` on it is atomic under the GIL).
_SEQ = itertools.count(1)


def next_seq() -> int:
    """Return the next number of the process-wide step sequence (for histories outside this module)."""
    return next(_SEQ)


@dataclass(frozen=True)
class Edit:
    """One atom: the voxels that changed inside ``box``.

    ``packed_mask`` is ``np.packbits`` of a boolean array of ``mask_shape`` (the box shape);
    ``old``/``new`` hold the values of the True voxels in C order, or a single value when all are
    equal (painting one label over background stores two numbers, not two volumes).
    """

    box: tuple[slice, slice, slice]
    packed_mask: np.ndarray
    mask_shape: tuple[int, ...]
    old: np.ndarray
    new: np.ndarray

    @property
    def nbytes(self) -> int:
        """Memory held by this atom."""
        return int(self.packed_mask.nbytes + self.old.nbytes + self.new.nbytes) + 64

    def mask(self) -> np.ndarray:
        """Unpack the boolean mask."""
        n = int(np.prod(self.mask_shape))
        return np.unpackbits(self.packed_mask, count=n).astype(bool).reshape(self.mask_shape)

    def apply(self, array: np.ndarray, *, forward: bool) -> None:
        """Write ``new`` (forward) or ``old`` (backward) into ``array``."""
        region = array[self.box]
        region[self.mask()] = self.new if forward else self.old


@dataclass(eq=False)
class Step:
    """The edits of one transaction (a stroke, a fill, an AI result).

    ``edits`` are voxel atoms (:class:`Edit`) and label-table atoms (``app.model.labels.TableEdit``);
    both have ``nbytes``. ``seq`` is the sequence number of the step's last move between stacks.
    """

    title: str
    edits: tuple[Any, ...]
    seq: int = field(default=0)

    @cached_property
    def nbytes(self) -> int:
        """Memory held by this step (computed once; steps are immutable)."""
        return sum(e.nbytes for e in self.edits)


class UndoStackState:
    """Read-only state shared by the undo histories: ``_undo`` / ``_redo`` hold steps with a ``seq``
    from :func:`next_seq` and a ``title``."""

    _undo: Any
    _redo: Any

    @property
    def can_undo(self) -> bool:
        """True when there is a step to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """True when there is a step to redo."""
        return bool(self._redo)

    @property
    def last_undo_seq(self) -> int:
        """Sequence number of the step Undo would revert (0 when none): larger = more recent."""
        return self._undo[-1].seq if self._undo else 0

    #: The name the undo router uses for :attr:`last_undo_seq`.
    last_step_seq = last_undo_seq

    @property
    def last_redo_seq(self) -> int:
        """Sequence number of the step Redo would re-apply (0 when none): larger = undone more recently."""
        return self._redo[-1].seq if self._redo else 0

    def titles(self) -> list[str]:
        """Undo step titles, oldest first."""
        return [s.title for s in self._undo]


class History(UndoStackState):
    """Undo/redo stacks bounded by bytes, always keeping at least ``min_steps`` steps.

    Parameters
    ----------
    max_bytes
        Memory budget for the undo stack (default 256 MB).
    min_steps
        Steps kept even when they exceed the budget.
    """

    #: Emitted after every push, undo, redo or prune (GUI thread, like the edits).
    changed = Signal()

    def __init__(self, max_bytes: int = 256 * 2**20, min_steps: int = 10) -> None:
        self.max_bytes = max_bytes
        self.min_steps = min_steps
        self._undo: deque[Step] = deque()
        self._redo: list[Step] = []
        self._undo_bytes = 0  # running total of the undo stack, kept in step with _undo

    def push(self, title: str, edits: list[Any]) -> None:
        """Record a new step; clears redo and prunes the oldest steps beyond the budget."""
        step = Step(title, tuple(edits), next_seq())
        self._undo.append(step)
        self._undo_bytes += step.nbytes
        self._redo.clear()
        while len(self._undo) > self.min_steps and self._undo_bytes > self.max_bytes:
            self._undo_bytes -= self._undo.popleft().nbytes
        self.changed.emit()

    def pop_undo(self) -> Step | None:
        """Take the most recent step for undoing (moves it to redo)."""
        if not self._undo:
            return None
        step = self._undo.pop()
        self._undo_bytes -= step.nbytes
        step.seq = next_seq()
        self._redo.append(step)
        self.changed.emit()
        return step

    def pop_redo(self) -> Step | None:
        """Take the most recently undone step for redoing (moves it back to undo)."""
        if not self._redo:
            return None
        step = self._redo.pop()
        step.seq = next_seq()
        self._undo.append(step)
        self._undo_bytes += step.nbytes
        self.changed.emit()
        return step

    @property
    def nbytes(self) -> int:
        """Memory held by the undo stack (kept as a running total: O(1))."""
        return self._undo_bytes

