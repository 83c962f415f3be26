"""Bounding boxes and findings (classification labels), with provenance and review status."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

import numpy as np
from psygnal import Signal

from app.paths import reader_name

REVIEW_STATUSES = ("manual", "proposed", "accepted", "edited", "rejected")


def _reader_name() -> str:
    return reader_name()  # MEDWS_READER, the settings file, else the OS login name


@dataclass(frozen=True)
class Provenance:
    """Who/what made an annotation and its review status.

    ``source`` is "manual" or a model identifier ("name@version"); ``parameters`` are the model's
    run parameters. Times are Unix seconds (UTC).
    """

    source: str = "manual"
    parameters: dict = field(default_factory=dict)
    created_by: str = field(default_factory=_reader_name)
    created_at: float = field(default_factory=time.time)
    edited_by: str | None = None
    edited_at: float | None = None
    status: str = "manual"

    def __post_init__(self) -> None:
        if self.status not in REVIEW_STATUSES:
            raise ValueError(f"unknown review status {self.status!r}; expected one of {REVIEW_STATUSES}")


T = TypeVar("T")


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in LPS mm.

    ``kind`` is "3d" (extent over slices) or "2d" (on one slice; then ``lps_min`` and ``lps_max``
    share the coordinate along the slice normal and ``orientation`` names the view plane).
    ``label_id`` refers to a segmentation's label table; ``label`` is the class name when the box
    comes with its own class list (a detection model, lesion candidates) and wins over the table's
    name for display and export. :func:`box_name` gives the text to show.
    """

    lps_min: tuple[float, float, float]
    lps_max: tuple[float, float, float]
    label_id: int = 1
    label: str = ""  # class name from the box's own class list (e.g. a detection model's); "" = label table
    kind: str = "3d"
    orientation: str | None = None
    confidence: float | None = None
    note: str = ""
    id: str = field(default_factory=_new_id)
    provenance: Provenance = field(default_factory=Provenance)

    def __post_init__(self) -> None:
        lo = tuple(float(v) for v in np.minimum(self.lps_min, self.lps_max))
        hi = tuple(float(v) for v in np.maximum(self.lps_min, self.lps_max))
        object.__setattr__(self, "lps_min", lo)
        object.__setattr__(self, "lps_max", hi)
        if self.kind not in ("2d", "3d"):
            raise ValueError(f"box kind must be '2d' or '3d', got {self.kind!r}")

    @property
    def size_mm(self) -> tuple[float, float, float]:
        """Edge lengths in mm along L, P, S."""
        return tuple(float(b - a) for a, b in zip(self.lps_min, self.lps_max, strict=True))  # type: ignore

    def iou(self, other: Box) -> float:
        """Volume intersection-over-union with another box (0 when disjoint)."""
        lo = np.maximum(self.lps_min, other.lps_min)
        hi = np.minimum(self.lps_max, other.lps_max)
        inter = float(np.prod(np.clip(hi - lo, 0, None)))
        union = float(np.prod(self.size_mm)) + float(np.prod(other.size_mm)) - inter
        return inter / union if union > 0 else 0.0


class _EventedItems(Generic[T]):
    """Items keyed by their ``id`` with ``added(item)``, ``removed(item)``, ``changed(old, new)``.

    Items are frozen dataclasses; :meth:`update` replaces one with a modified copy. GUI thread only.
    """

    added = Signal(object)
    removed = Signal(object)
    changed = Signal(object, object)

    def __init__(self, items: Iterable[T] | None = None) -> None:
        self._items: dict[str, T] = {}
        for item in items or []:
            self.add(item)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, item_id: str) -> T:
        return self._items[item_id]

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def add(self, item: T) -> T:
        """Add an item (its id must be new)."""
        if item.id in self._items:
            raise ValueError(f"{type(item).__name__.lower()} id {item.id} already present")
        self._items[item.id] = item
        self.added.emit(item)
        return item

    def remove(self, item_id: str) -> T:
        """Remove and return an item."""
        item = self._items.pop(item_id)
        self.removed.emit(item)
        return item

    def update(self, item_id: str, **changes: object) -> T:
        """Replace fields of an item (e.g. ``lps_min=``, ``label_id=``) and emit ``changed``."""
        old = self._items[item_id]
        new = replace(old, **changes)  # type: ignore[type-var]
        self._items[item_id] = new
        self.changed.emit(old, new)
        return new


def box_name(box: Box, table_name: str = "") -> str:
    """Display name of a box: its own class ``label``, else ``table_name`` (the label table's name
    for ``label_id``), else "label N"; the free-text note is appended after an em dash."""
    name = box.label or table_name or f"label {box.label_id}"
    return f"{name} — {box.note}" if box.note and box.note != name else name


class BoxSet(_EventedItems[Box]):
    """The boxes of one study."""


FINDING_LEVELS = ("study", "series", "box", "segment")


@dataclass(frozen=True)
class Finding:
    """A classification label attached to a study, series, box or segment.

    ``target`` is the series UID, box id or segment id the finding refers to (None for "study").
    ``code`` is an optional coded value as ``scheme^value^meaning`` (e.g. ``SCT^17621005^Normal``).
    """

    label: str
    level: str = "study"
    target: str | None = None
    value: str = ""
    confidence: float | None = None
    note: str = ""
    code: str = ""
    id: str = field(default_factory=_new_id)
    provenance: Provenance = field(default_factory=Provenance)

    def __post_init__(self) -> None:
        if self.level not in FINDING_LEVELS:
            raise ValueError(f"finding level must be one of {FINDING_LEVELS}, got {self.level!r}")


class FindingSet(_EventedItems[Finding]):
    """The findings (classification labels) of one study."""
