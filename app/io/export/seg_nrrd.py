"""3D Slicer segmentations: ``<case>/image.nrrd`` + ``<case>/segmentation.seg.nrrd``.

The ``.seg.nrrd`` holds names, colours, terminology and statuses (see :mod:`app.io.seg_nrrd`);
opening both files in Slicer shows the segmentation on its image.
"""

from __future__ import annotations

from analysis._task import TaskContext
from app.io.export._common import ExportCase, ExportContext
from app.io.seg_nrrd import write_seg_nrrd
from app.io.volume_files import write_volume


def write_case(case: ExportCase, ectx: ExportContext, ctx: TaskContext) -> None:
    """Write the image and the filtered segmentation of one case."""
    name = ectx.case_name(case)
    ctx.step(0.0, "image")
    write_volume(case.image.array, case.image.geometry, ectx.file(f"{name}/image.nrrd"))
    labels = ectx.labels(case)
    if labels is None:
        return
    array, table = labels
    ctx.step(0.5, "segmentation")
    write_seg_nrrd(ectx.file(f"{name}/segmentation.seg.nrrd"), array, case.image.geometry, table)
