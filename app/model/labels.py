"""Label tables and label volumes (segmentations) with region-diff undo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace

import numpy as np
from psygnal import Signal

from app.model.annotations import Provenance
from app.model.geometry import Geometry
from app.model.history import Edit, History

#: First entries of 3D Slicer's GenericAnatomyColors table (RGB 0-255), used for new segments.
GENERIC_ANATOMY_COLORS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("tissue", (128, 174, 128)),
    ("bone", (241, 214, 145)),
    ("skin", (177, 122, 101)),
    ("connective_tissue", (111, 184, 210)),
    ("blood", (216, 101, 79)),
    ("organ", (221, 130, 101)),
    ("mass", (144, 238, 144)),
    ("muscle", (192, 104, 88)),
    ("foreign_object", (220, 245, 20)),
    ("waste", (78, 63, 0)),
    ("teeth", (255, 250, 220)),
    ("fat", (230, 220, 70)),
    ("gray_matter", (200, 200, 235)),
    ("white_matter", (250, 250, 210)),
)

SEGMENT_STATUSES = ("not_started", "in_progress", "completed", "flagged")


@dataclass(frozen=True)
class Code:
    """A coded concept: (scheme, value, meaning), e.g. ("SCT", "10200004", "Liver")."""

    scheme: str
    value: str
    meaning: str

    def to_triplet(self) -> str:
        """Return Slicer's ``scheme^value^meaning`` form."""
        return f"{self.scheme}^{self.value}^{self.meaning}"


@dataclass(frozen=True)
class Segment:
    """One label of a segmentation: id (voxel value), name, colour and optional terminology.

    ``color_rgb`` is 0–255 per channel. ``category``/``type`` follow DICOM CID 7150/7151.
    ``provenance`` says who/what made the segment and its review status (None: not recorded).
    """

    id: int
    name: str
    color_rgb: tuple[int, int, int]
    category: Code | None = None
    type: Code | None = None
    visible: bool = True
    locked: bool = False
    status: str = "in_progress"
    provenance: Provenance | None = None


#: Segment fields whose edits are not undo steps: display and edit-safety switches (as in Slicer,
#: where toggling visibility or lock records no undo state). Undoing a removal still brings the
#: row back with the visibility and lock it had.
UNRECORDED_FIELDS = frozenset({"visible", "locked"})


@dataclass(frozen=True)
class TableEdit:
    """One label-table atom of an undo step: a row before and after (None: absent).

    Add: ``before`` None; remove: ``after`` None; update: both, and only the fields that differ
    (outside :data:`UNRECORDED_FIELDS`) are restored, so an undone rename keeps a later visibility
    toggle.
    """

    label_id: int
    before: Segment | None
    after: Segment | None
    box = None  # no voxels: LabelVolume.undo emits no ``changed`` box for it

    @property
    def nbytes(self) -> int:
        """Approximate memory held by this atom."""
        return 512

    def apply(self, table: LabelTable, *, forward: bool) -> None:
        """Put the table row in its ``after`` (forward) or ``before`` state."""
        src, dst = (self.before, self.after) if forward else (self.after, self.before)
        if dst is None:
            if self.label_id in table:
                table.remove(self.label_id)
        elif src is None or self.label_id not in table:
            table.add(dst)
        else:
            table.update(self.label_id, **_recorded_changes(src, dst))


def _recorded_changes(before: Segment, after: Segment) -> dict[str, object]:
    """Fields of ``after`` that differ from ``before``, except :data:`UNRECORDED_FIELDS`."""
    return {f.name: getattr(after, f.name) for f in fields(Segment)
            if f.name not in UNRECORDED_FIELDS and getattr(after, f.name) != getattr(before, f.name)}


def _table_edit_title(edit: TableEdit) -> str:
    if edit.before is None:
        return f"Add segment {edit.after.name}"  # type: ignore[union-attr]
    if edit.after is None:
        return f"Remove segment {edit.before.name}"
    changes = _recorded_changes(edit.before, edit.after)
    what = {"name": "Rename", "color_rgb": "Recolour", "status": "Status of"}
    verb = what[next(iter(changes))] if len(changes) == 1 and next(iter(changes)) in what else "Edit"
    return f"{verb} segment {edit.before.name}"


class LabelTable:
    """Ordered mapping of label id → :class:`Segment`. Emits ``changed(label_id)`` on any edit.

    A table owned by a :class:`LabelVolume` records its edits (add, remove, and updates other than
    visibility/lock) in that volume's undo history. GUI thread only (signals fire synchronously on
    the calling thread).
    """

    changed = Signal(int)

    def __init__(self, segments: list[Segment] | None = None) -> None:
        self._segments: dict[int, Segment] = {}
        self.recorder: Callable[[TableEdit], None] | None = None  # set by the owning LabelVolume
        for seg in segments or []:
            self.add(seg)

    def _record(self, label_id: int, before: Segment | None, after: Segment | None) -> None:
        if self.recorder is not None:
            self.recorder(TableEdit(label_id, before, after))

    def __iter__(self) -> Iterator[Segment]:
        return iter(sorted(self._segments.values(), key=lambda s: s.id))

    def __len__(self) -> int:
        return len(self._segments)

    def __contains__(self, label_id: object) -> bool:
        return label_id in self._segments

    def __getitem__(self, label_id: int) -> Segment:
        return self._segments[label_id]

    def add(self, segment: Segment) -> Segment:
        """Add a segment; its id must be 1..65535 and unused."""
        if not 1 <= segment.id <= 65535:
            raise ValueError(f"label id must be 1..65535, got {segment.id}")
        if segment.id in self._segments:
            raise ValueError(f"label id {segment.id} already used by {self._segments[segment.id].name!r}")
        if segment.status not in SEGMENT_STATUSES:
            raise ValueError(f"unknown segment status {segment.status!r}")
        self._segments[segment.id] = segment
        self._record(segment.id, None, segment)
        self.changed.emit(segment.id)
        return segment

    def new_segment(self, name: str | None = None) -> Segment:
        """Add a segment with the next free id and a GenericAnatomyColors default colour."""
        label_id = max(self._segments, default=0) + 1
        default_name, color = GENERIC_ANATOMY_COLORS[(label_id - 1) % len(GENERIC_ANATOMY_COLORS)]
        return self.add(Segment(label_id, name or f"{default_name}_{label_id}", color))

    def update(self, label_id: int, **changes: object) -> Segment:
        """Replace fields of a segment (e.g. ``name=``, ``color_rgb=``, ``status=``)."""
        old = self._segments[label_id]
        seg = replace(old, **changes)  # type: ignore[arg-type]
        if seg.status not in SEGMENT_STATUSES:
            raise ValueError(f"unknown segment status {seg.status!r}")
        if seg == old:
            return old
        self._segments[label_id] = seg
        if _recorded_changes(old, seg):
            self._record(label_id, old, seg)
        self.changed.emit(label_id)
        return seg

    def remove(self, label_id: int) -> None:
        """Remove a segment from the table (voxels are the caller's business, see
        :meth:`LabelVolume.remove_segment`)."""
        old = self._segments.pop(label_id)
        self._record(label_id, old, None)
        self.changed.emit(label_id)

    def max_id(self) -> int:
        """Largest label id in use (0 when empty)."""
        return max(self._segments, default=0)


Box = tuple[slice, slice, slice]


def _compact(values: np.ndarray) -> np.ndarray:
    """Return a 1-element copy when every value is equal (the usual paint/erase case), else a copy."""
    if values.size and (values == values[0]).all():
        return values[:1].copy()
    return values.copy()


_WHOLE = (slice(None), slice(None), slice(None))


def _normalise_box(box: Box, shape: tuple[int, ...]) -> Box:
    """Clip a box given in absolute (possibly negative = outside) voxel indices to the volume."""
    out = []
    for sl, n in zip(box, shape, strict=True):
        if sl.step not in (None, 1) or sl.start is None or sl.stop is None:
            raise ValueError("label boxes need explicit start/stop and step 1")
        start = min(max(int(sl.start), 0), n)
        out.append(slice(start, max(start, min(int(sl.stop), n))))
    return tuple(out)  # type: ignore[return-value]


@dataclass(eq=False)
class LabelVolume:
    """A segmentation: one integer array on a reference image's grid, plus its :class:`LabelTable`.

    Writes go through :meth:`paint` / :meth:`write`, inside :meth:`transaction` (one transaction
    is one undo step). ``changed`` carries the ``(z, y, x)`` slice box that changed, for partial
    redraws. GUI thread only; workers get copies of boxes, never this object.
    """

    geometry: Geometry
    table: LabelTable = field(default_factory=LabelTable)
    name: str = "Segmentation"
    array: np.ndarray = field(default=None)  # type: ignore[assignment]
    history: History = field(default_factory=History)

    changed = Signal(tuple)

    def __post_init__(self) -> None:
        if self.array is None:
            dtype = np.uint16 if self.table.max_id() > 255 else np.uint8
            self.array = np.zeros(self.geometry.shape_zyx, dtype=dtype)
        if tuple(self.array.shape) != self.geometry.shape_zyx:
            raise ValueError(f"label array {self.array.shape} != geometry {self.geometry.shape_zyx}")
        if self.array.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"label array must be uint8 or uint16, got {self.array.dtype}")
        self._open_edits: list[Edit | TableEdit] | None = None
        self._open_title = ""
        self._replaying = False  # undo/redo in progress: table edits are not recorded again
        self.table.recorder = self._record_table_edit
        # coalescing transactions (brush strokes): one dense backup of the original voxels of a
        # box that grows to cover every write, diffed against the array in bulk; see transaction().
        self._coalescing = False
        self._backup: np.ndarray | None = None
        self._backup_lo: tuple[int, int, int] = (0, 0, 0)
        self._backup_hi: tuple[int, int, int] = (0, 0, 0)

    # ------------------------------------------------------------ transactions
    def same_content(self, other: LabelVolume) -> bool:
        """True when ``other`` has this name, grid, segments (id, name, colour) and voxel values (any thread)."""
        return (self.name == other.name and self.geometry.same_grid(other.geometry)
                and [(g.id, g.name, tuple(g.color_rgb)) for g in self.table]
                == [(g.id, g.name, tuple(g.color_rgb)) for g in other.table]
                and np.array_equal(self.array, other.array))

    @contextmanager
    def transaction(self, title: str, *, coalesce: bool = False) -> Iterator[None]:
        """Group every paint/write inside the block into one undo step named ``title``.

        Parameters
        ----------
        title
            Name of the undo step.
        coalesce
            For many small overlapping writes (a brush stroke): writes only assign, close to the
            cost of a bare numpy assignment, while one backup of the original voxels grows (in
            steps of ``COALESCE_MARGIN``) to cover them; the region diff is computed in bulk when
            the block ends, or earlier when the backup exceeds ``COALESCE_VOXELS``. The undo
            step is the same as without coalescing. Inside such a block, :meth:`write` returns
            the clipped box written, even where no value changed.
            Ignored when nested in an outer transaction.
        """
        if self._open_edits is not None:  # nested: join the outer step
            yield
            return
        self._open_edits, self._open_title = [], title
        self._coalescing, self._backup = bool(coalesce), None
        try:
            yield
        finally:
            self._flush_backup()
            self._coalescing = False
            edits, self._open_edits = self._open_edits, None
            if edits:
                self.history.push(title, edits)

    #: Backup size (voxels) beyond which a coalescing transaction diffs and starts a new backup.
    COALESCE_VOXELS = 4_000_000
    #: Voxels added on each side when the backup box grows (fewer, larger copies along a stroke).
    COALESCE_MARGIN = 16

    def _grow_backup(self, box: Box) -> None:
        """Extend the backup so it covers ``box``; voxels outside the old backup are still original."""
        shape, m = self.array.shape, self.COALESCE_MARGIN
        if self._backup is None:  # exactly the first box: a stroke only grows along its path
            lo = tuple(b.start for b in box)
            hi = tuple(b.stop for b in box)
        else:
            # grow by half the current extent (at least ``m``): amortised linear copying along a stroke
            g = [max(m, (h - lo_) // 2) for lo_, h in zip(self._backup_lo, self._backup_hi, strict=True)]
            lo = tuple(o if b.start >= o else max(0, b.start - e)
                       for b, o, e in zip(box, self._backup_lo, g, strict=True))
            hi = tuple(o if b.stop <= o else min(n, b.stop + e)
                       for b, o, n, e in zip(box, self._backup_hi, shape, g, strict=True))
            if int(np.prod(np.subtract(hi, lo))) > self.COALESCE_VOXELS:
                self._flush_backup()  # the diff so far is exact: it is taken against the live array
                self._grow_backup(box)
                return
        backup = self.array[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))].copy()
        if self._backup is not None:  # restore the originals of voxels painted since the last growth
            backup[tuple(slice(a - n, b - n) for a, b, n in zip(self._backup_lo, self._backup_hi, lo, strict=True))] \
                = self._backup
        self._backup, self._backup_lo, self._backup_hi = backup, lo, hi  # type: ignore[assignment]

    def _flush_backup(self) -> None:
        """Turn the backup into one region-diff atom against the live array (and drop it)."""
        orig = self._backup
        if orig is None:
            return
        self._backup = None
        union = tuple(slice(a, b) for a, b in zip(self._backup_lo, self._backup_hi, strict=True))
        current = self.array[union]
        sel = orig != current
        zp = sel.reshape(sel.shape[0], -1).any(axis=1)
        if not zp.any():
            return
        yx = sel.any(axis=0)
        nz = (np.flatnonzero(zp), np.flatnonzero(yx.any(axis=1)), np.flatnonzero(yx.any(axis=0)))
        tight = tuple(slice(int(n[0]), int(n[-1]) + 1) for n in nz)
        sel = np.ascontiguousarray(sel[tight])
        idx = np.flatnonzero(sel)  # one scan; values are then gathered with take (fast)
        abs_box = tuple(slice(u.start + t.start, u.start + t.stop) for u, t in zip(union, tight, strict=True))
        old_vals = np.ascontiguousarray(orig[tight]).reshape(-1).take(idx)
        new_vals = np.ascontiguousarray(current[tight]).reshape(-1).take(idx)
        edit = Edit(abs_box, np.packbits(sel), sel.shape, _compact(old_vals), _compact(new_vals))
        self._open_edits.append(edit)  # type: ignore[union-attr]

    def _write_coalesced(self, clipped: Box, local: Box, mask: np.ndarray | None,
                         values: np.ndarray | int, shape: tuple[int, ...]) -> Box:
        """Back up originals the box reaches for the first time, then assign (no per-write diff)."""
        if type(values) is int or np.ndim(values) == 0:
            value: np.ndarray | int = int(values)  # type: ignore[arg-type]
            if value > 255 and self.array.dtype == np.uint8:
                self._ensure_dtype(value)
        else:
            value = np.broadcast_to(np.asarray(values), shape)[local]
            self._ensure_dtype(int(value.max(initial=0)))
        bz, by, bx = clipped
        lo, hi = self._backup_lo, self._backup_hi
        if (self._backup is None or bz.start < lo[0] or by.start < lo[1] or bx.start < lo[2]
                or bz.stop > hi[0] or by.stop > hi[1] or bx.stop > hi[2]):
            self._grow_backup(clipped)
        region = self.array[clipped]
        if mask is None:
            region[...] = value
        else:
            sel = mask if local is _WHOLE else mask[local]
            if sel.dtype != bool:
                sel = sel.astype(bool)
            if isinstance(value, int):
                region[sel] = value
            else:
                np.copyto(region, value, where=sel, casting="unsafe")
        self.changed.emit(clipped)
        return clipped

    def _record(self, edit: Edit) -> None:
        if self._open_edits is None:
            self.history.push("Edit", [edit])
        else:
            self._open_edits.append(edit)

    def _record_table_edit(self, edit: TableEdit) -> None:
        """Recorder of ``table``: one step of its own, or an atom of the open transaction."""
        if self._replaying:
            return
        if self._open_edits is None:
            self.history.push(_table_edit_title(edit), [edit])
        else:
            self._flush_backup()  # keep the atoms in the order they happened
            self._open_edits.append(edit)

    def remove_segment(self, label_id: int) -> None:
        """Erase a segment's voxels and remove its table row as one undo step (GUI thread).

        Undo brings back both the row and the voxels. Unknown ids raise ``KeyError``.
        """
        seg = self.table[label_id]
        with self.transaction(f"Remove segment {seg.name}"):
            sel = self.array == label_id
            zp = np.flatnonzero(sel.any(axis=(1, 2)))
            if zp.size:
                yx = sel[zp[0]:zp[-1] + 1].any(axis=0)
                yp, xp = np.flatnonzero(yx.any(axis=1)), np.flatnonzero(yx.any(axis=0))
                box = (slice(int(zp[0]), int(zp[-1]) + 1), slice(int(yp[0]), int(yp[-1]) + 1),
                       slice(int(xp[0]), int(xp[-1]) + 1))
                self.paint(box, sel[box], 0)
            self.table.remove(label_id)

    # ------------------------------------------------------------------ writes
    def _ensure_dtype(self, max_value: int) -> None:
        if max_value > 255 and self.array.dtype == np.uint8:
            self.array = self.array.astype(np.uint16)

    def write(self, box: Box, mask: np.ndarray | None, values: np.ndarray | int) -> Box | None:
        """Set voxels of ``box`` where ``mask`` is True to ``values``; record one undo atom.

        Parameters
        ----------
        box
            ``(z, y, x)`` slices; clipped to the volume (a stroke may start outside it).
        mask
            Boolean array of the *unclipped* box shape, or None for the whole box.
        values
            A label id or an array broadcastable to the box.

        Returns the clipped box that changed, or None when nothing changed.
        """
        bz, by, bx = box
        shape = (bz.stop - bz.start, by.stop - by.start, bx.stop - bx.start)
        if mask is not None and mask.shape != shape:
            raise ValueError(f"mask shape {mask.shape} != box shape {shape}")
        nz, ny, nx = self.array.shape
        if (bz.step is None and by.step is None and bx.step is None and 0 <= bz.start < bz.stop <= nz
                and 0 <= by.start < by.stop <= ny and 0 <= bx.start < bx.stop <= nx):
            clipped, local = (bz, by, bx), _WHOLE  # fast path: the box lies inside the volume
        else:
            clipped = _normalise_box(box, self.array.shape)
            if any(c.stop <= c.start for c in clipped):
                return None
            offset = [c.start - b.start for c, b in zip(clipped, box, strict=True)]
            local = tuple(slice(o, o + (c.stop - c.start)) for o, c in zip(offset, clipped, strict=True))
        if self._coalescing:
            return self._write_coalesced(clipped, local, mask, values, shape)
        # Hot path of every brush dab (bench/paint.py): one strided read of the box into a
        # contiguous copy, contiguous work on that, one strided write; a scalar label is never
        # broadcast into an array; nothing here touches more than the box.
        scalar = np.ndim(values) == 0
        if scalar:
            value = int(values)  # type: ignore[arg-type]
            self._ensure_dtype(value)
            current = self.array[clipped].copy()
            sel = current != value  # a new array: the caller's mask is never modified
        else:
            values_arr = np.broadcast_to(np.asarray(values), shape)[local]
            self._ensure_dtype(int(values_arr.max(initial=0)))
            current = self.array[clipped].copy()
            sel = current != values_arr
        if mask is not None:
            np.logical_and(sel, mask[local], out=sel)
        # shrink to the bounding box of the voxels that actually change
        zp = sel.reshape(sel.shape[0], -1).any(axis=1)
        z0 = int(zp.argmax())
        if not zp[z0]:
            return None
        z1 = len(zp) - int(zp[::-1].argmax())
        yx = sel[z0:z1].any(axis=0)
        yp, xp = yx.any(axis=1), yx.any(axis=0)
        tight = (slice(z0, z1), slice(int(yp.argmax()), len(yp) - int(yp[::-1].argmax())),
                 slice(int(xp.argmax()), len(xp) - int(xp[::-1].argmax())))
        sel = np.ascontiguousarray(sel[tight])
        abs_box = tuple(
            slice(c.start + t.start, c.start + t.stop) for c, t in zip(clipped, tight, strict=True)
        )
        target = self.array[abs_box]
        old = _compact(current[tight][sel])
        if scalar:
            new = np.full(1, value, dtype=self.array.dtype)
            target[sel] = value
        else:
            new_vals = np.broadcast_to(values_arr[tight], sel.shape)[sel].astype(self.array.dtype)
            new = _compact(new_vals)
            target[sel] = new_vals
        edit = Edit(abs_box, np.packbits(sel), sel.shape, old, new)
        self._record(edit)
        self.changed.emit(abs_box)
        return abs_box  # type: ignore[return-value]

    def paint(self, box: Box, mask: np.ndarray | None, value: int) -> Box | None:
        """Set the masked voxels of ``box`` to one label ``value`` (0 erases). See :meth:`write`."""
        return self.write(box, mask, int(value))

    # -------------------------------------------------------------- undo/redo
    def undo(self) -> bool:
        """Revert the last step; emit ``changed`` for every box it touched. False if none.

        Refused (False) while a transaction is open, e.g. Ctrl+Z during a brush stroke: the
        step being recorded would otherwise absorb the undone voxels.
        """
        if self._open_edits is not None:
            return False
        step = self.history.pop_undo()
        if step is None:
            return False
        self._replay(reversed(step.edits), forward=False)
        return True

    def _replay(self, edits: Iterator[Edit | TableEdit] | tuple[Edit | TableEdit, ...], *, forward: bool) -> None:
        self._replaying = True
        try:
            for edit in edits:
                if isinstance(edit, TableEdit):
                    edit.apply(self.table, forward=forward)
                else:
                    edit.apply(self.array, forward=forward)
                    self.changed.emit(edit.box)
        finally:
            self._replaying = False

    def redo(self) -> bool:
        """Re-apply the last undone step. False if none, or while a transaction is open."""
        if self._open_edits is not None:
            return False
        step = self.history.pop_redo()
        if step is None:
            return False
        self._replay(step.edits, forward=True)
        return True

    def voxel_counts(self) -> dict[int, int]:
        """Return label id → voxel count for every non-zero label present."""
        counts = np.bincount(self.array.ravel())
        return {int(i): int(c) for i, c in enumerate(counts) if i and c}
