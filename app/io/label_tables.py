"""Read and write label tables: MedWS JSON, Slicer colour tables (CSV and legacy text), ITK-SNAP.

A label table maps integer label ids (voxel values) to a :class:`~app.model.labels.Segment`: name,
colour (RGB 0-255) and optional DICOM terminology codes (category, type). Formats:

* **JSON** (``.json``): ``{"format": "medws-label-table", "version": 1, "labels": [...]}``; lossless.
* **Slicer CSV colour table** (``.csv``): ``LabelValue,Name,Color_R,Color_G,Color_B,Color_A`` plus
  ``Category_*`` and ``Type_*`` ``CodingScheme/CodeValue/CodeMeaning`` columns.
* **Slicer / FreeSurfer / FSL text table** (``.txt``, ``.ctbl``, ``.lut``): ``index name R G B A``.
* **ITK-SNAP label description file** (``.txt``/``.label``): ``IDX R G B A VIS MSH "LABEL"``.

Text tables are told apart by content (ITK-SNAP rows have a quoted label and 8 fields). Value 0 is
background and is never a segment. Any thread may call these functions.
"""

from __future__ import annotations

import colorsys
import csv
import io
import json
import os
import re
import shlex
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from app.io.errors import MedwsIOError
from app.model.labels import GENERIC_ANATOMY_COLORS, SEGMENT_STATUSES, Code, LabelTable, Segment

__all__ = [
    "LABEL_TABLE_FORMATS",
    "default_color",
    "default_label_table",
    "label_table_from_dict",
    "label_table_to_dict",
    "read_label_table",
    "write_label_table",
]

#: Formats :func:`write_label_table` knows, by name.
LABEL_TABLE_FORMATS = ("json", "slicer-csv", "slicer-txt", "itksnap")

_JSON_FORMAT = "medws-label-table"
_CODE_PARTS = ("CodingScheme", "CodeValue", "CodeMeaning")
_CSV_CODES = ("Category", "Type")


# ---------------------------------------------------------------------------------- defaults
def default_color(label_id: int) -> tuple[int, int, int]:
    """Return a GenericAnatomyColors-style colour for ``label_id`` (RGB 0-255).

    Ids 1-14 use the first entries of Slicer's GenericAnatomyColors table; higher ids walk the hue
    circle by the golden ratio so that neighbouring labels of a 100+ label atlas stay distinct.
    """
    if 1 <= label_id <= len(GENERIC_ANATOMY_COLORS):
        return GENERIC_ANATOMY_COLORS[label_id - 1][1]
    hue = (label_id * 0.618033988749895) % 1.0
    sat = 0.45 + 0.35 * ((label_id * 7) % 5) / 4
    val = 0.65 + 0.35 * ((label_id * 3) % 4) / 3
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def default_label_table(label_ids: Iterable[int], names: Mapping[int, str] | None = None) -> LabelTable:
    """Build a table with one segment per non-zero id, named ``label_<id>`` unless ``names`` has one."""
    names = names or {}
    ids = sorted({int(i) for i in label_ids if int(i) != 0})
    return LabelTable([Segment(i, names.get(i, f"label_{i}"), default_color(i)) for i in ids])


# ---------------------------------------------------------------------------------- JSON
def _code_to_dict(code: Code | None) -> dict[str, str] | None:
    if code is None:
        return None
    return {"scheme": code.scheme, "value": code.value, "meaning": code.meaning}


def _code_from_dict(data: Any) -> Code | None:
    if not data:
        return None
    return Code(str(data["scheme"]), str(data["value"]), str(data["meaning"]))


def label_table_to_dict(table: LabelTable) -> dict[str, Any]:
    """Return the JSON-ready form of ``table`` (lossless: codes and statuses included)."""
    labels = []
    for seg in table:
        entry: dict[str, Any] = {"id": seg.id, "name": seg.name, "color_rgb": list(seg.color_rgb)}
        if seg.category is not None:
            entry["category"] = _code_to_dict(seg.category)
        if seg.type is not None:
            entry["type"] = _code_to_dict(seg.type)
        entry["status"] = seg.status
        labels.append(entry)
    return {"format": _JSON_FORMAT, "version": 1, "background": 0, "labels": labels}


def label_table_from_dict(data: Mapping[str, Any]) -> LabelTable:
    """Inverse of :func:`label_table_to_dict`; also accepts ``{"1": "liver", ...}`` and nnU-Net's
    ``{"labels": {"background": 0, "liver": 1}}`` mappings."""
    labels = data.get("labels", data)
    table = LabelTable()
    if isinstance(labels, Mapping):  # name -> id (nnU-Net) or id -> name
        for key, value in labels.items():
            try:
                label_id, name = (int(value), str(key)) if isinstance(value, int) else (int(key), str(value))
            except (TypeError, ValueError):
                continue
            if label_id != 0:
                table.add(Segment(label_id, name, default_color(label_id)))
        return table
    for entry in labels:
        label_id = int(entry["id"])
        if label_id == 0:
            continue
        color = tuple(int(c) for c in entry.get("color_rgb", default_color(label_id)))[:3]
        status = entry.get("status", "in_progress")
        table.add(
            Segment(
                label_id,
                str(entry.get("name", f"label_{label_id}")),
                color,  # type: ignore[arg-type]
                category=_code_from_dict(entry.get("category")),
                type=_code_from_dict(entry.get("type")),
                status=status if status in SEGMENT_STATUSES else "in_progress",
            )
        )
    return table


# ---------------------------------------------------------------------------------- text formats
def _to_csv(table: LabelTable) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["LabelValue", "Name", "Color_R", "Color_G", "Color_B", "Color_A"]
    header += [f"{kind}_{part}" for kind in _CSV_CODES for part in _CODE_PARTS]
    writer.writerow(header)
    writer.writerow([0, "background", 0, 0, 0, 0] + [""] * 6)
    for seg in table:
        row: list[Any] = [seg.id, seg.name, *seg.color_rgb, 255]
        for code in (seg.category, seg.type):
            row += [code.scheme, code.value, code.meaning] if code else ["", "", ""]
        writer.writerow(row)
    return buf.getvalue()


def _from_csv(text: str, path: Path) -> LabelTable:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "LabelValue" not in rows[0]:
        raise MedwsIOError(path, "not a Slicer CSV colour table (no LabelValue column)")
    table = LabelTable()
    for row in rows:
        label_id = int(row["LabelValue"])
        if label_id == 0:
            continue
        color = tuple(int(float(row.get(f"Color_{c}") or 0)) for c in "RGB")
        codes = []
        for kind in _CSV_CODES:
            parts = [(row.get(f"{kind}_{p}") or "").strip() for p in _CODE_PARTS]
            codes.append(Code(*parts) if all(parts) else None)
        table.add(
            Segment(
                label_id,
                row.get("Name") or f"label_{label_id}",
                color,  # type: ignore[arg-type]
                category=codes[0],
                type=codes[1],
            )
        )
    return table


def _to_slicer_txt(table: LabelTable) -> str:
    lines = ["# Color table file written by MedWS", f"# {len(table) + 1} values", "0 background 0 0 0 0"]
    for seg in table:
        name = re.sub(r"\s+", "_", seg.name.strip()) or f"label_{seg.id}"
        lines.append(f"{seg.id} {name} {seg.color_rgb[0]} {seg.color_rgb[1]} {seg.color_rgb[2]} 255")
    return "\n".join(lines) + "\n"


_ITKSNAP_HEADER = """################################################
# ITK-SnAP Label Description File
# File format:
# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL
# Fields:
#    IDX:   Zero-based index
#    -R-:   Red color component (0..255)
#    -G-:   Green color component (0..255)
#    -B-:   Blue color component (0..255)
#    -A-:   Label transparency (0.00 .. 1.00)
#    VIS:   Label visibility (0 or 1)
#    MSH:   Label mesh visibility (0 or 1)
#  LABEL:   Label description
################################################
"""


def _to_itksnap(table: LabelTable) -> str:
    lines = [_ITKSNAP_HEADER.rstrip("\n"), '    0     0    0    0        0  0  0    "Clear Label"']
    for seg in table:
        name = seg.name.replace('"', "'")
        r, g, b = seg.color_rgb
        vis = 1 if seg.visible else 0
        lines.append(f'{seg.id:5d} {r:5d} {g:4d} {b:4d} {1.0:8g} {vis:2d} {vis:2d}    "{name}"')
    return "\n".join(lines) + "\n"


def _from_text(text: str, path: Path) -> LabelTable:
    """Parse ITK-SNAP rows (8 fields, quoted label) or ``index name R G B A`` rows."""
    table = LabelTable()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fields = shlex.split(line) if '"' in line else line.split()
            if '"' in line and len(fields) >= 8:  # ITK-SNAP
                label_id, color, name = int(fields[0]), tuple(int(float(v)) for v in fields[1:4]), fields[7]
                visible = fields[5] != "0"
            elif len(fields) >= 5:  # Slicer legacy / FreeSurfer LUT / FSL
                label_id, name = int(fields[0]), fields[1]
                color, visible = tuple(int(float(v)) for v in fields[2:5]), True
            else:
                raise ValueError("too few fields")
        except ValueError as exc:
            raise MedwsIOError(path, f"line {lineno}: not a label table row ({exc})") from None
        if label_id == 0:
            continue
        table.add(Segment(label_id, name, color, visible=visible))  # type: ignore[arg-type]
    if not len(table):
        raise MedwsIOError(path, "no labels found")
    return table


# ---------------------------------------------------------------------------------- public IO
def read_label_table(path: str | os.PathLike[str]) -> LabelTable:
    """Read a label table, choosing the parser from the suffix and the content.

    Raises
    ------
    MedwsIOError
        Missing file, unknown layout, duplicate ids or unparsable rows (one line naming the file).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MedwsIOError(path, f"cannot read label table ({exc.__class__.__name__})") from None
    try:
        if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
            try:
                return label_table_from_dict(json.loads(text))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise MedwsIOError(path, f"not a label table JSON ({exc})") from None
        if path.suffix.lower() == ".csv" or text.lstrip().startswith("LabelValue"):
            return _from_csv(text, path)
        return _from_text(text, path)
    except ValueError as exc:  # duplicate ids, bad numbers
        raise MedwsIOError(path, str(exc)) from None


def _format_for(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix == ".csv":
        return "slicer-csv"
    if suffix == ".label":
        return "itksnap"
    return "slicer-txt"


def render_label_table(table: LabelTable, fmt: str) -> str:
    """Return the text of ``table`` in format ``fmt`` (one of :data:`LABEL_TABLE_FORMATS`)."""
    if fmt == "json":
        return json.dumps(label_table_to_dict(table), indent=2) + "\n"
    if fmt == "slicer-csv":
        return _to_csv(table)
    if fmt == "slicer-txt":
        return _to_slicer_txt(table)
    if fmt == "itksnap":
        return _to_itksnap(table)
    raise ValueError(f"unknown label table format {fmt!r}; expected one of {LABEL_TABLE_FORMATS}")


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same folder + fsync + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise MedwsIOError(path, f"cannot write ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_label_table(table: LabelTable, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write ``table`` atomically; ``fmt`` defaults from the suffix (.json, .csv, .label, else text).

    ``fmt="itksnap"`` writes an ITK-SNAP label description file whatever the suffix.
    """
    path = Path(path)
    return atomic_write_text(path, render_label_table(table, fmt or _format_for(path)))
