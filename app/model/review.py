"""Review workflow: every annotation of a session as one list, status transitions, kept proposals.

* :class:`AnnotationRef` names a box, a finding or a segment (``item_id`` = ``str(label id)``,
  ``segmentation`` = index into ``session.segmentations``).
* :func:`iter_annotations` lists them as :class:`ReviewItem` (name, confidence, status, source,
  centre in LPS mm) in session order: boxes, findings, then segments per segmentation.
* :func:`set_status` moves a model proposal between ``proposed`` and ``accepted`` / ``edited`` /
  ``rejected`` and stamps ``edited_by`` / ``edited_at``. Manual annotations (status ``manual``, or
  a segment without provenance) have no review: any other status for them raises ``ValueError``.
  A reviewed item may go straight to another decision (accepted → rejected, ...) or back to
  ``proposed`` ("undo review", which clears ``edited_by`` / ``edited_at``).
* :class:`ReviewTracker` (one per :class:`~app.model.session.Session`, created by it) keeps the
  original of every proposal in ``session.original_proposals`` (boxes and findings when added as
  ``proposed``; segments through :func:`record_segment_proposals`, called once the proposal's
  voxels are written) and marks a ``proposed`` or ``accepted`` item ``edited`` when a user change
  makes it differ from its original: voxels of a segment (LabelVolume ``changed``, not during
  undo/redo), corners or label of a box, label or value of a finding. The status change joins
  the voxel edit's undo step, so one undo restores voxels and status together: inside a
  transaction it is an atom of the open step; after a bare ``labels.paint`` / ``write`` (its own
  step, pushed just before ``changed`` fires) the status step is folded into that step.
  Segments proposed without a recorded original (sessions from before originals were kept) are
  never marked automatically. :meth:`ReviewTracker.suspended` turns the automatic marking off
  (crash recovery replays statuses from the journal).
* :class:`ReviewClock` accumulates active review time from user-input ticks, ignoring gaps longer
  than an idle cut-off.

GUI thread only (the model's signals fire on the calling thread), except :class:`SegmentProposal`
and :class:`ReviewClock` methods, which touch no model.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from app.model.annotations import Box, Finding, Provenance, box_name
from app.model.labels import LabelVolume
from app.paths import reader_name

if TYPE_CHECKING:
    from app.model.session import Session

__all__ = [
    "KINDS", "REVIEWABLE", "AnnotationRef", "ReviewClock", "ReviewItem", "ReviewTracker", "SegmentProposal",
    "adopt_review_state", "iter_annotations", "proposal_of", "record_segment_proposals", "segment_centroids_lps",
    "set_status",
]

KINDS = ("box", "finding", "segment")
#: Statuses of a model proposal (``manual`` is the only other one).
REVIEWABLE = ("proposed", "accepted", "edited", "rejected")

Zyx = tuple[int, int, int]


@dataclass(frozen=True)
class AnnotationRef:
    """Names one annotation: a box or finding by id, or a segment by ``str(label_id)`` + segmentation index."""

    kind: str
    item_id: str
    segmentation: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"annotation kind must be one of {KINDS}, got {self.kind!r}")
        if (self.kind == "segment") != (self.segmentation is not None):
            raise ValueError("a segment ref needs its segmentation index; boxes and findings take none")

    @property
    def key(self) -> str:
        """Stable text form: ``box:<id>``, ``finding:<id>``, ``segment:<seg index>:<label id>`` (JSON keys)."""
        if self.kind == "segment":
            return f"segment:{self.segmentation}:{self.item_id}"
        return f"{self.kind}:{self.item_id}"

    @classmethod
    def from_key(cls, key: str) -> AnnotationRef:
        """Inverse of :attr:`key`."""
        kind, _, rest = key.partition(":")
        if kind == "segment":
            seg, _, label = rest.partition(":")
            return cls("segment", label, int(seg))
        return cls(kind, rest)


@dataclass(frozen=True)
class ReviewItem:
    """One row of the review list. ``centre_lps_mm`` is None when the item has no place (study finding,
    empty segment); ``confidence`` is None for manual items and segments without one."""

    ref: AnnotationRef
    name: str
    confidence: float | None
    status: str
    source: str
    centre_lps_mm: tuple[float, float, float] | None
    reader: str = ""  # who reviewed it last (edited_by), else who created it


# ------------------------------------------------------------------------------ kept proposals
@dataclass(frozen=True, eq=False)
class SegmentProposal:
    """A segment's voxels as proposed: a mask over its bounding box, bit-packed along x.

    ``start_zyx`` / ``shape_zyx`` place the box in the segmentation grid; ``packed`` is
    ``np.packbits(mask, axis=-1)`` (shape ``(nz, ny, ceil(nx / 8))``), so any sub-box is unpacked
    without touching the rest. An empty proposal has ``shape_zyx`` (0, 0, 0). Any thread.
    """

    start_zyx: Zyx
    shape_zyx: Zyx
    packed: np.ndarray
    voxels: int

    @classmethod
    def from_mask(cls, mask_zyx: np.ndarray) -> SegmentProposal:
        """Pack a full-grid boolean mask (only its bounding box is kept)."""
        zp = mask_zyx.any(axis=(1, 2))
        if not zp.any():
            return cls((0, 0, 0), (0, 0, 0), np.zeros((0, 0, 0), np.uint8), 0)
        z = np.flatnonzero(zp)
        yx = mask_zyx[z[0]:z[-1] + 1].any(axis=0)
        y, x = np.flatnonzero(yx.any(axis=1)), np.flatnonzero(yx.any(axis=0))
        start = (int(z[0]), int(y[0]), int(x[0]))
        stop = (int(z[-1]) + 1, int(y[-1]) + 1, int(x[-1]) + 1)
        crop = mask_zyx[start[0]:stop[0], start[1]:stop[1], start[2]:stop[2]]
        shape = tuple(b - a for a, b in zip(start, stop, strict=True))
        return cls(start, shape, np.packbits(crop, axis=-1), int(np.count_nonzero(crop)))  # type: ignore[arg-type]

    @property
    def stop_zyx(self) -> Zyx:
        return tuple(a + n for a, n in zip(self.start_zyx, self.shape_zyx, strict=True))  # type: ignore[return-value]

    def mask_in(self, box: tuple[slice, slice, slice]) -> np.ndarray:
        """Boolean mask of the proposal over ``box`` (absolute ``(z, y, x)`` slices with start/stop)."""
        out = np.zeros(tuple(s.stop - s.start for s in box), bool)
        lo = [max(s.start, a) for s, a in zip(box, self.start_zyx, strict=True)]
        hi = [min(s.stop, b) for s, b in zip(box, self.stop_zyx, strict=True)]
        if self.voxels == 0 or any(h <= lo_ for lo_, h in zip(lo, hi, strict=True)):
            return out
        rel = [(a - s0, b - s0) for a, b, s0 in zip(lo, hi, self.start_zyx, strict=True)]
        (z0, z1), (y0, y1), (x0, x1) = rel
        bits = np.unpackbits(self.packed[z0:z1, y0:y1, x0 // 8:(x1 + 7) // 8], axis=-1).astype(bool)
        off = x0 - (x0 // 8) * 8
        out[tuple(slice(a - s.start, b - s.start) for a, b, s in zip(lo, hi, box, strict=True))] = \
            bits[:, :, off:off + (x1 - x0)]
        return out

    def mask(self, shape_zyx: tuple[int, ...]) -> np.ndarray:
        """The proposal as a full-grid boolean mask of ``shape_zyx``."""
        return self.mask_in(tuple(slice(0, n) for n in shape_zyx))  # type: ignore[arg-type]


def proposal_of(session: Session, ref: AnnotationRef) -> Box | Finding | SegmentProposal | None:
    """The original proposal kept for ``ref`` (None: not a proposal, or not recorded)."""
    return session.original_proposals.get(ref)


def record_segment_proposals(session: Session, labels: LabelVolume) -> list[AnnotationRef]:
    """Keep the current voxels of every ``proposed`` segment of ``labels`` as its original proposal.

    Call once the proposal's voxels are written (e.g. by the analysis controller). Segments that
    already have an original keep it. Returns the refs recorded.
    """
    index = _segmentation_index(session, labels)
    refs = []
    for seg in labels.table:
        ref = AnnotationRef("segment", str(seg.id), index)
        if seg.provenance is not None and seg.provenance.status == "proposed" and ref not in session.original_proposals:
            session.original_proposals[ref] = SegmentProposal.from_mask(labels.array == seg.id)
            refs.append(ref)
    return refs


def adopt_review_state(target: Session, stored: Session, index_map: dict[int, int] | None = None) -> None:
    """Move ``stored``'s originals and review time into ``target``, before its segmentations are
    appended to ``target``. Segment refs go to ``index_map[stored index]`` when given (a stored
    segmentation that duplicates one of ``target``'s, or its place among those appended), else they
    are shifted by ``len(target.segmentations)``."""
    offset = len(target.segmentations)
    for ref, original in stored.original_proposals.items():
        if ref.kind == "segment":
            old = int(ref.segmentation or 0)
            new = index_map[old] if index_map is not None and old in index_map else old + offset
            ref = AnnotationRef("segment", ref.item_id, new)
        target.original_proposals[ref] = original
    target.review_clock.seconds += stored.review_clock.seconds


def _segmentation_index(session: Session, labels: LabelVolume) -> int:
    for i, candidate in enumerate(session.segmentations):
        if candidate is labels:
            return i
    raise ValueError("segmentation is not part of this session")


# ------------------------------------------------------------------------------ listing
def segment_centroids_lps(labels: LabelVolume) -> dict[int, tuple[float, float, float]]:
    """Centroid (LPS mm) of every non-empty label: one pass of per-slice weighted bincounts.

    About 0.5 s for 300×512×512 on one core; :class:`ReviewTracker` caches the result until the
    volume changes.
    """
    array = labels.array
    nz, ny, nx = array.shape
    k = int(array.max(initial=0)) + 1
    count, zs, ys, xs = (np.zeros(k) for _ in range(4))
    yy, xx = (g.ravel().astype(np.float64) for g in np.mgrid[0:ny, 0:nx])
    for z in np.flatnonzero(array.reshape(nz, -1).any(axis=1)):
        flat = array[z].ravel()
        c = np.bincount(flat, minlength=k)
        count += c
        zs += c * float(z)
        ys += np.bincount(flat, weights=yy, minlength=k)
        xs += np.bincount(flat, weights=xx, minlength=k)
    out = {}
    for label in np.flatnonzero(count[1:]) + 1:
        n = count[label]
        lps = labels.geometry.index_zyx_to_lps(np.array([zs[label] / n, ys[label] / n, xs[label] / n]))
        out[int(label)] = tuple(float(v) for v in np.ravel(lps))
    return out


def _box_centre(box: Box) -> tuple[float, float, float]:
    return tuple(float((a + b) / 2) for a, b in zip(box.lps_min, box.lps_max, strict=True))  # type: ignore


def _table_name(session: Session, label_id: int) -> str:
    for labels in session.segmentations:
        if label_id in labels.table:
            return labels.table[label_id].name
    return ""


def _segment_title(session: Session, target: str) -> str:
    """A segment finding's target ``"<segmentation index>:<label id>"`` as "segment NAME"."""
    seg_index, _, label = target.partition(":")
    try:
        return f"segment {session.segmentations[int(seg_index)].table[int(label)].name}"
    except (ValueError, IndexError, KeyError):
        return f"segment {target}"


def _reader(prov: Provenance | None) -> str:
    return "" if prov is None else (prov.edited_by or prov.created_by or "")


def iter_annotations(session: Session) -> list[ReviewItem]:
    """Every box, finding and segment of ``session`` as review rows (boxes, findings, segments)."""
    items: list[ReviewItem] = []
    for box in session.boxes:
        name = box_name(box, _table_name(session, box.label_id))
        items.append(ReviewItem(AnnotationRef("box", box.id), name, box.confidence, box.provenance.status,
                                box.provenance.source, _box_centre(box), _reader(box.provenance)))
    for f in session.findings:
        name = f"{f.label}: {f.value}" if f.value else f.label
        centre = None
        if f.level == "box" and f.target in session.boxes:
            box = session.boxes[f.target]
            centre = _box_centre(box)
            name += f" (on {box_name(box, _table_name(session, box.label_id))})"
        elif f.level == "segment" and f.target:
            name += f" (on {_segment_title(session, f.target)})"
        items.append(ReviewItem(AnnotationRef("finding", f.id), name, f.confidence, f.provenance.status,
                                f.provenance.source, centre, _reader(f.provenance)))
    tracker = getattr(session, "review", None)
    for index, labels in enumerate(session.segmentations):
        centres = tracker.centroids(labels) if tracker is not None else segment_centroids_lps(labels)
        for seg in labels.table:
            prov = seg.provenance
            conf = prov.parameters.get("confidence") if prov is not None else None
            items.append(ReviewItem(AnnotationRef("segment", str(seg.id), index), seg.name,
                                    float(conf) if isinstance(conf, (int, float)) else None,
                                    prov.status if prov else "manual", prov.source if prov else "manual",
                                    centres.get(seg.id), _reader(prov)))
    return items


# ------------------------------------------------------------------------------ transitions
def _provenance(session: Session, ref: AnnotationRef) -> Provenance | None:
    if ref.kind == "box":
        return session.boxes[ref.item_id].provenance
    if ref.kind == "finding":
        return session.findings[ref.item_id].provenance
    return _segment_labels(session, ref).table[int(ref.item_id)].provenance


def _segment_labels(session: Session, ref: AnnotationRef) -> LabelVolume:
    if ref.segmentation is None or not 0 <= ref.segmentation < len(session.segmentations):
        raise KeyError(f"no segmentation {ref.segmentation}")
    labels = session.segmentations[ref.segmentation]
    if int(ref.item_id) not in labels.table:
        raise KeyError(f"segmentation {ref.segmentation} has no segment {ref.item_id}")
    return labels


def _put_provenance(session: Session, ref: AnnotationRef, prov: Provenance) -> None:
    if ref.kind == "box":
        session.boxes.update(ref.item_id, provenance=prov)
    elif ref.kind == "finding":
        session.findings.update(ref.item_id, provenance=prov)
    else:
        _segment_labels(session, ref).table.update(int(ref.item_id), provenance=prov)


def set_status(session: Session, ref: AnnotationRef, status: str, reader: str | None = None) -> Provenance:
    """Set the review status of a proposal; returns its new provenance.

    ``status`` is one of :data:`REVIEWABLE`. A decision (accepted / edited / rejected) stamps
    ``edited_by`` (``reader``, default :func:`app.paths.reader_name`) and ``edited_at`` (Unix s);
    ``proposed`` undoes the review and clears both. Setting the current status again changes nothing.

    Raises
    ------
    KeyError
        ``ref`` names nothing in ``session``.
    ValueError
        Unknown status, or a manual annotation (manual items are not reviewed; delete them instead).
    """
    if status not in REVIEWABLE:
        raise ValueError(f"review status must be one of {REVIEWABLE}, got {status!r}")
    prov = _provenance(session, ref)
    if prov is None or prov.status == "manual":
        raise ValueError(f"{ref.key} is a manual annotation: only model proposals are reviewed")
    if prov.status == status:
        return prov
    if status == "proposed":
        new = replace(prov, status=status, edited_by=None, edited_at=None)
    else:
        new = replace(prov, status=status, edited_by=reader or reader_name(), edited_at=time.time())
    _put_provenance(session, ref, new)
    return new


# ------------------------------------------------------------------------------ tracking
class ReviewTracker:
    """Keeps originals of proposals and marks them ``edited`` on user changes (see module docstring).

    Created by :class:`~app.model.session.Session`; holds the session weakly. GUI thread only.
    """

    def __init__(self, session: Session) -> None:
        self._session = weakref.ref(session)
        self._centroids: weakref.WeakKeyDictionary[LabelVolume, dict[int, Any]] = weakref.WeakKeyDictionary()
        self._suspended = 0
        session.boxes.added.connect(self._on_item_added)
        session.findings.added.connect(self._on_item_added)
        session.boxes.changed.connect(self._on_box_changed)
        session.findings.changed.connect(self._on_finding_changed)
        session.segmentation_added.connect(self._on_segmentation_added)

    def centroids(self, labels: LabelVolume) -> dict[int, tuple[float, float, float]]:
        """Cached :func:`segment_centroids_lps` of ``labels`` (recomputed after it changes)."""
        cached = self._centroids.get(labels)
        if cached is None:
            cached = self._centroids[labels] = segment_centroids_lps(labels)
        return cached

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """No automatic ``edited`` marking inside the block (originals are still recorded).

        Crash recovery replays a journal that already holds every status change; marking again
        from replayed voxels (journaled after the status records of their tick) would be wrong.
        """
        self._suspended += 1
        try:
            yield
        finally:
            self._suspended -= 1

    def _on_item_added(self, item: Box | Finding) -> None:
        session = self._session()
        if session is not None and item.provenance.status == "proposed":
            kind = "box" if isinstance(item, Box) else "finding"
            session.original_proposals.setdefault(AnnotationRef(kind, item.id), item)

    def _auto_edit(self, ref: AnnotationRef, prov: Provenance | None) -> None:
        session = self._session()
        if session is not None and not self._suspended and prov is not None and prov.status in ("proposed",
                                                                                                "accepted"):
            set_status(session, ref, "edited")

    def _on_box_changed(self, old: Box, new: Box) -> None:
        session = self._session()
        original = session.original_proposals.get(AnnotationRef("box", new.id)) if session else None
        if isinstance(original, Box) and (new.lps_min, new.lps_max, new.label_id) != (
                original.lps_min, original.lps_max, original.label_id) and (
                (old.lps_min, old.lps_max, old.label_id) != (new.lps_min, new.lps_max, new.label_id)):
            self._auto_edit(AnnotationRef("box", new.id), new.provenance)

    def _on_finding_changed(self, old: Finding, new: Finding) -> None:
        session = self._session()
        original = session.original_proposals.get(AnnotationRef("finding", new.id)) if session else None
        if isinstance(original, Finding) and (new.label, new.value) != (original.label, original.value) and (
                (old.label, old.value) != (new.label, new.value)):
            self._auto_edit(AnnotationRef("finding", new.id), new.provenance)

    def _on_segmentation_added(self, labels: LabelVolume) -> None:
        ref = weakref.ref(labels)
        labels.changed.connect(lambda box, r=ref: self._on_labels_changed(r(), box))

    def _on_labels_changed(self, labels: LabelVolume | None, box: tuple[slice, slice, slice]) -> None:
        session = self._session()
        if labels is None or session is None:
            return
        self._centroids.pop(labels, None)
        if self._suspended or getattr(labels, "_replaying", False):  # undo/redo: the step restores the status
            return
        index = next((i for i, s in enumerate(session.segmentations) if s is labels), None)
        if index is None:
            return
        region, edited = None, []
        for seg in labels.table:
            prov = seg.provenance
            if prov is None or prov.status not in ("proposed", "accepted"):
                continue
            ref = AnnotationRef("segment", str(seg.id), index)
            original = session.original_proposals.get(ref)
            if not isinstance(original, SegmentProposal):
                continue
            region = labels.array[box] if region is None else region
            if not np.array_equal(region == seg.id, original.mask_in(box)):
                edited.append((ref, prov))
        if not edited:
            return
        top = labels.history.last_undo_seq  # the step of a bare write, or an older one in a transaction
        for ref, prov in edited:
            self._auto_edit(ref, prov)
        _fold_into_edit_step(labels, box, top)


def _fold_into_edit_step(labels: LabelVolume, box: tuple[slice, slice, slice], top: int) -> None:
    """Merge the status steps pushed after step ``top`` into it when ``top`` is the step of the bare
    write that emitted ``box`` (its last atom has that very box object), so one undo reverts both.

    Inside a transaction the status atoms already joined the open step and nothing was pushed.
    Only public History calls: the steps are popped (onto redo) and one merged step is pushed
    (which clears redo, as the status push just did anyway).
    """
    history = labels.history
    status_steps = []
    while history.last_undo_seq not in (top, 0):
        status_steps.append(history.pop_undo())  # type: ignore[arg-type]
    if not status_steps:
        return
    atoms = [atom for step in reversed(status_steps) for atom in step.edits]
    edit_step = history.pop_undo() if top else None
    if edit_step is not None and edit_step.edits and getattr(edit_step.edits[-1], "box", None) is box:
        history.push(edit_step.title, [*edit_step.edits, *atoms])
        return
    if edit_step is not None:  # ``changed`` came from elsewhere (not a bare write): leave the steps apart
        history.pop_redo()
    for step in reversed(status_steps):
        history.push(step.title, list(step.edits))


# ------------------------------------------------------------------------------ active time
class ReviewClock:
    """Active review time of one case: the GUI calls :meth:`tick` on user input.

    The time between two ticks counts when it is at most ``idle_cutoff_s`` (default 60 s); a
    longer gap (window left open, reader away) counts nothing. ``seconds`` is saved with the
    session. Any thread, but one caller at a time.
    """

    def __init__(self, seconds: float = 0.0, idle_cutoff_s: float = 60.0) -> None:
        self.seconds = float(seconds)
        self.idle_cutoff_s = float(idle_cutoff_s)
        self._last: float | None = None

    def tick(self, now_s: float | None = None) -> None:
        """Record user activity at ``now_s`` (monotonic seconds; default ``time.monotonic()``)."""
        now = time.monotonic() if now_s is None else float(now_s)
        if self._last is not None and 0.0 < now - self._last <= self.idle_cutoff_s:
            self.seconds += now - self._last
        self._last = now

    def pause(self) -> None:
        """Forget the last tick (case closed or switched): the next tick starts a new interval."""
        self._last = None
