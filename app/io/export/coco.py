"""COCO JSON for 2-D slice datasets: axial PNG slices, per-label masks as RLE, boxes per slice.

Layout: ``images/<case>_z0003.png`` (8-bit, windowed with ``options.window`` or the image's default
window) and ``annotations.json``. Only slices with an annotation are written. Pixel coordinates
follow COCO: pixel (row r, column c) covers ``[c, c+1) × [r, r+1)``, so a voxel centre at continuous
index ``x`` lies at COCO ``x + 0.5``. A 3-D :class:`Box` (LPS mm) is projected onto every axial slice
whose centre lies inside it, through :class:`Geometry`; 2-D boxes project onto their own slice.
Masks are COCO RLE (column-major run lengths starting with background), written as the compressed
string form that ``pycocotools.mask.decode`` reads.
"""

from __future__ import annotations

import io
import json
from itertools import product

import numpy as np

from analysis._task import TaskContext
from app.io.export._common import ExportCase, ExportContext
from app.model.annotations import Box
from app.model.geometry import Geometry

__all__ = ["rle_encode", "rle_decode", "rle_to_string", "rle_from_string", "box_on_slices", "write_case"]


# ------------------------------------------------------------------------------------- RLE
def rle_encode(mask_yx: np.ndarray) -> dict:
    """Return COCO uncompressed RLE ``{"size": [h, w], "counts": [...]}`` of a 2-D boolean mask.

    Runs are counted in column-major (Fortran) order and alternate background/foreground,
    starting with background (a leading 0 when the first pixel is foreground).
    """
    mask_yx = np.asarray(mask_yx, bool)
    flat = mask_yx.ravel(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [int(mask_yx.shape[0]), int(mask_yx.shape[1])], "counts": [int(c) for c in counts]}


def rle_decode(rle: dict) -> np.ndarray:
    """Inverse of :func:`rle_encode` (accepts the compressed string form too)."""
    h, w = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        counts = rle_from_string(counts)
    values = np.zeros(len(counts), bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    return flat.reshape((w, h)).T.copy() if flat.size else np.zeros((h, w), bool)


def rle_to_string(counts: list[int]) -> str:
    """Compress RLE counts to COCO's string form (pycocotools ``rleToString``).

    Each count from the third on is stored as the difference to the count two before; values are
    written 5 bits at a time, least significant first, with 0x20 as "more" flag, offset by 48.
    """
    out = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if c & 0x10 else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_from_string(text: str | bytes) -> list[int]:
    """Inverse of :func:`rle_to_string`."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


# ------------------------------------------------------------------------------------- boxes
def box_on_slices(box: Box, geometry: Geometry) -> tuple[int, int, list[float]] | None:
    """Project a box onto axial slices: ``(z_first, z_last, [x, y, w, h])`` in COCO pixels.

    The box's 8 LPS corners go through :meth:`Geometry.lps_to_index_zyx`; the result is their
    bounding rectangle, clipped to the image. None when no slice centre lies inside the box.
    """
    corners_lps = np.array(list(product(*zip(box.lps_min, box.lps_max, strict=True))), dtype=float)
    zyx = geometry.lps_to_index_zyx(corners_lps)
    lo, hi = zyx.min(axis=0), zyx.max(axis=0)
    z_first, z_last = int(np.ceil(lo[0] - 1e-6)), int(np.floor(hi[0] + 1e-6))
    z_first, z_last = max(z_first, 0), min(z_last, geometry.shape_zyx[0] - 1)
    if z_first > z_last:
        return None
    _, rows, cols = geometry.shape_zyx
    x0, x1 = np.clip([lo[2] + 0.5, hi[2] + 0.5], 0, cols)
    y0, y1 = np.clip([lo[1] + 0.5, hi[1] + 0.5], 0, rows)
    if x1 <= x0 and y1 <= y0:
        return None
    return z_first, z_last, [round(float(v), 3) for v in (x0, y0, x1 - x0, y1 - y0)]


# ------------------------------------------------------------------------------------- export
def _png(slice_yx: np.ndarray, window: tuple[float, float]) -> bytes:
    from PIL import Image

    width, level = window
    lo = level - width / 2
    scaled = np.clip((slice_yx.astype(np.float32) - lo) / max(width, 1e-6) * 255.0, 0, 255)
    buf = io.BytesIO()
    Image.fromarray(np.rint(scaled).astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _state(ectx: ExportContext) -> dict:
    return ectx.state.setdefault("coco", {"images": [], "annotations": [], "categories": {}})


def _category(state: dict, label_id: int, name: str, supercategory: str) -> int:
    cats = state["categories"]
    if label_id not in cats:
        cats[label_id] = {"id": int(label_id), "name": name, "supercategory": supercategory}
    return int(label_id)


def write_case(case: ExportCase, ectx: ExportContext, ctx: TaskContext) -> None:
    """Add one case's annotated axial slices, masks and boxes to the dataset."""
    state = _state(ectx)
    name = ectx.case_name(case)
    geometry = case.image.geometry
    window = ectx.options.window or case.image.default_window()
    labels = ectx.labels(case)
    table = labels[1] if labels else None
    per_slice: dict[int, list[dict]] = {}
    if labels is not None:
        array = labels[0]
        for label_id in (int(v) for v in np.unique(array) if v):
            seg = table[label_id] if label_id in table else None
            cat = _category(
                state,
                label_id,
                seg.name if seg else f"label_{label_id}",
                seg.category.meaning if seg and seg.category else "label",
            )
            for z in np.flatnonzero((array == label_id).any(axis=(1, 2))):
                mask = array[z] == label_id
                ys, xs = np.nonzero(mask)
                rle = rle_encode(mask)
                per_slice.setdefault(int(z), []).append(
                    {
                        "category_id": cat,
                        "segmentation": {"size": rle["size"], "counts": rle_to_string(rle["counts"])},
                        "area": int(mask.sum()),
                        "iscrowd": 0,
                        "source": "mask",
                        "bbox": [
                            int(xs.min()),
                            int(ys.min()),
                            int(xs.max() - xs.min() + 1),
                            int(ys.max() - ys.min() + 1),
                        ],
                    }
                )
    for box in ectx.boxes(case):
        if box.kind == "2d" and box.orientation not in (None, "axial"):
            ectx.result.warnings.append(f"{name}: {box.orientation} 2-D box {box.id} is not on an axial slice")
            continue
        projected = box_on_slices(box, geometry)
        if projected is None:
            continue
        z0, z1, (x, y, w, h) = projected
        seg = table[box.label_id] if table is not None and box.label_id in table else None
        cat = _category(state, box.label_id, box.label or (seg.name if seg else f"label_{box.label_id}"), "label")
        for z in range(z0, z1 + 1):
            ann = {
                "category_id": cat,
                "bbox": [x, y, w, h],
                "area": round(w * h, 3),
                "iscrowd": 0,
                "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                "source": "box",
                "box_id": box.id,
                "status": box.provenance.status,
            }
            if box.confidence is not None:
                ann["score"] = float(box.confidence)
            per_slice.setdefault(z, []).append(ann)
    for n, z in enumerate(sorted(per_slice)):
        ctx.step(n / max(1, len(per_slice)), f"slice {z}")
        image_id = len(state["images"]) + 1
        file_name = f"images/{name}_z{z:04d}.png"
        ectx.file(file_name).write_bytes(_png(case.image.array[z], window))
        state["images"].append(
            {
                "id": image_id,
                "file_name": file_name,
                "height": geometry.shape_zyx[1],
                "width": geometry.shape_zyx[2],
                "case": name,
                "slice_index_z": z,
                "slice_origin_lps_mm": [round(float(v), 4) for v in geometry.index_zyx_to_lps((z, 0, 0))],
                "window": [float(window[0]), float(window[1])],
            }
        )
        for ann in per_slice[z]:
            state["annotations"].append({"id": len(state["annotations"]) + 1, "image_id": image_id, **ann})


def finish(cases: list[ExportCase], ectx: ExportContext, ctx: TaskContext) -> None:
    """Write ``annotations.json``."""
    state = _state(ectx)
    doc = {
        "info": {"description": "MedWS slice dataset", "version": "1.0", "contributor": "MedWS"},
        "licenses": [],
        "images": state["images"],
        "annotations": state["annotations"],
        "categories": [state["categories"][k] for k in sorted(state["categories"])],
    }
    ectx.file("annotations.json").write_text(json.dumps(doc) + "\n", encoding="utf-8")
