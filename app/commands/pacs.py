"""``medws pacs``: configure PACS servers, echo, find, get (retrieve into the index) and send."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from app.commands._progress import TqdmContext


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``medws pacs ...``."""
    p = sub.add_parser("pacs", help="query/retrieve/send with a PACS (DICOMweb or DIMSE)")
    psub = p.add_subparsers(dest="pacs_command", required=True)

    a = psub.add_parser("add", help="add or replace a server in the settings")
    a.add_argument("name")
    where = a.add_mutually_exclusive_group(required=True)
    where.add_argument("--dicomweb", metavar="URL", help="DICOMweb base URL, e.g. https://pacs/dicom-web")
    where.add_argument("--dimse", metavar="AET@HOST:PORT", help="DIMSE peer")
    a.add_argument("--user", help="user name (DICOMweb basic auth); the password goes to the keyring")
    a.add_argument("--bearer", action="store_true", help="DICOMweb bearer-token auth (token goes to the keyring)")
    a.add_argument("--secret-stdin", action="store_true", help="read the password/token from stdin, not a prompt")
    a.add_argument("--ca-bundle", default="", help="PEM CA bundle to verify an https server with")
    a.add_argument("--own-aet", default="MEDWS", help="MedWS's AE title (DIMSE; default MEDWS)")
    a.add_argument("--own-port", type=int, default=11112, help="port of MedWS's storage SCP for C-MOVE")
    a.add_argument("--retrieve", choices=["move", "get"], default="move", help="DIMSE retrieve (default move)")
    a.add_argument("--timeout", type=float, default=30.0, help="network timeout in seconds")
    a.set_defaults(run=run_add)

    ls = psub.add_parser("list", help="list configured servers")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=run_list)

    rm = psub.add_parser("remove", help="remove a server and its stored secret")
    rm.add_argument("name")
    rm.set_defaults(run=run_remove)

    e = psub.add_parser("echo", help="check that a server answers (C-ECHO or an authenticated QIDO)")
    e.add_argument("name")
    e.set_defaults(run=run_echo)

    f = psub.add_parser("find", help="search studies (one record per study)")
    f.add_argument("name")
    f.add_argument("--patient-name", default="", help="wildcards * and ? allowed, e.g. 'DOE^J*'")
    f.add_argument("--patient-id", default="")
    f.add_argument("--study-date", default="", help="YYYYMMDD or FROM-TO")
    f.add_argument("--modality", default="")
    f.add_argument("--accession", default="")
    f.add_argument("--limit", type=int, default=500)
    f.add_argument("--json", action="store_true")
    f.set_defaults(run=run_find)

    g = psub.add_parser("get", help="retrieve a study (or series) into the local index")
    g.add_argument("name")
    g.add_argument("study_uid")
    g.add_argument("--series", action="append", default=[], metavar="UID", help="only this series (repeatable)")
    g.add_argument("--dest", help="also write the files into DIR/<study>/<series>/")
    g.add_argument("--json", action="store_true")
    g.set_defaults(run=run_get)

    s = psub.add_parser("send", help="send DICOM files/folders, or session folders (as DICOM SEG), to a server")
    s.add_argument("name")
    s.add_argument("files", nargs="+", metavar="FILE_OR_SESSION")
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=run_send)


def _prompt_secret_if_needed(name: str) -> None:
    """Ask for a missing password/token on a terminal; it lives in this process's environment only."""
    from app.io.pacs.servers import get_secret, get_server, secret_env_var

    server = get_server(name)
    if server.auth == "none" or get_secret(name) or not sys.stdin.isatty():
        return
    what = "password" if server.auth == "basic" else "token"
    secret = getpass.getpass(f"{what} for {name} (not stored; see `medws pacs add`): ")
    if secret:
        os.environ[secret_env_var(name)] = secret


def _fail(message: str) -> int:
    print(f"medws pacs: {message}", file=sys.stderr)
    return 2


def run_add(args: argparse.Namespace) -> int:
    """Add a server; store its secret in the keyring (or say which environment variable to set)."""
    from app.io.pacs import servers as sv

    auth = "bearer" if args.bearer else ("basic" if args.user else "none")
    try:
        if args.dicomweb:
            server = sv.PacsServer(args.name, url=args.dicomweb, auth=auth, user=args.user or "",
                                   ca_bundle=args.ca_bundle, timeout_s=args.timeout)
        else:
            if auth != "none":
                return _fail("DIMSE has no user authentication; leave out --user/--bearer")
            aet, host, port = sv.parse_dimse_address(args.dimse)
            server = sv.PacsServer(args.name, ae_title=aet, host=host, port=port, own_ae_title=args.own_aet,
                                   own_port=args.own_port, retrieve=args.retrieve, timeout_s=args.timeout)
    except ValueError as exc:
        return _fail(str(exc))
    sv.upsert_server(server)
    print(f"{server.name}: {server.kind} {server.address} (auth {server.auth})")
    if auth == "none":
        return 0
    what = "password" if auth == "basic" else "token"
    env = sv.secret_env_var(server.name)
    if not sv.keyring_available():
        print(f"no system keyring: set {env} in the environment to the {what} (it is never written to a file)")
        return 0
    if args.secret_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        secret = getpass.getpass(f"{what} for {server.name}: ")
    else:
        print(f"{what} not stored (no terminal): use --secret-stdin, or set {env}")
        return 0
    if secret and sv.set_secret(server.name, secret):
        print(f"{what} stored in the system keyring")
    else:
        print(f"{what} not stored: set {env} in the environment")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """List the configured servers (no secrets)."""
    from app.io.pacs.servers import load_servers

    servers = load_servers()
    if args.json:
        print(json.dumps([s.to_dict() for s in servers.values()], indent=2))
        return 0
    for s in servers.values():
        print(f"{s.name:16s} {s.kind:8s} {s.address}  auth={s.auth}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    """Remove a server."""
    from app.io.pacs.servers import remove_server

    if not remove_server(args.name):
        return _fail(f"no server named {args.name!r}")
    print(f"removed {args.name}")
    return 0


def run_echo(args: argparse.Namespace) -> int:
    """Echo a server and print the round trip."""
    from app.io.pacs import echo, get_server

    _prompt_secret_if_needed(args.name)
    server = get_server(args.name)
    seconds = echo(server)
    print(f"{server.name}: {server.address} answered in {seconds * 1000:.0f} ms")
    return 0


def run_find(args: argparse.Namespace) -> int:
    """Search studies and print one record (or JSON object) per study."""
    from app.io.pacs import StudyQuery, find_studies

    try:
        query = StudyQuery(patient_name=args.patient_name, patient_id=args.patient_id, study_date=args.study_date,
                           modality=args.modality, accession_number=args.accession, limit=args.limit)
    except ValueError as exc:
        return _fail(str(exc))
    _prompt_secret_if_needed(args.name)
    studies = find_studies(args.name, query)
    if args.json:
        print(json.dumps([s.to_dict() for s in studies], indent=2))
        return 0
    for s in studies:
        print(f"{s.study_uid}  {s.patient_name}  {s.patient_id}  {s.study_date}  {','.join(s.modalities)}  "
              f"series={s.n_series} instances={s.n_instances}")
    print(f"{len(studies)} studies", file=sys.stderr)
    return 0


def run_get(args: argparse.Namespace) -> int:
    """Retrieve a study into the local index (and DIR)."""
    from app.io.pacs import retrieve

    _prompt_secret_if_needed(args.name)
    try:
        with TqdmContext("retrieve") as ctx:
            result = retrieve(args.name, args.study_uid, series_uids=args.series or None, dest=args.dest, ctx=ctx)
    except ValueError as exc:
        return _fail(str(exc))
    print(json.dumps(result.to_dict(), indent=2) if args.json else str(result))
    return 0


def _is_session(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "session.json"))


def _session_segs(folders: list[str], out: str) -> list[str]:
    """Export the segmentations of MedWS session folders as DICOM SEG into ``out``; return the files.

    Everything the export writes is sent: the SEG, plus the image copies it references when the
    session's image was not a DICOM series.
    """
    from app.io.export import export
    from app.session.cases import export_cases

    cases = []
    for folder in folders:
        found, warnings = export_cases(folder)
        cases.extend(found)
        for line in warnings:
            print(f"warning: {line}", file=sys.stderr)
    result = export("dicom-seg", cases, os.path.join(out, "export"))
    for line in result.warnings:
        print(f"warning: {line}", file=sys.stderr)
    return [os.path.join(out, "export", f) for f in result.files if f.endswith(".dcm")]


def run_send(args: argparse.Namespace) -> int:
    """Send files, folders and session folders (as DICOM SEG); exit 1 when the server refused some."""
    import tempfile

    from app.io.pacs import send

    _prompt_secret_if_needed(args.name)
    sessions = [f for f in args.files if _is_session(f)]
    files = [f for f in args.files if not _is_session(f)]
    with tempfile.TemporaryDirectory(prefix="medws-send-") as tmp, TqdmContext("send") as ctx:
        if sessions:
            segs = _session_segs(sessions, tmp)
            if not segs:
                return _fail("the session folders hold no segmentation to send")
            files += segs
        result = send(args.name, files, ctx=ctx)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"sent {result.sent} instances ({result.bytes_sent / 1e6:.1f} MB)")
        for line in result.failed:
            print(f"refused: {line}", file=sys.stderr)
    return 1 if result.failed else 0
