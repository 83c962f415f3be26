"""Logical operators between the active segment and a modifier segment."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from psygnal import evented

from app.tools.base import EditResult, Tool, ViewState, register_tool, set_segment


class LogicalOp(StrEnum):
    """Operation; A = active segment, B = modifier segment."""

    COPY = "copy"  #: A := B
    ADD = "add"  #: A := A ∪ B
    SUBTRACT = "subtract"  #: A := A \\ B
    INTERSECT = "intersect"  #: A := A ∩ B
    INVERT = "invert"  #: A := not A
    CLEAR = "clear"  #: A := ∅
    FILL = "fill"  #: A := everything


@evented
@dataclass
class LogicalParams:
    """Operation and the modifier segment id (for copy/add/subtract/intersect)."""

    operation: LogicalOp = field(default=LogicalOp.ADD, metadata={"label": "Operation"})
    modifier: int = field(default=0, metadata={"label": "Modifier segment", "min": 0})


@register_tool
class LogicalTool(Tool):
    """Set operations on segments; masking options apply; one undo step."""

    id = "logical"
    title = "Logical operators"
    shortcut = "Shift+3"
    Params = LogicalParams

    def compute(self, view: ViewState, *, ctx: Any = None) -> EditResult | None:
        """Logical edit (any thread on a snapshot)."""
        arr = view.labels.array
        a = arr == view.label_id
        op = self.params.operation
        if op in (LogicalOp.COPY, LogicalOp.ADD, LogicalOp.SUBTRACT, LogicalOp.INTERSECT):
            if not self.params.modifier:
                raise ValueError(f"{op.value} needs a modifier segment")
            b = arr == int(self.params.modifier)
            new = {LogicalOp.COPY: b, LogicalOp.ADD: a | b, LogicalOp.SUBTRACT: a & ~b,
                   LogicalOp.INTERSECT: a & b}[op]
        elif op is LogicalOp.INVERT:
            new = ~a
        elif op is LogicalOp.CLEAR:
            new = np.zeros_like(a)
        else:
            new = np.ones_like(a)
        return set_segment(view, new, f"{self.title}: {op.value}")
