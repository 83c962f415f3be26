"""Dataset export: one module per format, picked from :data:`EXPORTERS` by name.

Each format module defines ``write_case(case, ectx, ctx)`` (one :class:`ExportCase` into the
staging folder) and may define ``prepare(cases, ectx)`` (a pass over all cases first) and
``finish(cases, ectx, ctx)`` (dataset-level files such as nnU-Net's
``dataset.json``). :func:`export` runs them inside :func:`staged_output`, so the output folder
appears complete or not at all, and wraps a failing case's error with that case's (PHI-free) name.
Modules are imported by name when used, so highdicom loads only for DICOM SEG.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from analysis._task import NULL_CONTEXT, Cancelled, TaskContext
from app.io.deid import Deidentifier
from app.io.errors import MedwsIOError
from app.io.export._common import (
    ExportCase,
    ExportContext,
    ExportError,
    ExportOptions,
    ExportResult,
    staged_output,
    sub_context,
)

__all__ = ["EXPORTERS", "ExportCase", "ExportError", "ExportOptions", "ExportResult", "export",
           "set_surface_writer"]

log = logging.getLogger(__name__)

#: Format name → module implementing it.
EXPORTERS: dict[str, str] = {
    "dicom-seg": "app.io.export.dicom_seg",
    "seg-nrrd": "app.io.export.seg_nrrd",
    "nifti": "app.io.export.nifti",
    "coco": "app.io.export.coco",
    "nnunet": "app.io.export.nnunet",
    "csv": "app.io.export.tables",
}


#: Writes surface meshes of a labelmap; set by the composition root (``ui.main``) because meshing
#: needs VTK, which ``app`` may not import. Signature:
#: ``(labels_array, geometry, table, directory, *, label_ids, file_format, space) -> list[Path]``.
_surface_writer: Callable[..., list] | None = None


def set_surface_writer(writer: Callable[..., list] | None) -> None:
    """Install the surface-mesh writer used when ``ExportOptions.surfaces`` is set."""
    global _surface_writer
    _surface_writer = writer


def _write_surfaces(case: ExportCase, name: str, ectx: ExportContext) -> None:
    options = ectx.options
    if case.labels is None:
        return
    if _surface_writer is None:
        raise ExportError(ectx.staging, "surface export needs the render layer: run it through `medws` or the GUI")
    directory = ectx.staging / name / "surfaces"
    for path in _surface_writer(case.labels.array, case.labels.geometry, case.labels.table, directory,
                                label_ids=options.label_ids, file_format=options.surfaces,
                                space=options.surface_space):
        ectx.result.files.append(str(Path(path).relative_to(ectx.staging)))


def export(
    fmt: str,
    cases: Sequence[ExportCase],
    out: str | Path,
    *,
    options: ExportOptions | None = None,
    ctx: TaskContext = NULL_CONTEXT,
) -> ExportResult:
    """Export ``cases`` in format ``fmt`` to the folder ``out``, atomically.

    Parameters
    ----------
    fmt
        A key of :data:`EXPORTERS`.
    cases
        In-memory cases (image, labels, boxes, findings).
    out
        Output folder; must not exist or be empty unless ``options.overwrite``.
    options
        Filters, anonymization and format choices.
    ctx
        Progress (one share per case) and cancellation.

    Raises
    ------
    ExportError
        A case failed (the message names it) or the output could not be written; nothing of the
        export is left on disk.
    Cancelled
        ``ctx`` asked to stop; nothing is left on disk either.
    """
    if fmt not in EXPORTERS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORTERS)}")
    options = options or ExportOptions()
    module = importlib.import_module(EXPORTERS[fmt])
    out = Path(out)
    if options.mapping_path is not None and _inside(Path(options.mapping_path), out):
        raise ExportError(options.mapping_path, "the re-identification table must not be written into the export")
    deid = Deidentifier(options.deid) if options.anonymize else None
    result = ExportResult(out=out, n_cases=len(cases))
    n = max(1, len(cases))
    with staged_output(out, overwrite=options.overwrite) as staging:
        ectx = ExportContext(staging, options, deid, result)
        if hasattr(module, "prepare"):
            _dataset_step(out, module.prepare, cases, ectx)
        for k, case in enumerate(cases):
            name = ectx.case_name(case)
            ctx.step(k / n, f"{fmt}: {name} ({k + 1}/{len(cases)})")
            try:
                module.write_case(case, ectx, sub_context(ctx, k / n, (k + 1) / n * 0.98))
                if options.surfaces:
                    _write_surfaces(case, name, ectx)
            except Cancelled:
                raise
            except ExportError as exc:
                raise ExportError(out, exc.reason, case=name) from exc
            except (MedwsIOError, OSError, ValueError, RuntimeError, KeyError) as exc:
                reason = getattr(exc, "reason", None) or f"{exc.__class__.__name__}: {exc}"
                raise ExportError(out, reason, case=name) from exc
        if hasattr(module, "finish"):
            _dataset_step(out, module.finish, cases, ectx, ctx)
        manifest = {
            "format": fmt,
            "generator": "MedWS",
            "n_cases": len(cases),
            "anonymized": deid is not None,
            "files": sorted(result.files),
            "warnings": result.warnings,
        }
        (staging / "export.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        ctx.step(0.99, "finishing")
    if deid is not None and options.mapping_path is not None:
        deid.write_mapping(options.mapping_path)
    ctx.step(1.0, f"{fmt}: wrote {len(result.files)} files")
    return result


def _dataset_step(out: Path, step, *args) -> None:  # noqa: ANN001
    """Run a dataset-level hook, turning plain errors into one-line :class:`ExportError`."""
    try:
        step(*args)
    except (ExportError, Cancelled):
        raise
    except (MedwsIOError, OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ExportError(out, getattr(exc, "reason", None) or f"{exc.__class__.__name__}: {exc}") from exc


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
