"""``BoxTool``: draw, select, move, resize, nudge, copy and delete boxes on slice planes (LPS mm).

Not an entry of the label-tool registry (``app.tools.TOOLS``): boxes are LPS-mm objects of a
:class:`~app.model.annotations.BoxSet`, not voxels of a ``LabelVolume``. A viewport maps the mouse
to LPS on its displayed plane (:class:`BoxPlane`) and calls ``press`` / ``drag`` / ``release``;
points snap to the voxel centres of the displayed image (``geometry``), so boxes drawn on
axis-aligned data cover whole voxels (the model runners' and exporters' convention, see
:mod:`app.model.box_geometry`).

A press on a handle of a shown box resizes it (corner: two faces, edge: one face; the third
extent of a 3D box is edited the same way in an orthogonal view), a press inside one moves it, a
press elsewhere starts a new box (added once the mouse has moved a voxel; a click only clears the
selection). A 3D box gets a default depth of its smaller in-plane side, centred on the slice; a
2D box is flat on its slice. Each press → release is one undo step of the
:class:`~app.model.annotation_history.AnnotationHistory`, if one is given. Editing a model proposal
(status ``proposed`` or ``accepted``) stamps it ``edited`` with ``edited_by`` / ``edited_at``.
Knows nothing of Qt or VTK; GUI thread only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from app.model import box_geometry as bg
from app.model.annotations import Box, Provenance
from app.paths import reader_name

if TYPE_CHECKING:
    from app.model.annotation_history import AnnotationHistory
    from app.model.annotations import BoxSet
    from app.model.geometry import Geometry

BOX_KINDS = ("3d", "2d")


@dataclass(frozen=True)
class BoxPlane:
    """The slice a view shows: ``orientation`` ("axial", ...), the ``zyx`` axis normal to it, the slice index."""

    orientation: str
    axis_zyx: int
    slice_index: int


def stamp_edited(provenance: Provenance, reader: str | None = None) -> Provenance:
    """Return ``provenance`` stamped ``edited`` now by ``reader`` if it is proposed/accepted, else unchanged."""
    if provenance.status not in ("proposed", "accepted"):
        return provenance
    return replace(provenance, status="edited", edited_by=reader or reader_name(), edited_at=time.time())


class BoxTool:
    """Interactive box editing on slice planes (see module docstring).

    Parameters
    ----------
    boxes
        The set edited (usually ``session.boxes``).
    geometry
        Grid of the displayed image (snapping, nudging, default depth); set :attr:`geometry` when it changes.
    history
        Groups each press → release into one undo step (optional).

    Attributes
    ----------
    kind
        "3d" (default) or "2d": the kind of new boxes.
    label_id
        Label of new boxes.
    selected_id
        The selected box (None: none).
    """

    id = "box"
    title = "Box"

    def __init__(self, boxes: BoxSet, geometry: Geometry | None = None,
                 history: AnnotationHistory | None = None) -> None:
        self.boxes = boxes
        self.geometry = geometry
        self.history = history
        self.kind = "3d"
        self.label_id = 1
        self.reader: str | None = None  # None: app.paths.reader_name()
        self.selected_id: str | None = None
        self._op = ""  # "", "create", "move", "resize"
        self._plane: BoxPlane | None = None
        self._start_zyx: np.ndarray | None = None
        self._start_lps: np.ndarray | None = None
        self._original: Box | None = None
        self._faces: frozenset[tuple[int, int]] = frozenset()
        self._step: ExitStack | None = None

    # ----------------------------------------------------------------- helpers
    @property
    def busy(self) -> bool:
        """True between a press and its release."""
        return bool(self._op)

    def selected(self) -> Box | None:
        """The selected box, or None (also when it was deleted meanwhile)."""
        if self.selected_id is not None and self.selected_id not in self.boxes:
            self.selected_id = None
        return self.boxes[self.selected_id] if self.selected_id is not None else None

    def select(self, box_id: str | None) -> Box | None:
        """Select a box by id (None clears); return it. Raises KeyError for an unknown id."""
        if box_id is not None and box_id not in self.boxes:
            raise KeyError(f"no box {box_id}")
        self.selected_id = box_id
        return self.selected()

    def snap_zyx(self, plane: BoxPlane, lps_mm: Sequence[float]) -> np.ndarray:
        """Return the voxel-centre ``zyx`` index (ints as floats) under ``lps_mm`` on ``plane``."""
        if self.geometry is None:
            raise ValueError("no image: boxes are drawn on an image's slices")
        zyx = np.rint(self.geometry.lps_to_index_zyx(np.asarray(lps_mm, float)))
        zyx[plane.axis_zyx] = plane.slice_index
        return zyx

    def _snap_lps(self, plane: BoxPlane, lps_mm: Sequence[float]) -> np.ndarray:
        assert self.geometry is not None
        return self.geometry.index_zyx_to_lps(self.snap_zyx(plane, lps_mm))

    def _put(self, box_id: str, lps_min: Sequence[float], lps_max: Sequence[float]) -> Box:
        box = self.boxes[box_id]
        return self.boxes.update(box_id, lps_min=tuple(lps_min), lps_max=tuple(lps_max),
                                 provenance=stamp_edited(box.provenance, self.reader))

    def _open_step(self, title: str) -> None:
        self._step = ExitStack()
        if self.history is not None:
            self._step.enter_context(self.history.transaction(title))

    def _close_step(self) -> None:
        step, self._step = self._step, None
        if step is not None:
            step.close()

    # ------------------------------------------------------------------ hits
    def shown_on(self, plane: BoxPlane) -> list[tuple[Box, np.ndarray]]:
        """Return ``(box, polygon_lps)`` of every box drawn on ``plane``."""
        if self.geometry is None:
            return []
        out = []
        for box in self.boxes:
            poly = bg.section_lps(box, self.geometry, plane.axis_zyx, plane.slice_index, plane.orientation)
            if poly is not None:
                out.append((box, poly))
        return out

    def hit(self, plane: BoxPlane, lps_mm: Sequence[float], tol_mm: float,
            shown: dict[str, np.ndarray] | None = None) -> tuple[str, frozenset[tuple[int, int]] | None] | None:
        """Return ``(box id, faces)`` of the handle or edge within ``tol_mm`` of ``lps_mm`` (faces None: inside).

        The selected box's handles win, then corners before edges, then the smallest box
        containing the point. None when nothing is hit. ``shown`` (box id → polygon drawn on
        ``plane``, e.g. a visual's cache) saves recomputing the sections on every mouse move.
        """
        if shown is None:
            pairs = self.shown_on(plane)
        else:
            pairs = [(self.boxes[i], poly) for i, poly in shown.items() if i in self.boxes]
        point = np.asarray(lps_mm, float)
        pairs = [(box, poly) for box, poly in pairs  # cheap reject: outside the outline's bounds ± tol
                 if np.all(point >= poly.min(axis=0) - tol_mm) and np.all(point <= poly.max(axis=0) + tol_mm)]
        pairs.sort(key=lambda bp: bp[0].id != self.selected_id)
        best: tuple[float, str, frozenset[tuple[int, int]]] | None = None
        for box, poly in pairs:
            for _, faces, segment in bg.handles(poly, box):
                d = bg.distance_to_segment(lps_mm, segment) + (0.0 if len(segment) == 1 else 1e-3)
                if d <= tol_mm and (best is None or d < best[0]):
                    best = (d, box.id, faces)
            if best is not None and box.id == self.selected_id:
                break
        if best is not None:
            return best[1], best[2]
        assert self.geometry is not None
        _, u, v = bg.plane_axes(self.geometry, plane.axis_zyx)
        inside = [(float(np.prod([s for s in box.size_mm if s > 0] or [0.0])), box.id)
                  for box, poly in pairs if bg.contains_point(poly, lps_mm, u, v)]
        return (min(inside)[1], None) if inside else None

    # ------------------------------------------------------------- mouse
    def press(self, plane: BoxPlane, lps_mm: Sequence[float], tol_mm: float = 2.0,
              shown: dict[str, np.ndarray] | None = None) -> None:
        """Start resizing (on a handle), moving (inside a box) or drawing a new box at ``lps_mm`` (see :meth:`hit`)."""
        if self._op:
            self.cancel()
        self._plane = plane
        self._start_zyx = self.snap_zyx(plane, lps_mm)
        self._start_lps = self._snap_lps(plane, lps_mm)
        target = self.hit(plane, lps_mm, tol_mm, shown)
        if target is None:
            self._op, self._original = "create", None
            self._open_step("Draw box")
            return
        box_id, faces = target
        self.selected_id = box_id
        self._original = self.boxes[box_id]
        self._op, self._faces = ("move", frozenset()) if faces is None else ("resize", faces)
        self._open_step("Move box" if faces is None else "Resize box")

    def drag(self, plane: BoxPlane, lps_mm: Sequence[float]) -> None:
        """Update the box being drawn, moved or resized (``plane`` must be the pressed one)."""
        if not self._op or plane != self._plane:
            return
        assert self._start_lps is not None and self.geometry is not None
        if self._op == "create":
            self._drag_create(plane, lps_mm)
            return
        original = self._original
        if original is None or original.id not in self.boxes:
            return
        p = self._snap_lps(plane, lps_mm)
        lo, hi = np.array(original.lps_min), np.array(original.lps_max)
        if self._op == "move":
            delta = p - self._start_lps
            self._put(original.id, lo + delta, hi + delta)
            return
        for axis, side in self._faces:
            (hi if side else lo)[axis] = p[axis]
        self._put(original.id, lo, hi)

    def _drag_create(self, plane: BoxPlane, lps_mm: Sequence[float]) -> None:
        assert self._start_zyx is not None and self.geometry is not None
        a, b = self._start_zyx, self.snap_zyx(plane, lps_mm)
        in_plane = [ax for ax in range(3) if ax != plane.axis_zyx]
        if self._original is None and all(a[ax] == b[ax] for ax in in_plane):
            return  # not a voxel yet: still a click
        k = plane.slice_index
        lo_zyx, hi_zyx = a.copy(), b.copy()
        if self.kind == "3d":
            spacing = self.geometry.spacing_zyx_mm
            side_mm = min((abs(b[ax] - a[ax]) + 1) * spacing[ax] for ax in in_plane)
            n = max(1, int(round(side_mm / spacing[plane.axis_zyx])))
            lo_zyx[plane.axis_zyx], hi_zyx[plane.axis_zyx] = k - (n - 1) // 2, k - (n - 1) // 2 + n - 1
        lps_min, lps_max = bg.box_from_index(self.geometry, lo_zyx, hi_zyx)
        if self.kind == "2d":
            normal, _, _ = bg.plane_axes(self.geometry, plane.axis_zyx)
            lps_min, lps_max = bg.flatten_along(lps_min, lps_max, normal)
        if self._original is None:
            box = Box(lps_min, lps_max, label_id=self.label_id, kind=self.kind,
                      orientation=plane.orientation if self.kind == "2d" else None,
                      provenance=Provenance(created_by=self.reader or reader_name()))
            self._original = self.boxes.add(box)
            self.selected_id = box.id
        elif self._original.id in self.boxes:
            self.boxes.update(self._original.id, lps_min=lps_min, lps_max=lps_max)

    def release(self, plane: BoxPlane, lps_mm: Sequence[float]) -> Box | None:
        """Finish the operation; return the box drawn/moved/resized (None after a plain click on nothing)."""
        if not self._op:
            return None
        self.drag(plane, lps_mm)
        op, original = self._op, self._original
        self._op, self._original = "", None
        self._close_step()
        if op == "create" and original is None:
            self.selected_id = None  # a click on empty space clears the selection
            return None
        return self.boxes[original.id] if original is not None and original.id in self.boxes else None

    def cancel(self) -> None:
        """Abort the operation in progress, putting the box back as it was (a drawn box is removed)."""
        if not self._op:
            return
        op, original = self._op, self._original
        self._op, self._original = "", None
        if original is not None and original.id in self.boxes:
            if op == "create":
                self.boxes.remove(original.id)
                self.selected_id = None
            else:
                self.boxes.update(original.id, lps_min=original.lps_min, lps_max=original.lps_max,
                                  provenance=original.provenance)
        self._close_step()

    # ------------------------------------------------------------- commands
    def delete(self, box_id: str | None = None) -> bool:
        """Remove a box (default: the selected one); False when there is none."""
        box_id = box_id or self.selected_id
        if box_id is None or box_id not in self.boxes:
            return False
        self.boxes.remove(box_id)
        if box_id == self.selected_id:
            self.selected_id = None
        return True

    def nudge(self, direction_lps: Sequence[float], steps: int = 1, box_id: str | None = None) -> Box | None:
        """Move a box (default: the selected one) ``steps`` voxels along the index axis closest to ``direction_lps``.

        The caller passes a screen direction in LPS (e.g. the view's ``right_lps`` for →).
        """
        box_id = box_id or self.selected_id
        if box_id is None or box_id not in self.boxes or self.geometry is None:
            return None
        d = np.asarray(direction_lps, float)
        cosines = []
        for ax in range(3):
            step = bg.voxel_step_lps(self.geometry, ax)
            cosines.append(float(step @ d) / float(np.linalg.norm(step) * max(np.linalg.norm(d), 1e-12)))
        ax = int(np.argmax(np.abs(cosines)))
        delta = bg.voxel_step_lps(self.geometry, ax) * np.sign(cosines[ax]) * int(steps)
        box = self.boxes[box_id]
        return self._put(box_id, np.add(box.lps_min, delta), np.add(box.lps_max, delta))

    def copy_to_slice(self, plane: BoxPlane, delta: int, box_id: str | None = None) -> Box:
        """Copy a 2D box (default: the selected one) ``delta`` slices along ``plane``'s axis; select and return it.

        Raises ValueError for a 3D box, or one not drawn in ``plane``'s orientation.
        """
        box_id = box_id or self.selected_id
        if box_id is None or box_id not in self.boxes or self.geometry is None:
            raise ValueError("no box selected")
        box = self.boxes[box_id]
        if box.kind != "2d":
            raise ValueError("only 2D boxes are copied to adjacent slices (a 3D box already spans slices)")
        if box.orientation != plane.orientation:
            raise ValueError(f"this 2D box was drawn in the {box.orientation} view")
        shift = bg.voxel_step_lps(self.geometry, plane.axis_zyx) * int(delta)
        copy = Box(tuple(np.add(box.lps_min, shift)), tuple(np.add(box.lps_max, shift)), label_id=box.label_id,
                   kind="2d", orientation=box.orientation, note=box.note,
                   provenance=Provenance(created_by=self.reader or reader_name()))
        self.boxes.add(copy)
        self.selected_id = copy.id
        return copy

    def set_bounds(self, lps_min: Sequence[float], lps_max: Sequence[float], box_id: str | None = None) -> Box:
        """Set a box's corners (LPS mm) numerically (swapped corners are sorted). ValueError when not numbers."""
        box_id = box_id or self.selected_id
        if box_id is None or box_id not in self.boxes:
            raise ValueError("no box selected")
        lo, hi = np.asarray(lps_min, float), np.asarray(lps_max, float)
        if lo.shape != (3,) or hi.shape != (3,) or not np.all(np.isfinite(np.concatenate([lo, hi]))):
            raise ValueError("box corners need three finite numbers each (L, P, S in mm)")
        return self._put(box_id, lo, hi)
