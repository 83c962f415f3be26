"""Islands: keep the largest, remove small ones, keep/remove the clicked one, split into segments."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from psygnal import evented

from analysis.segment_ops import (
    connected_components,
    island_at,
    keep_largest_island,
    mask_box,
    remove_small_islands,
)
from app.model.labels import GENERIC_ANATOMY_COLORS, Box, Segment
from app.tools.base import ZYX, EditResult, Tool, ViewState, masked_result, register_tool, set_segment


class IslandOp(StrEnum):
    """What :class:`IslandsTool` does."""

    KEEP_LARGEST = "keep_largest"
    REMOVE_SMALL = "remove_small"
    KEEP_SELECTED = "keep_selected"  #: click on the island to keep
    REMOVE_SELECTED = "remove_selected"  #: click on the island to remove
    SPLIT = "split"  #: every island ≥ min_voxels becomes its own segment (largest stays)


@evented
@dataclass
class IslandsParams:
    """Operation and the minimum island size in voxels (26-connectivity)."""

    operation: IslandOp = field(default=IslandOp.KEEP_LARGEST, metadata={"label": "Operation"})
    min_voxels: int = field(default=1000, metadata={"label": "Minimum size", "min": 0, "units": "voxels"})
    max_new_segments: int = field(default=50, metadata={"label": "Max new segments", "min": 1})


@register_tool
class IslandsTool(Tool):
    """Connected-component edits of the active segment; click operations use :meth:`press`."""

    id = "islands"
    title = "Islands"
    shortcut = "Shift+2"
    Params = IslandsParams

    def _segment(self, view: ViewState) -> tuple[Box, np.ndarray] | None:
        seg = view.labels.array == view.label_id
        box = mask_box(seg, (1, 1, 1))
        return None if box is None else (box, seg[box])

    def compute(self, view: ViewState, *, ctx: Any = None, zyx: ZYX | None = None) -> EditResult | None:
        """Edit for the current operation (``zyx`` is the click for the *_SELECTED ones)."""
        found = self._segment(view)
        if found is None:
            return None
        box, seg = found
        op = self.params.operation
        if op is IslandOp.KEEP_LARGEST:
            return set_segment(view, keep_largest_island(seg), self.title, box=box)
        if op is IslandOp.REMOVE_SMALL:
            return set_segment(view, remove_small_islands(seg, self.params.min_voxels), self.title, box=box)
        if op in (IslandOp.KEEP_SELECTED, IslandOp.REMOVE_SELECTED):
            if zyx is None:
                raise ValueError(f"{op.value} needs a click (press)")
            local = tuple(int(v) - b.start for v, b in zip(zyx, box, strict=True))
            if not all(0 <= v < n for v, n in zip(local, seg.shape, strict=True)) or not seg[local]:
                return None
            island = island_at(seg, local)
            return set_segment(view, island if op is IslandOp.KEEP_SELECTED else seg & ~island, self.title, box=box)
        return self._split(view, box, seg)

    def _split(self, view: ViewState, box: Box, seg: np.ndarray) -> EditResult | None:
        cc = connected_components(seg, min_voxels=self.params.min_voxels)
        n = min(int(cc.max()), self.params.max_new_segments + 1)
        if n < 2:
            return None
        old = view.labels.array[box]
        # new ids are chosen here; :meth:`commit` adds them to the table (GUI thread)
        first = view.labels.table.max_id() + 1
        new = old.astype(np.uint16) if first + n > 256 else old.copy()  # the label model promotes too
        for k in range(2, n + 1):
            new[cc == k] = first + k - 2
        return masked_result(view, box, new, f"{self.title}: split")

    def commit(self, view: ViewState, result: EditResult | None) -> Box | None:
        """Write the edit; for a split, first add the new segments (ids chosen by :meth:`compute`)."""
        if result is not None and result.title.endswith(": split"):
            table = view.labels.table
            values = np.asarray(result.values)
            new_ids = [int(v) for v in np.unique(values[result.mask] if result.mask is not None else values)
                       if int(v) and int(v) != view.label_id]
            if any(label in table for label in new_ids):  # the table changed since compute()
                raise ValueError("segment ids of the split were taken meanwhile; run the split again")
            base = table[view.label_id].name if view.label_id in table else "island"
            with view.labels.transaction(result.title):  # new rows and voxels: one undo step
                for label in new_ids:
                    color = GENERIC_ANATOMY_COLORS[(label - 1) % len(GENERIC_ANATOMY_COLORS)][1]
                    table.add(Segment(label, f"{base}_{label}", color))
                return super().commit(view, result)
        return super().commit(view, result)

    def press(self, view: ViewState, zyx: ZYX) -> None:
        """For the click operations, keep or remove the island under ``zyx``."""
        if self.params.operation in (IslandOp.KEEP_SELECTED, IslandOp.REMOVE_SELECTED):
            self.commit(view, self.compute(view, zyx=zyx))
