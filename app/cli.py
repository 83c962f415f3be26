"""The ``medws`` argument parser and the runner of headless commands.

Everything the GUI does on data has a command here. This module never imports Qt; ``ui.main``
dispatches GUI commands (``view``, ``screenshot``) to ``ui.gui``. Commands live in
``app/commands/<area>.py`` (see that package's docstring); add a module to
:data:`COMMAND_MODULES` to register it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from app.io.errors import MedwsIOError

GUI_COMMANDS = frozenset({"view", "screenshot"})

#: Modules whose ``add_parsers(subparsers)`` adds headless commands, in help order.
COMMAND_MODULES = (
    "app.commands.data",
    "app.commands.library",
    "app.commands.models",
    "app.commands.export",
    "app.commands.pacs",
    "app.commands.session",
    "app.commands.stats",
    "app.commands.worklist",
)


def _add_gui_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="open the workstation (default command)")
    p.add_argument("paths", nargs="*", help="DICOM folders/files or volume files to open")
    p.add_argument("--sample", help="open a sample by name (see `medws samples list`)")
    p.add_argument("--labels", metavar="LABELMAP", help="labelmap file to overlay on the first image")
    p.add_argument("--layout", default="2x2", choices=["2x2", "1x3", "axial", "coronal", "sagittal", "3d"])

    p = sub.add_parser("screenshot", help="render the main window on INPUT to a PNG (needs a display)")
    p.add_argument("input", help="DICOM folder/file, volume file or sample name")
    p.add_argument("out", help="output PNG path")
    p.add_argument("--layout", default="2x2", choices=["2x2", "1x3", "axial", "coronal", "sagittal", "3d"])
    p.add_argument("--slice", type=int, default=None, help="slice index in the main view")
    p.add_argument("--wl", default=None, help="window,level e.g. 1500,-600")
    p.add_argument("--size", default="1200x900", help="WxH pixels")


def build_parser() -> argparse.ArgumentParser:
    """Return the full ``medws`` parser (headless and GUI commands)."""
    parser = argparse.ArgumentParser(prog="medws", description="MedWS imaging workstation")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command")
    _add_gui_parsers(sub)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


def run_headless(args: argparse.Namespace) -> int:
    """Run a parsed headless command; IO errors become one line on stderr and exit code 2."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args))
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
