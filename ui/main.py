"""Composition root and the ``medws`` entry point.

Headless commands (``info``, ``convert``, ``samples``, ``index``) run from ``app.cli`` without
importing Qt, so they start fast on machines with no display. GUI commands (``view``, the default,
and ``screenshot``) import Qt here and only here.
"""

from __future__ import annotations

import sys

from app.cli import GUI_COMMANDS, build_parser, run_headless


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run a headless command or the workstation window."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        args.command = "view"
        args.paths = []
    if args.command in GUI_COMMANDS:
        from ui.gui import run_gui  # Qt is imported only for GUI commands

        return run_gui(args)
    if getattr(args, "surfaces", None):  # meshing needs VTK (render/), which app/ may not import
        from app.io.export import set_surface_writer
        from render.surface_export import write_segment_surfaces

        set_surface_writer(write_segment_surfaces)
    return run_headless(args)


if __name__ == "__main__":
    sys.exit(main())
