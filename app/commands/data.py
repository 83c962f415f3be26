"""``medws info``, ``convert`` and ``preprocess``: look at and transform image series."""

from __future__ import annotations

import argparse
import json
import sys

from app.commands._progress import TqdmContext
from app.io.inputs import resolve_input


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the data commands to the ``medws`` sub-parsers."""
    p = sub.add_parser("info", help="describe every series in a DICOM folder or volume file")
    p.add_argument("path")
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(run=run_info)

    p = sub.add_parser("convert", help="convert a series to .nii.gz / .nrrd / .mha")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--series", help="SeriesInstanceUID (or key) when the input holds several series")
    p.set_defaults(run=run_convert)

    p = sub.add_parser("preprocess", help="apply a preprocessing op and write the derived volume")
    p.add_argument("op", help="operation, e.g. gaussian, median, n4, resample, canny (a wrong name lists all)")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="op parameter, e.g. sigma_mm=1.5 or new_spacing_zyx_mm=1,1,1 (repeatable)")
    p.set_defaults(run=run_preprocess)


def parse_params(pairs: list[str]) -> dict[str, object]:
    """Parse ``k=v`` strings; values are Python literals when they parse (1.5, 1,1,1, True), else text."""
    import ast

    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"parameter {pair!r} is not of the form key=value")
        try:
            params[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            params[key.strip()] = raw.strip()
    return params


def run_info(args: argparse.Namespace) -> int:
    """Print one record per series; exit 2 when no series loaded."""
    from app.io.loader import load_path

    with TqdmContext("reading") as ctx:
        result = load_path(resolve_input(args.path), ctx=ctx)
    records = result.to_records()
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        for rec in records:
            print(f"series {rec['series_uid']}  {rec['modality']}  shape_zyx={rec['shape_zyx']}  "
                  f"spacing_zyx_mm={rec['spacing_zyx_mm']}  dtype={rec['dtype']}  files={rec['n_files']}")
            print(f"  origin_lps_mm={rec['origin_lps_mm']}  direction={rec['direction']}")
            for w in rec["warnings"]:
                print(f"  warning: {w}")
            for e in rec["errors"]:
                print(f"  error: {e}")
        for err in result.errors:
            print(f"error: {err}", file=sys.stderr)
    if not result.images:
        print(f"medws info: no loadable image series in {args.path}", file=sys.stderr)
        return 2
    return 0


def run_convert(args: argparse.Namespace) -> int:
    """Write the (single or chosen) series of the input as a volume file."""
    from app.io.loader import load_path
    from app.io.volume_files import write_image

    with TqdmContext("reading") as ctx:
        result = load_path(resolve_input(args.input), ctx=ctx)
    images = result.images
    if args.series:
        images = [im for im in images
                  if args.series in (im.metadata.get("series_uid"), im.metadata.get("series_key"))]
    if not images:
        print(f"medws convert: {args.input}: no matching image series", file=sys.stderr)
        return 2
    if len(images) > 1:
        uids = ", ".join(str(im.metadata.get("series_uid")) for im in images)
        print(f"medws convert: {args.input} holds {len(images)} series; pick one with --series ({uids})",
              file=sys.stderr)
        return 2
    print(write_image(images[0], args.output))
    return 0


def run_preprocess(args: argparse.Namespace) -> int:
    """Apply one op from :data:`analysis.preprocess.OPS` and write the derived volume."""
    from analysis.preprocess import OPS
    from app.io.loader import load_first_image
    from app.io.volume_files import write_volume
    from app.model.geometry import Geometry

    op = OPS.get(args.op)
    if op is None:
        print(f"medws preprocess: unknown op {args.op!r}; choose one of {', '.join(sorted(OPS))}", file=sys.stderr)
        return 2
    try:
        params = {**op.defaults, **parse_params(args.param)}
    except ValueError as exc:
        print(f"medws preprocess: {exc}", file=sys.stderr)
        return 2
    unknown = sorted(set(params) - set(op.defaults))
    if unknown:
        print(f"medws preprocess: {args.op} has no parameter(s) {', '.join(unknown)}; "
              f"known: {', '.join(sorted(op.defaults)) or 'none'}", file=sys.stderr)
        return 2
    with TqdmContext(args.op) as ctx:
        image = load_first_image(resolve_input(args.input), ctx=ctx)
        result = op.func(image.array, image.geometry.spacing_zyx_mm, ctx=ctx, **params)
    geometry = image.geometry
    if op.changes_grid:
        result, spacing = result
        geometry = Geometry(result.shape, spacing, geometry.origin_lps_mm, geometry.direction)
    print(write_volume(result, geometry, args.output))
    return 0
