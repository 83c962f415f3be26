"""nnU-Net v2 raw dataset plus a MONAI-style datalist.

Layout (CONVENTIONS §4.7)::

    OUT/DatasetXXX_Name/dataset.json
    OUT/DatasetXXX_Name/datalist.json          # MONAI: {"training": [{"image", "label"}], ...}
    OUT/DatasetXXX_Name/imagesTr/<case>_0000.nii.gz
    OUT/DatasetXXX_Name/labelsTr/<case>.nii.gz

Labels are merged across cases *by name* and renumbered 1..N (background 0, contiguous), in order
of first appearance by label id; ``dataset.json`` maps name → value. Cases without a segmentation
that passes the filters are left out with a warning. Image and labels share the image's geometry.
"""

from __future__ import annotations

import json
import re

import numpy as np

from analysis._task import TaskContext
from app.io.export._common import ExportCase, ExportContext, ExportError
from app.io.volume_files import write_volume

FILE_ENDING = ".nii.gz"


def dataset_folder(ectx: ExportContext) -> str:
    """Return ``DatasetXXX_Name`` for the export's options."""
    name = re.sub(r"[^A-Za-z0-9]+", "", ectx.options.dataset_name) or "MedWS"
    if not 1 <= ectx.options.dataset_id <= 999:
        raise ValueError(f"nnU-Net dataset id must be 1..999, got {ectx.options.dataset_id}")
    return f"Dataset{ectx.options.dataset_id:03d}_{name}"


def _names(case: ExportCase, ectx: ExportContext) -> dict[int, str]:
    filtered = ectx.labels(case)
    if filtered is None:
        return {}
    array, table = filtered
    present = {int(v) for v in np.unique(array) if v}
    return {i: (table[i].name if i in table else f"label_{i}") for i in sorted(present | {s.id for s in table})}


def prepare(cases: list[ExportCase], ectx: ExportContext) -> None:
    """Merge label names of all cases into one contiguous name → value mapping."""
    mapping: dict[str, int] = {}
    for case in cases:
        try:
            names = _names(case, ectx)
        except ValueError as exc:
            raise ExportError(ectx.result.out, str(exc), case=ectx.case_name(case)) from exc
        for _, name in sorted(names.items()):
            if name == "background":
                raise ValueError("a label may not be called 'background' (nnU-Net reserves it for 0)")
            mapping.setdefault(name, len(mapping) + 1)
    ectx.state["nnunet"] = {"labels": mapping, "training": [], "names": set()}


def write_case(case: ExportCase, ectx: ExportContext, ctx: TaskContext) -> None:
    """Write one training case (image channel 0000 and its relabelled labelmap)."""
    state = ectx.state["nnunet"]
    filtered = ectx.labels(case)
    name = ectx.case_name(case)
    if filtered is None:
        ectx.result.warnings.append(f"{name}: no segmentation passes the filters; left out of the dataset")
        return
    if name in state["names"]:
        raise ValueError(f"duplicate case name {name!r}")
    state["names"].add(name)
    array, _ = filtered
    names = _names(case, ectx)
    lut = np.zeros(max(max(names, default=0), int(array.max(initial=0))) + 1, np.uint16)
    for label_id, label_name in names.items():
        lut[label_id] = state["labels"][label_name]
    relabelled = lut[array]
    dtype = np.uint8 if len(state["labels"]) <= 255 else np.uint16
    folder = dataset_folder(ectx)
    image_rel = f"imagesTr/{name}_0000{FILE_ENDING}"
    label_rel = f"labelsTr/{name}{FILE_ENDING}"
    ctx.step(0.1, "image")
    write_volume(case.image.array, case.image.geometry, ectx.file(f"{folder}/{image_rel}"))
    ctx.step(0.7, "labels")
    write_volume(relabelled.astype(dtype), case.image.geometry, ectx.file(f"{folder}/{label_rel}"))
    state["training"].append({"image": image_rel, "label": label_rel, "modality": case.image.modality})


def finish(cases: list[ExportCase], ectx: ExportContext, ctx: TaskContext) -> None:
    """Write ``dataset.json`` and ``datalist.json``."""
    state = ectx.state["nnunet"]
    if not state["training"]:
        raise ValueError("no case has a segmentation to train on")
    folder = dataset_folder(ectx)
    modalities = {t["modality"] for t in state["training"]}
    channel = ectx.options.channel_name or (modalities.pop() if len(modalities) == 1 else "image")
    labels = {"background": 0, **state["labels"]}
    dataset = {
        "channel_names": {"0": channel},
        "labels": labels,
        "numTraining": len(state["training"]),
        "file_ending": FILE_ENDING,
        "name": folder.split("_", 1)[1],
        "description": "Exported by MedWS",
        "overwrite_image_reader_writer": "SimpleITKIO",
    }
    ectx.file(f"{folder}/dataset.json").write_text(json.dumps(dataset, indent=2) + "\n", encoding="utf-8")
    datalist = {
        "labels": {str(v): k for k, v in labels.items()},
        "training": [{"image": t["image"], "label": t["label"]} for t in state["training"]],
        "validation": [],
    }
    ectx.file(f"{folder}/datalist.json").write_text(json.dumps(datalist, indent=2) + "\n", encoding="utf-8")
