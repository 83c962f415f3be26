"""Plain labelmaps: ``<case>/image`` + ``<case>/labels`` (NIfTI or NRRD) + ``labels.json`` table.

The labelmap has the image's grid (LPS geometry written by ITK; NIfTI stores it as RAS). The JSON
label table (:func:`app.io.label_tables.label_table_to_dict`) is lossless: names, colours, codes.
"""

from __future__ import annotations

import json

import numpy as np

from analysis._task import TaskContext
from app.io.export._common import ExportCase, ExportContext
from app.io.label_tables import label_table_to_dict
from app.io.volume_files import write_volume


def write_case(case: ExportCase, ectx: ExportContext, ctx: TaskContext) -> None:
    """Write the image, the filtered labelmap and its label table of one case."""
    name = ectx.case_name(case)
    suffix = ectx.options.label_suffix
    ctx.step(0.0, "image")
    write_volume(case.image.array, case.image.geometry, ectx.file(f"{name}/image{suffix}"))
    labels = ectx.labels(case)
    if labels is None:
        return
    array, table = labels
    ctx.step(0.5, "labels")
    dtype = np.uint16 if max(table.max_id(), int(array.max(initial=0))) > 255 else np.uint8
    write_volume(array.astype(dtype, copy=False), case.image.geometry, ectx.file(f"{name}/labels{suffix}"))
    doc = label_table_to_dict(table)
    doc["geometry"] = case.image.geometry.to_dict()
    ectx.file(f"{name}/labels.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
