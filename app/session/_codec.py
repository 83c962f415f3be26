"""JSON forms of the model objects kept in a session folder (lossless, human-readable).

Floats are written by ``json`` with ``repr`` precision, so coordinates and geometry round-trip
exactly. Unknown keys are ignored on reading (newer minor versions may add fields). Any thread may
call these functions; they never touch the model's signals.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from app.io.label_tables import label_table_from_dict, label_table_to_dict
from app.model.annotations import Box, Finding, Provenance
from app.model.geometry import Geometry
from app.model.image import ImageVolume
from app.model.labels import LabelTable, Segment

__all__ = [
    "box_from_dict", "box_to_dict", "finding_from_dict", "finding_to_dict", "geometry_from_dict",
    "geometry_to_dict", "image_ref", "provenance_from_dict", "provenance_to_dict", "segment_from_dict",
    "segment_to_dict", "table_from_dict", "table_to_dict",
]


def _floats(values: Any) -> list[float]:
    return [float(v) for v in values]


# ------------------------------------------------------------------------------ geometry
def geometry_to_dict(geometry: Geometry) -> dict[str, Any]:
    """Return the grid at full float precision (unlike ``Geometry.to_dict``, which rounds)."""
    return {
        "shape_zyx": [int(v) for v in geometry.shape_zyx],
        "spacing_zyx_mm": _floats(geometry.spacing_zyx_mm),
        "origin_lps_mm": _floats(geometry.origin_lps_mm),
        "direction": _floats(geometry.direction),
    }


def geometry_from_dict(data: dict[str, Any]) -> Geometry:
    """Inverse of :func:`geometry_to_dict`."""
    return Geometry.from_dict(data)


# ------------------------------------------------------------------------------ provenance
def provenance_to_dict(prov: Provenance) -> dict[str, Any]:
    """Return every field of a :class:`Provenance` (times in Unix seconds, UTC)."""
    return {f.name: getattr(prov, f.name) for f in fields(prov)}


def provenance_from_dict(data: dict[str, Any] | None) -> Provenance | None:
    """Inverse of :func:`provenance_to_dict` (None stays None)."""
    if data is None:
        return None
    known = {f.name for f in fields(Provenance)}
    return Provenance(**{k: v for k, v in data.items() if k in known})


# ------------------------------------------------------------------------------ boxes, findings
def box_to_dict(box: Box) -> dict[str, Any]:
    """Return a box with its LPS mm corners, label, kind, note and provenance."""
    out = {f.name: getattr(box, f.name) for f in fields(box) if f.name != "provenance"}
    out["lps_min"], out["lps_max"] = _floats(box.lps_min), _floats(box.lps_max)
    out["provenance"] = provenance_to_dict(box.provenance)
    return out


def box_from_dict(data: dict[str, Any]) -> Box:
    """Inverse of :func:`box_to_dict`."""
    known = {f.name for f in fields(Box)} - {"provenance"}
    kwargs = {k: v for k, v in data.items() if k in known}
    kwargs["lps_min"], kwargs["lps_max"] = tuple(data["lps_min"]), tuple(data["lps_max"])
    prov = provenance_from_dict(data.get("provenance"))
    return Box(**kwargs, **({"provenance": prov} if prov is not None else {}))


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """Return a finding with its target, value and provenance."""
    out = {f.name: getattr(finding, f.name) for f in fields(finding) if f.name != "provenance"}
    out["provenance"] = provenance_to_dict(finding.provenance)
    return out


def finding_from_dict(data: dict[str, Any]) -> Finding:
    """Inverse of :func:`finding_to_dict`."""
    known = {f.name for f in fields(Finding)} - {"provenance"}
    prov = provenance_from_dict(data.get("provenance"))
    kwargs = {k: v for k, v in data.items() if k in known}
    return Finding(**kwargs, **({"provenance": prov} if prov is not None else {}))


# ------------------------------------------------------------------------------ label tables
def segment_to_dict(segment: Segment) -> dict[str, Any]:
    """Return one segment: the label-table JSON entry plus visibility, lock and provenance."""
    entry = label_table_to_dict(LabelTable([segment]))["labels"][0]
    entry["visible"], entry["locked"] = bool(segment.visible), bool(segment.locked)
    entry["provenance"] = None if segment.provenance is None else provenance_to_dict(segment.provenance)
    return entry


def segment_from_dict(entry: dict[str, Any]) -> Segment:
    """Inverse of :func:`segment_to_dict`."""
    (base,) = list(label_table_from_dict({"labels": [entry]}))
    return Segment(
        base.id, base.name, base.color_rgb, base.category, base.type,
        visible=bool(entry.get("visible", True)), locked=bool(entry.get("locked", False)),
        status=base.status, provenance=provenance_from_dict(entry.get("provenance")),
    )


def table_to_dict(table: LabelTable) -> dict[str, Any]:
    """Return a label table in the ``medws-label-table`` JSON form, extended per segment."""
    out = label_table_to_dict(LabelTable())
    out["labels"] = [segment_to_dict(s) for s in table]
    return out


def table_from_dict(data: dict[str, Any]) -> LabelTable:
    """Inverse of :func:`table_to_dict`."""
    return LabelTable([segment_from_dict(e) for e in data.get("labels", []) if int(e["id"]) != 0])


# ------------------------------------------------------------------------------ source images
_REF_KEYS = ("series_uid", "study_uid", "frame_of_reference_uid", "series_number", "description", "source_path",
             "format")


def image_ref(image: ImageVolume) -> dict[str, Any]:
    """Return a reference to a source image: UIDs, source path, name, modality and grid, no pixels.

    Only non-identifying metadata is kept (``ImageVolume.metadata`` never holds patient tags).
    """
    meta = image.metadata
    ref: dict[str, Any] = {k: meta[k] for k in _REF_KEYS if meta.get(k) not in (None, "")}
    ref.update(name=image.name, modality=image.modality, geometry=geometry_to_dict(image.geometry))
    return ref
