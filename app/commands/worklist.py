"""``medws worklist {create,list,next,set}``: case lists of a reading project (see :mod:`app.session.worklist`).

* ``create WORKLIST INPUT...`` writes a new worklist (inputs: image paths, sample names or session folders).
* ``list WORKLIST [--reader R] [--json]`` prints every case with the reader's status.
* ``next WORKLIST [--reader R] [--after CASE] [--start]`` prints the next case not done (``--start``
  marks it in progress); exit 1 when every case is done.
* ``set WORKLIST CASE STATUS [--reader R]``: CASE is an id, a 1-based position or the input path.

The reader defaults to :func:`app.paths.reader_name` (``MEDWS_READER``, settings, login name).
"""

from __future__ import annotations

import argparse
import json

_STATUSES = ("not_started", "in_progress", "done")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``worklist create|list|next|set``."""
    p = sub.add_parser("worklist", help="case lists: status per reader, next case")
    wsub = p.add_subparsers(dest="worklist_command", required=True)
    c = wsub.add_parser("create", help="write a new worklist of studies")
    c.add_argument("worklist", help="the worklist JSON file to create")
    c.add_argument("inputs", nargs="+", help="DICOM folders, volume files, sample names or session folders")
    c.add_argument("--name", default="", help="project name")
    c.set_defaults(run=run_create)
    ls = wsub.add_parser("list", help="cases and their status")
    ls.add_argument("worklist")
    ls.add_argument("--reader", default=None)
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(run=run_list)
    n = wsub.add_parser("next", help="the next case not done")
    n.add_argument("worklist")
    n.add_argument("--reader", default=None)
    n.add_argument("--after", default=None, help="case id to continue after")
    n.add_argument("--start", action="store_true", help="mark it in progress")
    n.add_argument("--json", action="store_true", help="machine-readable output")
    n.set_defaults(run=run_next)
    s = wsub.add_parser("set", help="set a case's status")
    s.add_argument("worklist")
    s.add_argument("case", help="case id, 1-based position or input path")
    s.add_argument("status", choices=_STATUSES)
    s.add_argument("--reader", default=None)
    s.set_defaults(run=run_set)


def run_create(args: argparse.Namespace) -> int:
    from app.session.worklist import Worklist

    wl = Worklist.create(args.worklist, args.inputs, name=args.name)
    print(f"{wl.path}: {len(wl.cases)} cases")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from app.paths import reader_name
    from app.session.worklist import Worklist

    wl = Worklist.load(args.worklist)
    reader = args.reader or reader_name()
    if args.json:
        print(json.dumps({"name": wl.name, "reader": reader, "counts": wl.counts(reader),
                          "cases": [{**c.to_dict(), "status": c.status(reader)} for c in wl.cases]}, indent=2))
        return 0
    width = max(len(c.id) for c in wl.cases)
    for c in wl.cases:
        print(f"{c.id.ljust(width)}  {c.status(reader):<11}  {c.input}")
    counts = wl.counts(reader)
    print(f"{wl.name} ({reader}): " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()))
    return 0


def run_next(args: argparse.Namespace) -> int:
    from app.session.worklist import Worklist

    wl = Worklist.load(args.worklist)
    case = wl.next_case(args.reader, after=args.after)
    if case is None:
        print("every case is done")
        return 1
    if args.start:
        wl.set_status(case, "in_progress", args.reader)
    print(json.dumps(case.to_dict(), indent=2) if args.json else f"{case.id}  {case.input}")
    return 0


def run_set(args: argparse.Namespace) -> int:
    from app.session.worklist import Worklist

    wl = Worklist.load(args.worklist)
    case = wl.set_status(args.case, args.status, args.reader)
    print(f"{case.id}: {args.status}")
    return 0
