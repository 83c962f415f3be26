"""``medws`` sub-commands, one module per area.

Each module defines ``add_parsers(subparsers)`` and, for every command it adds,
``parser.set_defaults(run=<function(args) -> int>)``. Modules import heavy libraries inside the
run functions only, so ``medws --help`` and the GUI start fast. Register a module by adding its
name to :data:`app.cli.COMMAND_MODULES`.
"""
