"""JSON + npz forms of the review state kept in a session folder (``annotations.json`` version 2).

Version 2 of ``annotations.json`` adds two keys (a version-1 file, which has no ``version`` key,
reads as "no originals kept, no review time"):

* ``originals``: one record per kept model proposal (see :mod:`app.model.review`), keyed by
  ``ref`` (``box:<id>``, ``finding:<id>``, ``segment:<segmentation index>:<label id>``). Boxes and
  findings carry the original ``item`` in the same form as ``boxes`` / ``findings``. Segments carry
  ``start_zyx`` and ``shape_zyx`` (the proposal's bounding box in voxel indices of that
  segmentation's grid), ``voxels`` (count) and ``mask``: the name of an array in
  ``proposal_masks`` (default ``proposals.npz``, beside ``annotations.json``), holding
  ``np.packbits(mask, axis=-1)`` of the box, uint8 of shape ``(nz, ny, ceil(nx / 8))``.
* ``review``: ``{"active_seconds": float}``, the active review time of the case (idle gaps excluded).

Any thread; these functions read plain values and never touch the model's signals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.model.annotations import Box, Finding
from app.model.review import AnnotationRef, SegmentProposal
from app.session import _codec

ANNOTATIONS_VERSION = 2
MASKS_NAME = "proposals.npz"


def originals_to_records(originals: dict[AnnotationRef, Any]) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Return the ``originals`` records and the packed masks they name (``m0``, ``m1``, ...)."""
    records: list[dict[str, Any]] = []
    masks: dict[str, np.ndarray] = {}
    for ref, original in originals.items():
        if isinstance(original, SegmentProposal):
            name = f"m{len(masks)}"
            masks[name] = original.packed
            records.append({"ref": ref.key, "start_zyx": list(original.start_zyx),
                            "shape_zyx": list(original.shape_zyx), "voxels": int(original.voxels), "mask": name})
        elif isinstance(original, Box):
            records.append({"ref": ref.key, "item": _codec.box_to_dict(original)})
        elif isinstance(original, Finding):
            records.append({"ref": ref.key, "item": _codec.finding_to_dict(original)})
    return records, masks


def originals_from_records(records: list[dict[str, Any]], masks: Any) -> dict[AnnotationRef, Any]:
    """Inverse of :func:`originals_to_records`; ``masks`` maps mask names to arrays (an open npz).

    Raises ``ValueError`` / ``KeyError`` on a record that does not fit its mask.
    """
    out: dict[AnnotationRef, Any] = {}
    for record in records:
        ref = AnnotationRef.from_key(record["ref"])
        if ref.kind == "box":
            out[ref] = _codec.box_from_dict(record["item"])
        elif ref.kind == "finding":
            out[ref] = _codec.finding_from_dict(record["item"])
        else:
            shape = tuple(int(v) for v in record["shape_zyx"])
            packed = np.asarray(masks[record["mask"]], dtype=np.uint8)
            if packed.shape != (shape[0], shape[1], (shape[2] + 7) // 8):
                raise ValueError(f"{record['ref']}: packed mask {packed.shape} does not fit box {shape}")
            out[ref] = SegmentProposal(tuple(int(v) for v in record["start_zyx"]), shape, packed,  # type: ignore
                                       int(record["voxels"]))
    return out
