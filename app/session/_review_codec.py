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

The autosave journal carries the same state between saves: an ``original`` record per new original
(:func:`original_to_journal`: the record above without ``mask``; a segment's packed mask is the
record's blob, C order, shape ``(nz, ny, ceil(nx / 8))``), ``original_del`` (``ref``) and
``review`` (``active_seconds``).

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


def original_to_journal(ref: AnnotationRef, original: Any) -> tuple[dict[str, Any], bytes] | None:
    """Header fields and blob of an ``original`` journal record (None: not a kind that is kept).

    The blob is a copy (bytes), so the caller may hand it to the writer thread.
    """
    records, masks = originals_to_records({ref: original})
    if not records:
        return None
    record = records[0]
    name = record.pop("mask", None)
    blob = np.ascontiguousarray(masks[name], dtype=np.uint8).tobytes() if name is not None else b""
    return record, blob


def original_from_journal(header: dict[str, Any], blob: bytes) -> tuple[AnnotationRef, Any]:
    """Inverse of :func:`original_to_journal` (``blob`` already decompressed).

    Raises ``ValueError`` / ``KeyError`` when the blob does not fit the record's box.
    """
    record = {k: header[k] for k in ("ref", "item", "start_zyx", "shape_zyx", "voxels") if k in header}
    masks: dict[str, np.ndarray] = {}
    if "shape_zyx" in record:
        nz, ny, nx = (int(v) for v in record["shape_zyx"])
        packed = np.frombuffer(blob, dtype=np.uint8)
        if packed.size != nz * ny * ((nx + 7) // 8):
            raise ValueError(f"{record['ref']}: {packed.size} mask bytes do not fit box {(nz, ny, nx)}")
        masks["j"] = packed.reshape(nz, ny, (nx + 7) // 8).copy()
        record["mask"] = "j"
    ((ref, original),) = originals_from_records([record], masks).items()
    return ref, original
