"""``medws export``: write labeled datasets (DICOM SEG, .seg.nrrd, NIfTI, COCO, nnU-Net, CSV).

Plain-input form: ``medws export --format F --image IMAGE --labels LABELMAP [--label-table T] OUT``;
``--image/--labels`` repeat in pairs to export several cases (an nnU-Net dataset, for example).
Session form: ``medws export --format F SESSION.medws... OUT [--status accepted,edited]`` exports the
annotations saved in MedWS session folders (see :mod:`app.session`); both forms can be mixed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from app.commands._progress import TqdmContext

log = logging.getLogger(__name__)

FORMATS = ("dicom-seg", "seg-nrrd", "nifti", "coco", "nnunet", "csv")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``export`` to the ``medws`` sub-parsers."""
    p = sub.add_parser(
        "export", help="export images + labels as a dataset (DICOM SEG, seg.nrrd, NIfTI, COCO, nnU-Net, CSV)"
    )
    p.add_argument("paths", nargs="+", metavar="[SESSION ...] OUT",
                   help="MedWS session folders to export (optional), then the output folder "
                        "(must not exist or be empty, unless --overwrite)")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="IMAGE",
        help="DICOM series folder/file or volume file (repeat with --labels for several cases)",
    )
    p.add_argument(
        "--labels",
        action="append",
        default=[],
        metavar="LABELMAP",
        help="NIfTI/NRRD/.seg.nrrd labelmap of the matching --image",
    )
    p.add_argument("--label-table", help="label table: JSON, Slicer .csv/.txt colour table or ITK-SNAP file")
    p.add_argument(
        "--anonymize",
        action="store_true",
        help="apply the DICOM PS3.15 basic confidentiality profile; pseudonymous case names",
    )
    p.add_argument(
        "--dates",
        choices=("shift", "remove", "keep"),
        default="shift",
        help="with --anonymize: shift dates by a per-export offset (default), remove or keep them",
    )
    p.add_argument(
        "--mapping",
        help="with --anonymize: write the private re-identification table here "
        "(outside OUT); none is written otherwise",
    )
    p.add_argument("--status", help="review statuses to export, e.g. accepted,edited (session annotations)")
    p.add_argument("--only-labels", help="label ids or names to export, e.g. 1,3,liver")
    p.add_argument("--reader", action="append", help="export annotations of this reader only (repeatable)")
    p.add_argument("--seg-type", choices=("BINARY", "LABELMAP"), default="BINARY", help="DICOM SEG type")
    p.add_argument("--window", help="COCO PNG window as WIDTH,LEVEL (default: the image's window)")
    p.add_argument("--dataset-id", type=int, default=1, help="nnU-Net dataset number (1-999)")
    p.add_argument("--dataset-name", default="MedWS", help="nnU-Net dataset name")
    p.add_argument("--label-suffix", choices=(".nii.gz", ".nrrd"), default=".nii.gz", help="nifti format suffix")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT once the export succeeded")
    p.add_argument("--surfaces", choices=("stl", "obj", "ply"), help="also write one surface mesh per segment")
    p.add_argument("--surface-space", choices=("LPS", "RAS"), default="LPS", help="coordinates of the meshes")
    p.set_defaults(run=run_export)


def _label_ids(spec: str | None, tables: list) -> frozenset[int] | None:
    if not spec:
        return None
    ids: set[int] = set()
    for token in (t.strip() for t in spec.split(",") if t.strip()):
        if token.isdigit():
            ids.add(int(token))
            continue
        found = {s.id for table in tables for s in table if s.name == token}
        if not found:
            raise ValueError(f"--only-labels: no label named {token!r}")
        ids |= found
    return frozenset(ids)


def _statuses(spec: str | None) -> frozenset[str] | None:
    from app.model.annotations import REVIEW_STATUSES

    if not spec:
        return None
    values = frozenset(s.strip() for s in spec.split(",") if s.strip())
    unknown = values - set(REVIEW_STATUSES)
    if unknown:
        raise ValueError(f"--status: unknown {', '.join(sorted(unknown))}; use {', '.join(REVIEW_STATUSES)}")
    return values


def _window(spec: str | None) -> tuple[float, float] | None:
    if not spec:
        return None
    width, _, level = spec.partition(",")
    try:
        return float(width), float(level)
    except ValueError:
        raise ValueError(f"--window must be WIDTH,LEVEL, got {spec!r}") from None


def run_export(args: argparse.Namespace) -> int:
    """Load the plain inputs and export them; one-line errors, exit 2."""
    from app.io.deid import DeidOptions
    from app.io.export import ExportOptions, export
    from app.io.export.inputs import load_plain_case

    sessions, args.out = args.paths[:-1], args.paths[-1]
    if not args.image and not sessions:
        print("medws export: give session folders, or --image IMAGE --labels LABELMAP, before OUT", file=sys.stderr)
        return 2
    if args.labels and len(args.labels) != len(args.image):
        print(
            f"medws export: {len(args.image)} --image but {len(args.labels)} --labels; give them in pairs",
            file=sys.stderr,
        )
        return 2
    if args.mapping and not args.anonymize:
        print("medws export: --mapping needs --anonymize", file=sys.stderr)
        return 2
    labels = args.labels or [None] * len(args.image)
    args.image = args.image or []
    try:
        options_kw = {"statuses": _statuses(args.status), "window": _window(args.window)}
    except ValueError as exc:
        print(f"medws export: {exc}", file=sys.stderr)
        return 2
    cases = []
    seen: dict[str, int] = {}
    with TqdmContext("loading") as ctx:
        for n, (image, label) in enumerate(zip(args.image, labels, strict=True)):
            case, warnings = load_plain_case(
                image, label, args.label_table, ctx=_scaled(ctx, n / len(args.image), (n + 1) / len(args.image))
            )
            for warning in warnings:
                print(f"medws export: warning: {warning}", file=sys.stderr)
            seen[case.case_id] = seen.get(case.case_id, 0) + 1
            if seen[case.case_id] > 1:
                case.case_id = f"{case.case_id}_{seen[case.case_id]}"
            cases.append(case)
        if sessions:
            from app.session.cases import export_cases

            for folder in sessions:
                session_cases, warnings = export_cases(folder, ctx=ctx)
                for warning in warnings:
                    print(f"medws export: warning: {warning}", file=sys.stderr)
                cases.extend(session_cases)
    try:
        label_ids = _label_ids(args.only_labels, [c.labels.table for c in cases if c.labels is not None])
    except ValueError as exc:
        print(f"medws export: {exc}", file=sys.stderr)
        return 2
    if options_kw["statuses"] is not None and args.image:
        log.info("--status filters reviewed annotations; plain labelmaps carry no review status")
    options = ExportOptions(
        anonymize=args.anonymize,
        deid=DeidOptions(dates=args.dates),
        mapping_path=Path(args.mapping) if args.mapping else None,
        label_ids=label_ids,
        readers=frozenset(args.reader) if args.reader else None,
        segmentation_type=args.seg_type,
        dataset_id=args.dataset_id,
        dataset_name=args.dataset_name,
        label_suffix=args.label_suffix,
        overwrite=args.overwrite,
        surfaces=args.surfaces,
        surface_space=args.surface_space,
        **options_kw,
    )
    with TqdmContext(f"export {args.format}") as ctx:
        result = export(args.format, cases, args.out, options=options, ctx=ctx)
    for warning in result.warnings:
        print(f"medws export: warning: {warning}", file=sys.stderr)
    print(f"exported {len(cases)} case(s) as {args.format} to {result.out} ({len(result.files)} files)")
    return 0


def _scaled(ctx, lo: float, hi: float):  # noqa: ANN001, ANN202
    from app.io.export._common import sub_context

    return sub_context(ctx, lo, hi)
