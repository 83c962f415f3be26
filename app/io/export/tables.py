"""Tables: 3-D boxes (CSV + JSON, LPS mm and voxel indices) and findings (CSV).

``boxes.csv`` / ``boxes.json`` hold one row per box: LPS corners in mm and the range of voxel
indices ``(z, y, x)`` whose centres lie inside the box (computed through :class:`Geometry`; empty
when none does), label, kind, confidence and provenance. ``findings.csv`` holds one row per
finding. With anonymization, case and reader names are pseudonyms and free-text notes are left
out (they may name the patient).
"""

from __future__ import annotations

import csv
import io
import json
from itertools import product

import numpy as np

from analysis._task import TaskContext
from app.io.export._common import ExportCase, ExportContext
from app.model.annotations import Box
from app.model.geometry import Geometry

BOX_COLUMNS = (
    "case",
    "box_id",
    "label_id",
    "label_name",
    "kind",
    "orientation",
    "lps_min_x_mm",
    "lps_min_y_mm",
    "lps_min_z_mm",
    "lps_max_x_mm",
    "lps_max_y_mm",
    "lps_max_z_mm",
    "index_min_z",
    "index_min_y",
    "index_min_x",
    "index_max_z",
    "index_max_y",
    "index_max_x",
    "confidence",
    "status",
    "source",
    "created_by",
    "edited_by",
    "note",
)
FINDING_COLUMNS = (
    "case",
    "finding_id",
    "label",
    "level",
    "target",
    "value",
    "confidence",
    "status",
    "source",
    "created_by",
    "edited_by",
    "note",
)


def voxel_range_zyx(box: Box, geometry: Geometry) -> tuple[list[int], list[int]] | None:
    """Return ``(min_zyx, max_zyx)`` inclusive voxel indices whose centres lie in the box, or None."""
    corners = np.array(list(product(*zip(box.lps_min, box.lps_max, strict=True))), dtype=float)
    zyx = geometry.lps_to_index_zyx(corners)
    lo = np.maximum(np.ceil(zyx.min(axis=0) - 1e-6), 0).astype(int)
    hi = np.minimum(np.floor(zyx.max(axis=0) + 1e-6), np.array(geometry.shape_zyx) - 1).astype(int)
    if np.any(hi < lo):
        return None
    return lo.tolist(), hi.tolist()


def _state(ectx: ExportContext) -> dict:
    return ectx.state.setdefault("tables", {"boxes": [], "findings": []})


def write_case(case: ExportCase, ectx: ExportContext, ctx: TaskContext) -> None:
    """Collect the filtered boxes and findings of one case."""
    state = _state(ectx)
    name = ectx.case_name(case)
    anonymize = ectx.deid is not None
    who = ectx.deid.reader if ectx.deid is not None else (lambda user: user or "")
    table = case.labels.table if case.labels is not None else None
    for box in ectx.boxes(case):
        rng = voxel_range_zyx(box, case.image.geometry)
        lo, hi = rng if rng else ([None] * 3, [None] * 3)
        prov = box.provenance
        state["boxes"].append(
            {
                "case": name,
                "box_id": box.id,
                "label_id": box.label_id,
                "label_name": box.label or (table[box.label_id].name if table is not None and box.label_id in table
                                            else ""),
                "kind": box.kind,
                "orientation": box.orientation or "",
                **{f"lps_min_{a}_mm": round(v, 4) for a, v in zip("xyz", box.lps_min, strict=True)},
                **{f"lps_max_{a}_mm": round(v, 4) for a, v in zip("xyz", box.lps_max, strict=True)},
                **{f"index_min_{a}": v for a, v in zip("zyx", lo, strict=True)},
                **{f"index_max_{a}": v for a, v in zip("zyx", hi, strict=True)},
                "confidence": box.confidence,
                "status": prov.status,
                "source": prov.source,
                "created_by": who(prov.created_by),
                "edited_by": who(prov.edited_by),
                "note": "" if anonymize else box.note,
            }
        )
    for finding in ectx.findings(case):
        prov = finding.provenance
        state["findings"].append(
            {
                "case": name,
                "finding_id": finding.id,
                "label": finding.label,
                "level": finding.level,
                "target": finding.target or "",
                "value": finding.value,
                "confidence": finding.confidence,
                "status": prov.status,
                "source": prov.source,
                "created_by": who(prov.created_by),
                "edited_by": who(prov.edited_by),
                "note": "" if anonymize else finding.note,
            }
        )
    ctx.step(1.0, "tables")


def _csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return buf.getvalue()


def finish(cases: list[ExportCase], ectx: ExportContext, ctx: TaskContext) -> None:
    """Write ``boxes.csv``, ``boxes.json`` and ``findings.csv``."""
    state = _state(ectx)
    ectx.file("boxes.csv").write_text(_csv(state["boxes"], BOX_COLUMNS), encoding="utf-8")
    doc = {
        "format": "medws-boxes",
        "version": 1,
        "space": "LPS",
        "units": "mm",
        "index_order": "zyx",
        "boxes": state["boxes"],
    }
    ectx.file("boxes.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    ectx.file("findings.csv").write_text(_csv(state["findings"], FINDING_COLUMNS), encoding="utf-8")
