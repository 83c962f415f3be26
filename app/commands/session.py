"""``medws session``: inspect and recover session folders.

``medws session list [--json]`` lists the known session folders; ``medws session info FOLDER
[--json]`` prints the manifest summary (no patient tags: UIDs, counts,
paths), the lock owner and whether autosaved edits wait for recovery. ``medws session recover
FOLDER`` replays the journal onto the last save and commits the result; it takes the folder's lock
and refuses while another live MedWS edits it.
"""

from __future__ import annotations

import argparse
import json


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``session info`` and ``session recover``."""
    p = sub.add_parser("session", help="session folders (annotations of a study, autosave journal)")
    ssub = p.add_subparsers(dest="session_command", required=True)
    i = ssub.add_parser("info", help="describe a session folder")
    i.add_argument("folder")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(run=run_session_info)
    ls = ssub.add_parser("list", help="list the sessions MedWS knows (data folder and registered ones)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(run=run_session_list)
    r = ssub.add_parser("recover", help="replay autosaved edits onto the last save and save the result")
    r.add_argument("folder")
    r.set_defaults(run=run_session_recover)


def _describe(folder: str) -> dict:
    from app.session import read_manifest
    from app.session.lock import lock_owner, owner_is_alive
    from app.session.recovery import pending_records

    manifest = read_manifest(folder)
    pending = pending_records(folder)
    owner = lock_owner(folder)
    return {
        "folder": str(folder),
        "format_version": manifest["format_version"],
        "uid": manifest["uid"],
        "saved_at": manifest["saved_at"],
        "generation": manifest["generation"],
        "study_uid": (manifest.get("study") or {}).get("study_uid"),
        "sources": [{k: r.get(k) for k in ("series_uid", "modality", "source_path")} for r in manifest["sources"]],
        "segmentations": [{"name": s["name"], "file": s["file"], "labels": len(s["label_table"]["labels"])}
                          for s in manifest["segmentations"]],
        "counts": manifest.get("counts", {}),
        "recoverable_records": len(pending["records"]),
        "torn_bytes": pending["torn_bytes"],
        "lock": None if owner is None else {**owner, "alive": owner_is_alive(owner)},
    }


def run_session_info(args: argparse.Namespace) -> int:
    """Print what a session folder holds."""
    info = _describe(args.folder)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"session {info['uid']}  format v{info['format_version']}  save #{info['generation']} at {info['saved_at']}")
    print(f"study {info['study_uid'] or '-'}")
    for src in info["sources"]:
        print(f"  source {src['modality'] or '?'} {src['series_uid'] or '-'} {src['source_path'] or ''}".rstrip())
    for seg in info["segmentations"]:
        print(f"  segmentation {seg['name']!r}: {seg['labels']} labels ({seg['file']})")
    counts = info["counts"]
    print(f"  {counts.get('boxes', 0)} boxes, {counts.get('findings', 0)} findings")
    if info["recoverable_records"]:
        print(f"autosaved edits to recover: {info['recoverable_records']} records (medws session recover)")
    if info["lock"]:
        lock = info["lock"]
        state = "in use" if lock["alive"] else "stale"
        print(f"lock: pid {lock.get('pid')} on {lock.get('host')} ({state})")
    return 0


def run_session_list(args: argparse.Namespace) -> int:
    """List known session folders, newest save first."""
    from app.session.folder import SessionFormatError, known_sessions, read_manifest
    from app.session.recovery import has_recoverable_changes

    rows = []
    for folder in known_sessions():
        try:
            manifest = read_manifest(folder)
        except SessionFormatError:
            continue
        rows.append({"folder": str(folder), "saved_at": manifest["saved_at"],
                     "study_uid": (manifest.get("study") or {}).get("study_uid"),
                     "recoverable": has_recoverable_changes(folder), **manifest.get("counts", {})})
    rows.sort(key=lambda r: r["saved_at"], reverse=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        flag = "  [autosaved edits to recover]" if r["recoverable"] else ""
        print(f"{r['saved_at']}  {r['folder']}  study {r['study_uid'] or '-'}{flag}")
    return 0


def run_session_recover(args: argparse.Namespace) -> int:
    """Recover autosaved edits of a session folder (takes its lock)."""
    from app.session import SessionLock, recover
    from app.session.recovery import pending_records

    with SessionLock.acquire(args.folder):
        pending = pending_records(args.folder)
        session = recover(args.folder)
    n = len(pending["records"])
    if not n:
        print(f"nothing to recover in {args.folder}: the last save holds every edit")
        return 0
    torn = f"; ignored a torn tail of {pending['torn_bytes']} bytes" if pending["torn_bytes"] else ""
    print(f"recovered {n} journal records into {args.folder} "
          f"({len(session.segmentations)} segmentations, {len(session.boxes)} boxes){torn}")
    return 0
