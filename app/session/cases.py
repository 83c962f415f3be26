"""Turn a saved session folder into :class:`~app.io.export.ExportCase` objects for the exporters.

``medws export`` and the GUI's export dialog can feed session folders to
:func:`app.io.export.export` through :func:`export_cases`. The source images are re-read from the
paths in ``session.json`` (never copied); a DICOM source keeps its instance files so a DICOM SEG can
reference them. Only the last committed save is used: recover autosaved edits first. Any thread
may call these functions.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from analysis._task import NULL_CONTEXT, TaskContext
from app.io.errors import MedwsIOError
from app.io.export import ExportCase
from app.io.export._common import sub_context
from app.io.export.inputs import load_plain_case, resample_labels_nearest
from app.model.annotations import Provenance
from app.model.labels import LabelTable, LabelVolume
from app.session.folder import SUFFIX, load_session, read_manifest

__all__ = ["export_cases", "segmentation_provenance"]

log = logging.getLogger(__name__)


def segmentation_provenance(table: LabelTable) -> Provenance | None:
    """Return the provenance the exporters filter a whole segmentation by.

    That of its first segment that records one (model output keeps its model; a manual segment
    says "manual"); None when no segment records provenance (passes only unfiltered exports).
    """
    return next((s.provenance for s in table if s.provenance is not None), None)


def _source_for(folder: Path, manifest: dict, entry: dict | None) -> tuple[int, dict]:
    sources = manifest.get("sources", [])
    index = entry.get("reference_source") if entry else None
    if index is None:
        index = 0
    if not sources or index >= len(sources):
        raise MedwsIOError(folder, "session names no source image")
    return index, sources[index]


def export_cases(folder: str | os.PathLike[str], *,
                 ctx: TaskContext = NULL_CONTEXT) -> tuple[list[ExportCase], list[str]]:
    """Return ``(cases, warnings)``: one :class:`ExportCase` per segmentation (one case when none).

    Boxes, findings and measurements go with the first case. The case id is the folder name
    (``_<k>`` added when there are several segmentations); it is replaced by a pseudonym when the
    export anonymizes.

    Raises
    ------
    MedwsIOError
        A source image is missing or unreadable, or is not the series the session references.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    session = load_session(folder)
    name = folder.name.removesuffix(SUFFIX) or "session"
    entries = manifest.get("segmentations") or [None]
    cases: list[ExportCase] = []
    warnings: list[str] = []
    loaded: dict[int, tuple[ExportCase, list[str]]] = {}
    for k, entry in enumerate(entries):
        index, ref = _source_for(folder, manifest, entry)
        path = ref.get("source_path")
        if not path or not Path(path).exists():
            raise MedwsIOError(folder, f"source image {ref.get('name') or index} not found ({path or 'no path'})")
        if index not in loaded:
            step = sub_context(ctx, k / len(entries), (k + 1) / len(entries))
            loaded[index] = load_plain_case(path, None, ctx=step)
        base, notes = loaded[index]
        warnings += [n for n in notes if n not in warnings]
        image = base.image
        uid = ref.get("series_uid")
        if uid and image.metadata.get("series_uid") not in (None, uid):
            raise MedwsIOError(folder, f"{path} holds another series first; export it with --image")
        labels = provenance = None
        if entry is not None:
            labels = session.segmentations[k]
            provenance = segmentation_provenance(labels.table)
            if not labels.geometry.same_grid(image.geometry, tol_mm=1e-2):
                array, _outside = resample_labels_nearest(labels.array, labels.geometry, image.geometry)
                warnings.append(f"{name}: segmentation {k} resampled onto its source grid (nearest neighbour)")
                labels = LabelVolume(image.geometry, labels.table, name=labels.name, array=array)
        first = not cases
        cases.append(ExportCase(
            f"{name}_{k}" if len(entries) > 1 else name, image, labels,
            boxes=list(session.boxes) if first else [], findings=list(session.findings) if first else [],
            source_files=base.source_files, provenance=provenance,
        ))
    return cases, warnings
