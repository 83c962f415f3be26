"""Read and write 3D Slicer segmentation files (``.seg.nrrd``).

The file is a NRRD image plus ``Segmentation_*`` and ``Segment{N}_*`` header fields (see
CONVENTIONS §4.4). Segments that do not overlap share one 3-D labelmap; overlapping segments are
spread over *layers*, stored as a 4-D image whose first (fastest) axis is a ``list`` axis, like
Slicer writes it. The NRRD is written by hand (ITK cannot write a list axis or Slicer's ``:=``
fields in 4-D), gzip-encoded, little endian, in ``left-posterior-superior`` space.

Coordinates: ``space origin`` is the LPS centre of the first stored voxel, ``space directions`` the
LPS step per x/y/z index, both taken from :class:`~app.model.geometry.Geometry`. ``Extent``
fields and ``Segmentation_ReferenceImageExtentOffset`` are I J K (= x y z) indices of the
reference grid. Any thread may call these functions.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.io.errors import MedwsIOError
from app.model.geometry import Geometry
from app.model.labels import SEGMENT_STATUSES, Code, LabelTable, LabelVolume, Segment

__all__ = [
    "SegNrrd",
    "SegNrrdSegment",
    "read_seg_nrrd",
    "write_seg_nrrd",
    "write_seg_nrrd_masks",
    "terminology_entry",
    "parse_terminology_entry",
]

log = logging.getLogger(__name__)

_TERMINOLOGY_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
_ANATOMY_CONTEXT = "Anatomic codes - DICOM master list"
_STATUS_TO_SLICER = {
    "not_started": "notstarted",
    "in_progress": "inprogress",
    "completed": "completed",
    "flagged": "flagged",
}
_STATUS_FROM_SLICER = {v: k for k, v in _STATUS_TO_SLICER.items()}
_NRRD_TYPES = {np.dtype(np.uint8): "unsigned char", np.dtype(np.uint16): "unsigned short"}
_NRRD_DTYPES = {
    "uchar": np.uint8,
    "unsigned char": np.uint8,
    "uint8": np.uint8,
    "uint8_t": np.uint8,
    "ushort": np.uint16,
    "unsigned short": np.uint16,
    "uint16": np.uint16,
    "uint16_t": np.uint16,
    "unsigned short int": np.uint16,
    "short": np.int16,
    "signed short": np.int16,
    "int16": np.int16,
    "int": np.int32,
    "int32": np.int32,
    "signed char": np.int8,
    "int8": np.int8,
    "uint": np.uint32,
    "unsigned int": np.uint32,
}


# ----------------------------------------------------------------------------- terminology
def terminology_entry(category: Code, type_: Code) -> str:
    """Return Slicer's 7-part ``TerminologyEntry`` tag value for a category/type pair."""
    return "~".join(
        [_TERMINOLOGY_CONTEXT, category.to_triplet(), type_.to_triplet(), "^^", _ANATOMY_CONTEXT, "^^", "^^"]
    )


def _code(triplet: str) -> Code | None:
    parts = triplet.split("^")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        return None
    return Code(*(p.strip() for p in parts))


def parse_terminology_entry(value: str) -> tuple[Code | None, Code | None]:
    """Return (category, type) from a ``TerminologyEntry`` tag value (None where empty)."""
    parts = value.split("~")
    if len(parts) < 3:
        return None, None
    return _code(parts[1]), _code(parts[2])


# ----------------------------------------------------------------------------- records
@dataclass
class SegNrrdSegment:
    """One ``Segment{N}_*`` block of a ``.seg.nrrd``.

    ``extent_ijk`` is ``(minI, maxI, minJ, maxJ, minK, maxK)`` in reference-grid indices, or None
    for an empty segment. ``label_id`` is the MedWS label id (the label value when the file has one
    layer).
    """

    segment_id: str
    name: str
    color_rgb: tuple[int, int, int]
    layer: int
    label_value: int
    extent_ijk: tuple[int, int, int, int, int, int] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    category: Code | None = None
    type: Code | None = None
    status: str = "in_progress"

    def to_segment(self, label_id: int) -> Segment:
        """Return the :class:`Segment` of this block with id ``label_id``."""
        return Segment(label_id, self.name, self.color_rgb, self.category, self.type, status=self.status)


@dataclass
class SegNrrd:
    """The content of a ``.seg.nrrd``.

    ``layers`` is ``(n_layers, z, y, x)`` on ``geometry`` (the stored, possibly cropped grid);
    ``extent_offset_ijk`` is where that grid starts in the reference image.
    """

    layers: np.ndarray
    geometry: Geometry
    segments: list[SegNrrdSegment]
    extent_offset_ijk: tuple[int, int, int] = (0, 0, 0)
    header: dict[str, str] = field(default_factory=dict)

    def mask(self, segment: SegNrrdSegment) -> np.ndarray:
        """Return the boolean ``(z, y, x)`` mask of one segment on the stored grid."""
        return self.layers[segment.layer] == segment.label_value

    def label_table(self) -> LabelTable:
        """Return a :class:`LabelTable`: label ids are the label values (single layer) or 1..N."""
        single = self.layers.shape[0] == 1
        return LabelTable([s.to_segment(s.label_value if single else n + 1) for n, s in enumerate(self.segments)])

    def to_label_volume(self, reference: Geometry | None = None, name: str = "Segmentation") -> LabelVolume:
        """Return one labelmap; with ``reference`` the cropped grid is padded back into it.

        Overlapping layers are flattened, later segments winning (a warning is logged).
        """
        table = self.label_table()
        ids = [s.id for s in table]
        if self.layers.shape[0] == 1:
            flat = self.layers[0]
        else:
            log.warning("seg.nrrd has %d layers (overlapping segments); flattening", self.layers.shape[0])
            flat = np.zeros(self.layers.shape[1:], np.uint16 if len(ids) > 255 else np.uint8)
            for label_id, seg in zip(ids, self.segments, strict=True):
                flat[self.mask(seg)] = label_id
        dtype = np.uint16 if max(ids, default=0) > 255 or flat.dtype == np.uint16 else np.uint8
        flat = flat.astype(dtype)
        if reference is None or reference.same_grid(self.geometry):
            return LabelVolume(self.geometry, table, name=name, array=flat.copy())
        start_zyx = tuple(int(v) for v in self.extent_offset_ijk[::-1])
        if not reference.cropped(start_zyx, self.geometry.shape_zyx).same_grid(self.geometry):
            raise ValueError("seg.nrrd grid does not lie on the reference grid")
        full = np.zeros(reference.shape_zyx, dtype)
        region = tuple(slice(s, s + n) for s, n in zip(start_zyx, self.geometry.shape_zyx, strict=True))
        full[region] = flat
        return LabelVolume(reference, table, name=name, array=full)


# ----------------------------------------------------------------------------- writing
def _bbox_zyx(mask: np.ndarray) -> tuple[slice, ...] | None:
    if not mask.any():
        return None
    out = []
    for axis in range(mask.ndim):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        out.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(out)


def _fmt(value: float) -> str:
    return repr(float(value)) if value != 0 else "0"


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def _header_lines(layers: np.ndarray, geometry: Geometry) -> list[str]:
    m = geometry.index_xyz_to_lps_matrix
    dirs = " ".join("(" + ",".join(_fmt(v) for v in m[:3, axis]) + ")" for axis in range(3))
    z, y, x = geometry.shape_zyx
    lines = [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        f"type: {_NRRD_TYPES[layers.dtype]}",
    ]
    if layers.shape[0] == 1:
        lines += [
            "dimension: 3",
            "space: left-posterior-superior",
            f"sizes: {x} {y} {z}",
            f"space directions: {dirs}",
            "kinds: domain domain domain",
        ]
    else:
        lines += [
            "dimension: 4",
            "space: left-posterior-superior",
            f"sizes: {layers.shape[0]} {x} {y} {z}",
            f"space directions: none {dirs}",
            "kinds: list domain domain domain",
        ]
    lines += ["endian: little", "encoding: gzip", "space origin: (" + ",".join(_fmt(v) for v in m[:3, 3]) + ")"]
    return lines


def _pack_layers(masks: Mapping[int, np.ndarray]) -> tuple[list[np.ndarray], dict[int, int]]:
    """Put each segment's mask into the first layer where it overlaps nothing; label value = id."""
    layers: list[np.ndarray] = []
    where: dict[int, int] = {}
    dtype = np.uint16 if max(masks, default=0) > 255 else np.uint8
    for label_id, mask in masks.items():
        for n, layer in enumerate(layers):
            if not np.any(layer[mask]):
                layer[mask] = label_id
                where[label_id] = n
                break
        else:
            layer = np.zeros(mask.shape, dtype)
            layer[mask] = label_id
            layers.append(layer)
            where[label_id] = len(layers) - 1
    return layers, where


def write_seg_nrrd(
    path: str | os.PathLike[str],
    labels_zyx: np.ndarray,
    geometry: Geometry,
    table: LabelTable,
    *,
    crop_to_extent: bool = False,
) -> Path:
    """Write a labelmap (one integer per voxel) as a single-layer ``.seg.nrrd``.

    Parameters
    ----------
    path
        Target file (written atomically).
    labels_zyx
        ``(z, y, x)`` uint8/uint16 label ids on ``geometry``; values missing from ``table`` get a
        default segment so no voxel is lost.
    geometry
        The reference grid in LPS mm.
    table
        Names, colours, terminology and statuses of the labels.
    crop_to_extent
        Store only the bounding box of the non-zero voxels (Slicer's ReferenceImageExtentOffset).
    """
    labels_zyx = np.asarray(labels_zyx)
    present = [int(v) for v in np.unique(labels_zyx) if v]
    segments = [
        table[i] if i in table else Segment(i, f"label_{i}", _fallback_color(i))
        for i in sorted({*present, *(s.id for s in table)})
    ]
    dtype = np.uint16 if max((s.id for s in segments), default=0) > 255 else np.uint8
    layer = labels_zyx.astype(dtype, copy=False)
    return _write(Path(path), [layer], {s.id: 0 for s in segments}, segments, geometry, crop_to_extent)


def write_seg_nrrd_masks(
    path: str | os.PathLike[str],
    masks: Mapping[int, np.ndarray],
    geometry: Geometry,
    table: LabelTable,
    *,
    crop_to_extent: bool = False,
) -> Path:
    """Write possibly overlapping boolean ``(z, y, x)`` masks keyed by label id (layers as needed)."""
    masks = {int(k): np.asarray(v, bool) for k, v in masks.items()}
    layers, where = _pack_layers(masks)
    if not layers:
        layers = [np.zeros(geometry.shape_zyx, np.uint8)]
    segments = [table[i] if i in table else Segment(i, f"label_{i}", _fallback_color(i)) for i in masks]
    return _write(Path(path), layers, where, segments, geometry, crop_to_extent)


def _fallback_color(label_id: int) -> tuple[int, int, int]:
    from app.io.label_tables import default_color

    return default_color(label_id)


def _write(
    path: Path, layers: list[np.ndarray], where: dict[int, int], segments: list[Segment], geometry: Geometry, crop: bool
) -> Path:
    stack = np.stack(layers)
    if stack.shape[1:] != geometry.shape_zyx:
        raise MedwsIOError(path, f"labels {stack.shape[1:]} do not match geometry {geometry.shape_zyx}")
    start_zyx = (0, 0, 0)
    stored_geometry = geometry
    if crop:
        box = _bbox_zyx(stack.any(axis=0))
        if box is None:  # Slicer's "no data" template: a single voxel
            box = (slice(0, 1),) * 3
        start_zyx = tuple(b.start for b in box)
        stack = stack[(slice(None), *box)]
        stored_geometry = geometry.cropped(start_zyx, stack.shape[1:])
    offset_ijk = start_zyx[::-1]
    lines = _header_lines(stack, stored_geometry)
    fields = {
        "Segmentation_ContainedRepresentationNames": "Binary labelmap|",
        "Segmentation_ConversionParameters": "",
        "Segmentation_MasterRepresentation": "Binary labelmap",
        "Segmentation_SourceRepresentation": "Binary labelmap",
        "Segmentation_ReferenceImageExtentOffset": " ".join(str(v) for v in offset_ijk),
    }
    for n, seg in enumerate(segments):
        layer = where.get(seg.id, 0)
        box = _bbox_zyx(stack[layer] == seg.id)
        if box is None:
            extent = "0 -1 0 -1 0 -1"
        else:
            (z0, z1), (y0, y1), (x0, x1) = ((b.start + o, b.stop - 1 + o) for b, o in zip(box, start_zyx, strict=True))
            extent = f"{x0} {x1} {y0} {y1} {z0} {z1}"
        tags = [f"Segmentation.Status:{_STATUS_TO_SLICER.get(seg.status, 'inprogress')}"]
        if seg.category is not None and seg.type is not None:
            tags.append(f"TerminologyEntry:{terminology_entry(seg.category, seg.type)}")
        fields.update(
            {
                f"Segment{n}_Color": " ".join(f"{c / 255:.6g}" for c in seg.color_rgb),
                f"Segment{n}_ColorAutoGenerated": "0",
                f"Segment{n}_Extent": extent,
                f"Segment{n}_ID": f"Segment_{seg.id}",
                f"Segment{n}_LabelValue": str(seg.id),
                f"Segment{n}_Layer": str(layer),
                f"Segment{n}_Name": _clean(seg.name) or f"label_{seg.id}",
                f"Segment{n}_NameAutoGenerated": "0",
                f"Segment{n}_Tags": "|".join(_clean(t).replace("|", "/") for t in tags) + "|",
            }
        )
    lines += [f"{key}:={value}" for key, value in fields.items()]
    # list axis fastest: (L, z, y, x) -> (z, y, x, L) in C order
    data = np.ascontiguousarray(np.moveaxis(stack, 0, -1) if stack.shape[0] > 1 else stack[0])
    payload = gzip.compress(data.astype(data.dtype.newbyteorder("<"), copy=False).tobytes(), compresslevel=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(("\n".join(lines) + "\n\n").encode("latin-1", errors="replace"))
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise MedwsIOError(path, f"cannot write seg.nrrd ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


# ----------------------------------------------------------------------------- reading
def _vector(text: str) -> np.ndarray | None:
    text = text.strip()
    if text == "none":
        return None
    return np.array([float(v) for v in text.strip("()").split(",")])


def _parse_header(raw: bytes, path: Path) -> tuple[dict[str, str], dict[str, str], int]:
    end = raw.find(b"\n\n")
    if not raw.startswith(b"NRRD") or end < 0:
        raise MedwsIOError(path, "not a NRRD file")
    fields: dict[str, str] = {}
    keyvalues: dict[str, str] = {}
    for line in raw[:end].decode("latin-1").splitlines()[1:]:
        if not line or line.startswith("#"):
            continue
        if ":=" in line:
            key, _, value = line.partition(":=")
            keyvalues[key] = value
        else:
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
    return fields, keyvalues, end + 2


def _geometry(fields: dict[str, str], sizes_xyz: list[int], path: Path) -> Geometry:
    space = fields.get("space", "left-posterior-superior").lower()
    flip = {
        "left-posterior-superior": np.array([1, 1, 1.0]),
        "lps": np.array([1, 1, 1.0]),
        "right-anterior-superior": np.array([-1, -1, 1.0]),
        "ras": np.array([-1, -1, 1.0]),
    }.get(space)
    if flip is None:
        raise MedwsIOError(path, f"unsupported NRRD space {space!r}")
    dirs = [d for d in (_vector(t) for t in re.findall(r"\([^)]*\)|none", fields["space directions"])) if d is not None]
    origin = _vector(fields.get("space origin", "(0,0,0)"))
    if len(dirs) != 3 or origin is None:
        raise MedwsIOError(path, "expected 3 spatial axes")
    columns = np.array(dirs).T * flip[:, None]  # columns: LPS step per x, y, z index
    spacing_xyz = np.linalg.norm(columns, axis=0)
    direction = columns / spacing_xyz
    return Geometry(tuple(sizes_xyz[::-1]), tuple(spacing_xyz[::-1]), tuple(origin * flip), tuple(direction.ravel()))


def _ints(text: str | None, n: int) -> tuple[int, ...] | None:
    try:
        values = tuple(int(v) for v in (text or "").split())
    except ValueError:
        return None
    return values if len(values) == n else None


def read_seg_nrrd(path: str | os.PathLike[str]) -> SegNrrd:
    """Read a ``.seg.nrrd`` (3-D labelmap or 4-D layers, gzip or raw); geometry comes back in LPS.

    Raises
    ------
    MedwsIOError
        Missing/unreadable file, detached data, unsupported type or a header that does not parse.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MedwsIOError(path, f"cannot read ({exc.strerror or exc})") from None
    fields, kv, start = _parse_header(raw, path)
    try:
        if "data file" in fields or "datafile" in fields:
            raise MedwsIOError(path, "detached NRRD data files are not supported")
        dtype = np.dtype(_NRRD_DTYPES[fields["type"].lower()])
        if fields.get("endian", "little") == "big":
            dtype = dtype.newbyteorder(">")
        sizes = [int(v) for v in fields["sizes"].split()]
        kinds = fields.get("kinds", "").split()
        body = raw[start:]
        encoding = fields.get("encoding", "raw").lower()
        if encoding in ("gzip", "gz"):
            body = gzip.decompress(body)
        elif encoding != "raw":
            raise MedwsIOError(path, f"unsupported NRRD encoding {encoding!r}")
        data = np.frombuffer(body, dtype=dtype, count=int(np.prod(sizes))).reshape(sizes[::-1])
    except (KeyError, ValueError, OSError, EOFError) as exc:
        raise MedwsIOError(path, f"cannot parse NRRD ({exc.__class__.__name__}: {exc})") from None
    if len(sizes) == 3:
        layers = data[None]
        spatial = sizes
    elif len(sizes) == 4:
        list_axis = kinds.index("list") if "list" in kinds else 0
        spatial = [s for i, s in enumerate(sizes) if i != list_axis]
        layers = np.moveaxis(data, 3 - list_axis, 0)
    else:
        raise MedwsIOError(path, f"expected a 3-D or 4-D NRRD, got {len(sizes)}-D")
    geometry = _geometry(fields, spatial, path)
    layers = np.ascontiguousarray(layers).astype(dtype.newbyteorder("="), copy=False)
    if layers.dtype.kind != "u":
        layers = layers.astype(np.uint16)
    segments = []
    multi = layers.shape[0] > 1
    n = 0
    while f"Segment{n}_ID" in kv:
        get = kv.get
        tags = {}
        for item in get(f"Segment{n}_Tags", "").split("|"):
            if ":" in item:
                key, _, value = item.partition(":")
                tags[key] = value
        category, type_ = parse_terminology_entry(tags.get("TerminologyEntry", ""))
        color = [float(v) for v in get(f"Segment{n}_Color", "0.5 0.5 0.5").split()][:3]
        extent = _ints(get(f"Segment{n}_Extent"), 6)
        status = _STATUS_FROM_SLICER.get(tags.get("Segmentation.Status", ""), "in_progress")
        segments.append(
            SegNrrdSegment(
                segment_id=get(f"Segment{n}_ID", ""),
                name=get(f"Segment{n}_Name", f"Segment_{n + 1}"),
                color_rgb=tuple(int(round(c * 255)) for c in color),  # type: ignore[arg-type]
                # Slicer < 4.11 wrote one 0/1 layer per segment and neither field
                layer=int(get(f"Segment{n}_Layer") or (n if multi else 0)),
                label_value=int(get(f"Segment{n}_LabelValue") or (1 if multi else n + 1)),
                extent_ijk=extent if extent and extent[1] >= extent[0] else None,  # type: ignore[arg-type]
                tags=tags,
                category=category,
                type=type_,
                status=status if status in SEGMENT_STATUSES else "in_progress",
            )
        )
        n += 1
    offset = _ints(kv.get("Segmentation_ReferenceImageExtentOffset"), 3) or (0, 0, 0)
    return SegNrrd(layers, geometry, segments, offset, {**fields, **kv})  # type: ignore[arg-type]
