"""Editing tools: the :class:`Tool` base class, :class:`ViewState` and the ``TOOLS`` registry.

A viewport maps the mouse to ``zyx`` voxel indices and calls ``press`` / ``drag`` / ``release``
of the active tool; one-shot tools (margin, smoothing, ...) are run with ``apply``. Tools know
nothing of Qt or VTK and never assign into arrays: they compute ``(box, mask)`` and write through
``LabelVolume.paint`` / ``write`` inside one ``transaction`` per operation (one undo step).
GUI thread only, unless a method says otherwise.

Wiring (for the viewer):

* interactive tools (paint, erase, draw, scissors, level tracing, flood fill, island clicks):
  ``tool.press/drag/release(view, zyx)`` from the viewport's mouse events; ``tool.cancel(view)``
  on Esc; draw finishes with ``tool.apply(view)`` (Enter / double-click);
* one-shot tools (threshold, margin, hollow, smoothing, islands, logical, fill between, grow
  from seeds): ``Job(tool.compute, view.snapshot())`` on a worker, then
  ``tool.commit(view, result)`` on the GUI thread (or ``tool.apply(view)`` for small volumes);
* previews that write nothing: ``ThresholdTool.preview``, ``LevelTraceTool.preview``,
  ``FloodFillTool.preview``, ``GrowSeedsTool.update``;
* options panels: :func:`param_specs` of ``tool.params``; ``view.options`` (masking) is shared.
"""

from __future__ import annotations

import importlib
import logging
from contextlib import ExitStack
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Any, ClassVar, TypeVar, get_type_hints

import numpy as np

from analysis.segment_ops import mask_box
from app.model.image import ImageVolume
from app.model.labels import Box, LabelTable, LabelVolume
from app.model.masking import EditOptions, allowed, restrict

log = logging.getLogger(__name__)

ZYX = tuple[int, int, int]


@dataclass
class ViewState:
    """What a tool needs to know about the view it acts in.

    Attributes
    ----------
    labels
        The active segmentation (edited in place through its transactions).
    image
        Reference image on the same grid (read-only), or None.
    label_id
        Active segment id (the value painted).
    axis
        Axis normal to the slice view, in ``zyx``: 0 axial, 1 coronal, 2 sagittal.
    slice_index
        Index of the displayed slice along ``axis``.
    options
        Masking options shared by every tool.
    """

    labels: LabelVolume
    image: ImageVolume | None = None
    label_id: int = 1
    axis: int = 0
    slice_index: int = 0
    options: EditOptions = field(default_factory=EditOptions)

    def __post_init__(self) -> None:
        if self.axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2 (zyx), got {self.axis}")
        if self.image is not None and tuple(self.image.array.shape) != tuple(self.labels.array.shape):
            raise ValueError("image and labels must share one grid")

    @property
    def spacing_zyx_mm(self) -> tuple[float, float, float]:
        """Voxel spacing of the label grid in mm, ``(z, y, x)``."""
        return self.labels.geometry.spacing_zyx_mm

    def plane_index(self, zyx: ZYX) -> tuple[int, int]:
        """Return the in-plane (row, column) index of ``zyx`` in this view's slice."""
        rest = [int(v) for a, v in enumerate(zyx) if a != self.axis]
        return rest[0], rest[1]

    def slice_box(self, index: int | None = None) -> Box:
        """Return the absolute ``zyx`` box of one slice of this view (default: the shown one)."""
        idx = self.slice_index if index is None else int(index)
        box = [slice(0, n) for n in self.labels.array.shape]
        box[self.axis] = slice(idx, idx + 1)
        return tuple(box)  # type: ignore[return-value]

    def snapshot(self) -> ViewState:
        """Return a detached copy for a worker: label array and table copied, image shared.

        Any thread may then read the copy; results come back to the GUI thread to be written.
        """
        table = LabelTable(list(self.labels.table))
        labels = LabelVolume(self.labels.geometry, table, self.labels.name, self.labels.array.copy())
        return replace(self, labels=labels, options=replace(self.options))


@dataclass(frozen=True)
class EditResult:
    """A computed edit, not yet written: labels to write in ``box`` where ``mask`` is True.

    ``values`` is one label id or an array of the box shape. ``mask`` None means the whole box.
    Produced by :meth:`Tool.compute` (any thread, on a snapshot), written by :meth:`Tool.commit`.
    """

    box: Box
    mask: np.ndarray | None
    values: np.ndarray | int
    title: str


class Tool:
    """Base class of every editing tool.

    Subclasses set ``id`` (short, unique), ``title``, ``shortcut`` (a Qt-style key string) and
    ``Params`` (a psygnal ``@evented`` dataclass whose fields — with ``metadata`` keys ``label``,
    ``min``, ``max``, ``units`` — generate the options panel). Interactive tools override
    ``press``/``drag``/``release``; one-shot tools override :meth:`compute` (and get ``apply``).
    """

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    shortcut: ClassVar[str] = ""
    Params: ClassVar[type] = type(None)

    def __init__(self, params: Any | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self._stroke: ExitStack | None = None

    # ------------------------------------------------------------ mouse events
    def press(self, view: ViewState, zyx: ZYX) -> None:
        """Mouse button pressed at voxel ``zyx`` (may lie outside the volume)."""

    def drag(self, view: ViewState, zyx: ZYX) -> None:
        """Mouse moved to ``zyx`` with the button held."""

    def release(self, view: ViewState, zyx: ZYX) -> None:
        """Mouse button released at ``zyx``."""

    def cancel(self, view: ViewState) -> None:
        """Abandon the current interaction (Esc); closes any open transaction."""
        self._end_transaction()

    # -------------------------------------------------------- one-shot tools
    def compute(self, view: ViewState, *, ctx: Any = None) -> EditResult | None:
        """Compute the edit without writing it (any thread when ``view`` is a snapshot)."""
        raise NotImplementedError(f"{type(self).__name__} is interactive; use press/drag/release")

    def commit(self, view: ViewState, result: EditResult | None) -> Box | None:
        """Write a computed edit as one undo step (GUI thread). Returns the changed box."""
        if result is None:
            return None
        with view.labels.transaction(result.title):
            return view.labels.write(result.box, result.mask, result.values)

    def apply(self, view: ViewState, **kwargs: Any) -> Box | None:
        """Compute and commit in one call (GUI thread). Returns the changed box or None."""
        return self.commit(view, self.compute(view, **kwargs))

    # ---------------------------------------------------------------- helpers
    def _begin_transaction(self, view: ViewState, title: str | None = None, *, coalesce: bool = False) -> None:
        self._end_transaction()  # a missed release must not leak an open step
        stack = ExitStack()
        stack.enter_context(view.labels.transaction(title or self.title, coalesce=coalesce))
        self._stroke = stack

    def _end_transaction(self) -> None:
        stack, self._stroke = self._stroke, None
        if stack is not None:
            stack.close()

    def paint_masked(self, view: ViewState, box: Box, mask: np.ndarray | None, value: int,
                     *, active: int | None = None, only: int | None = None) -> Box | None:
        """Restrict a proposed edit by ``view.options`` and write ``value`` there.

        Parameters
        ----------
        box, mask
            Absolute ``zyx`` box (may extend outside the volume) and boolean mask of its shape.
        value
            Label to write (0 erases).
        active
            Segment being edited (default ``value``); nothing happens when it is locked.
        only
            When given, change only voxels currently equal to this label (erase one segment).
        """
        ok = restrict(view.labels, view.image, box, mask, value, view.options, active=active)
        if ok is None:
            return None
        cbox, cmask = ok
        if only is not None:
            sel = view.labels.array[cbox] == only
            cmask = sel if cmask is None else (cmask & sel)
        return view.labels.paint(cbox, cmask, value)


def masked_result(view: ViewState, box: Box, new_values: np.ndarray, title: str,
                  *, active: int | None = None) -> EditResult | None:
    """Turn new label values for ``box`` into an :class:`EditResult` of the voxels that change.

    Applies ``view.options`` (for a single-label change ``active``) and shrinks the box to the
    changed voxels so only that region is written and kept for undo. Any thread on a snapshot.
    """
    old = view.labels.array[box]
    changed = new_values != old
    if active is not None and changed.any():
        img = view.image.array[box] if view.image is not None else None
        # Voxels gained by ``active`` follow the overwrite policy; voxels it loses are its own.
        gain = changed & (new_values != 0)
        ok_gain = allowed(old, img, gain, active, active, view.labels.table, view.options)
        lose = changed & (new_values == 0)
        ok_lose = allowed(old, img, lose, 0, active, view.labels.table, view.options)
        changed = ok_gain | ok_lose
    elif active is None:  # multi-label result: only the locks apply
        locked = [s.id for s in view.labels.table if s.locked]
        if locked:
            changed &= ~np.isin(old, locked)
    if not changed.any():
        return None
    nz = [np.flatnonzero(changed.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    tight = tuple(slice(int(n[0]), int(n[-1]) + 1) for n in nz)
    abs_box = tuple(slice(b.start + t.start, b.start + t.stop) for b, t in zip(box, tight, strict=True))
    return EditResult(abs_box, changed[tight], np.ascontiguousarray(new_values[tight]), title)  # type: ignore[arg-type]


TOOLS: dict[str, type[Tool]] = {}

T = TypeVar("T", bound=type[Tool])


def register_tool(cls: T) -> T:
    """Class decorator: add a tool to ``TOOLS`` under its ``id``. A duplicate id raises ValueError.

    Re-registering the very same class (a module imported twice) is a no-op.
    """
    if not cls.id:
        raise ValueError(f"{cls.__name__} has no id")
    existing = TOOLS.get(cls.id)
    if existing is not None and existing is not cls:
        raise ValueError(f"tool id {cls.id!r} already registered by {existing.__module__}.{existing.__name__}")
    TOOLS[cls.id] = cls
    return cls


def segment_box(view: ViewState, *masks: np.ndarray) -> Box | None:
    """Bounding box of the active segment together with the given full-volume masks (None if all empty)."""
    union = view.labels.array == view.label_id
    for m in masks:
        union |= m
    return mask_box(union)


def set_segment(view: ViewState, new_mask: np.ndarray, title: str, *,
                box: Box | None = None, add_only: bool = False) -> EditResult | None:
    """Edit result that makes the active segment equal to ``new_mask`` (or adds it, ``add_only``).

    ``new_mask`` covers the whole volume, or just ``box`` when a box is given. Masking options
    apply; voxels the segment loses become background. Any thread on a snapshot.
    """
    if box is None:
        box = segment_box(view, new_mask)
        if box is None:
            return None
        new_mask = new_mask[box]
    old = view.labels.array[box]
    new = old.copy()
    if not add_only:
        new[(old == view.label_id) & ~new_mask] = 0
    new[new_mask] = view.label_id
    return masked_result(view, box, new, title, active=view.label_id)


def load_builtin_tools() -> dict[str, type[Tool]]:
    """Import the built-in tool modules (each registers itself like any plug-in) and return ``TOOLS``."""
    for name in BUILTIN_MODULES:
        module = importlib.import_module(f"app.tools.{name}")
        # a registry reset after the first import (tests) must not lose the built-ins
        for obj in list(vars(module).values()):
            if (isinstance(obj, type) and issubclass(obj, Tool) and obj.__module__ == module.__name__
                    and obj.id and obj.id not in TOOLS):
                register_tool(obj)
    return TOOLS


#: Built-in tool modules, in Slicer's Segment Editor order.
BUILTIN_MODULES = ("paint", "draw", "erase", "level_trace", "grow_seeds", "fill_between", "threshold",
                   "margin", "hollow", "smoothing", "scissors", "islands", "logical", "mask_volume",
                   "flood_fill")


@dataclass(frozen=True)
class ParamSpec:
    """What an options panel needs to build one editor for a tool parameter.

    ``kind`` is ``"float"``, ``"int"``, ``"bool"`` or ``"choice"`` (an Enum; ``choices`` lists its
    members). ``minimum``/``maximum``/``units``/``label`` come from the dataclass field metadata.
    """

    name: str
    label: str
    kind: str
    default: Any
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    units: str = ""


def param_specs(params: Any) -> list[ParamSpec]:
    """Describe the fields of a tool's ``params`` (an ``@evented`` dataclass) for panel generation.

    The values are read from ``params`` (current values, not class defaults). Any thread.
    """
    hints = get_type_hints(type(params))
    out = []
    for f in fields(params):
        hint, meta = hints.get(f.name, type(getattr(params, f.name))), f.metadata
        if isinstance(hint, type) and issubclass(hint, Enum):
            kind, choices = "choice", tuple(hint)
        elif hint is bool:
            kind, choices = "bool", ()
        elif hint is int:
            kind, choices = "int", ()
        else:
            kind, choices = "float", ()
        out.append(ParamSpec(f.name, str(meta.get("label", f.name.replace("_", " ").capitalize())), kind,
                             getattr(params, f.name), choices, meta.get("min"), meta.get("max"),
                             str(meta.get("units", ""))))
    return out
