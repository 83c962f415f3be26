"""``medws stats PROJECT [--json]``: how much readers corrected the model proposals, per case and overall.

PROJECT is a folder of session folders (any sub-folder holding ``session.json``; or one session
folder) or a worklist file (``medws worklist``; each case's session folder). Per case: proposals
and their review statuses, mean Dice / IoU between proposed and final segment masks, mean box
IoU, label changes, voxels edited and active review time; then the aggregate (Dice / IoU / box IoU
pooled over all proposals, totals, means and medians per case). Definitions:
:mod:`analysis.review_metrics`. Exit 0, or 2 when PROJECT holds no readable session.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``stats``."""
    p = sub.add_parser("stats", help="edit metrics of reviewed proposals: per case and aggregate (Dice, IoU, time)")
    p.add_argument("project", help="folder of session folders, one session folder, or a worklist file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run_stats)


def project_sessions(project: str | Path) -> list[tuple[str, Path]]:
    """(case name, session folder) pairs of a project folder or worklist file, in order."""
    from app.io.errors import MedwsIOError
    from app.session.worklist import Worklist

    path = Path(project)
    if path.is_file():
        worklist = Worklist.load(path)
        return [(c.id, folder) for c in worklist.cases if (folder := worklist.session_folder(c)) is not None]
    if (path / "session.json").is_file():
        return [(path.name.removesuffix(".medws"), path)]
    if not path.is_dir():
        raise MedwsIOError(path, "no such project (a folder of session folders or a worklist file)")
    return [(p.name.removesuffix(".medws"), p) for p in sorted(path.iterdir()) if (p / "session.json").is_file()]


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _table(rows: list[dict[str, Any]], agg: dict[str, Any]) -> str:
    head = ("case", "props", "acc", "edit", "rej", "pend", "manual", "Dice", "IoU", "boxIoU", "labelΔ",
            "voxelsΔ", "time")
    lines = [head]
    for r in rows:
        st = r["statuses"]
        lines.append((r["case"], str(r["proposals"]), str(st.get("accepted", 0)), str(st.get("edited", 0)),
                      str(st.get("rejected", 0) + st.get("removed", 0)), str(st.get("proposed", 0)), str(r["manual"]),
                      _fmt(r["mean_dice"]), _fmt(r["mean_iou"]), _fmt(r["mean_box_iou"]), str(r["label_changes"]),
                      str(r["voxels_edited"]), f"{r['time_s']:.0f}s"))
    st = agg["statuses"]
    lines.append(("ALL", str(agg["proposals"]), str(st.get("accepted", 0)), str(st.get("edited", 0)),
                  str(st.get("rejected", 0) + st.get("removed", 0)), str(st.get("proposed", 0)), str(agg["manual"]),
                  _fmt(agg["dice"]["mean"]), _fmt(agg["iou"]["mean"]), _fmt(agg["box_iou"]["mean"]),
                  str(agg["label_changes"]["total"]), str(agg["voxels_edited"]["total"]),
                  f"{agg['time_s']['total']:.0f}s"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
           for line in lines]
    out.insert(1, "-" * len(out[0]))
    out.insert(-1, "-" * len(out[0]))
    med = (f"median per proposal: Dice {_fmt(agg['dice']['median'])} (n={agg['dice']['n']}), "
           f"IoU {_fmt(agg['iou']['median'])}, box IoU {_fmt(agg['box_iou']['median'])} (n={agg['box_iou']['n']}); "
           f"per case: time {_fmt(agg['time_s']['median'], '.0f')}s, voxels edited "
           f"{_fmt(agg['voxels_edited']['median'], '.0f')}, "
           f"label changes {_fmt(agg['label_changes']['median'], '.1f')}")
    return "\n".join([*out, med])


def run_stats(args: argparse.Namespace) -> int:
    """Print the edit metrics of every case of a project and their aggregate."""
    from analysis.review_metrics import aggregate
    from app.model.edit_metrics import case_metrics
    from app.session import SessionFormatError, load_session

    cases = []
    for name, folder in project_sessions(args.project):
        try:
            cases.append(case_metrics(load_session(folder), name))
        except SessionFormatError as exc:
            print(f"medws stats: skipping {name}: {exc}", file=sys.stderr)
    if not cases:
        print(f"medws stats: {args.project}: no readable session folders", file=sys.stderr)
        return 2
    rows, agg = [c.to_dict() for c in cases], aggregate(cases)
    if args.json:
        print(json.dumps({"cases": rows, "aggregate": agg}, indent=2))
    else:
        print(_table(rows, agg))
    return 0
