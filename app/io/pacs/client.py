"""What the GUI and the CLI call: echo, find, retrieve into the study index, send — over DICOMweb or DIMSE.

Every function takes a :class:`PacsServer` (or its configured name) and picks the protocol from
it. Long calls take ``ctx: TaskContext`` for progress and cooperative cancel; run them in a
``Job`` (worker thread), never on the GUI thread. Failures raise one-line :class:`PacsError`.

Retrieve writes into the managed storage (:mod:`app.io.pacs.storage`) and imports each series
into the study index only once all its instances are present, so an interrupted retrieve leaves
no partial series in the index; calling it again resumes (present instances are skipped).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from analysis._task import NULL_CONTEXT, TaskContext
from app.io.errors import DicomFileError, MedwsIOError
from app.io.pacs._common import (
    PacsError,
    RetrieveResult,
    SendResult,
    SeriesResult,
    StudyQuery,
    StudyResult,
    check_uid,
    sub_context,
)
from app.io.pacs.servers import PacsServer, get_server
from app.io.pacs.storage import SeriesStore

__all__ = ["echo", "find_series", "find_studies", "retrieve", "send"]

log = logging.getLogger(__name__)


def _server(server: PacsServer | str) -> PacsServer:
    return server if isinstance(server, PacsServer) else get_server(server)


def _backend(server: PacsServer):  # noqa: ANN202 - the dicomweb or dimse module
    if server.kind == "dicomweb":
        from app.io.pacs import dicomweb

        return dicomweb
    from app.io.pacs import dimse

    return dimse


def echo(server: PacsServer | str) -> float:
    """Check the server answers (C-ECHO, or an authenticated QIDO for DICOMweb); return seconds."""
    server = _server(server)
    return _backend(server).echo(server)


def find_studies(server: PacsServer | str, query: StudyQuery | None = None) -> list[StudyResult]:
    """Search the server's studies; see :class:`StudyQuery` for the keys and wildcards."""
    server = _server(server)
    return _backend(server).find_studies(server, query or StudyQuery())


def find_series(server: PacsServer | str, study_uid: str) -> list[SeriesResult]:
    """List the series of one study on the server."""
    server = _server(server)
    return _backend(server).find_series(server, study_uid)


def retrieve(
    server: PacsServer | str,
    study_uid: str,
    *,
    series_uids: Sequence[str] | None = None,
    dest: str | os.PathLike[str] | None = None,
    index: Any = None,
    ctx: TaskContext = NULL_CONTEXT,
) -> RetrieveResult:
    """Retrieve a study (or some of its series) into the managed storage and the study index.

    Parameters
    ----------
    server
        Server or configured name.
    study_uid
        StudyInstanceUID to retrieve.
    series_uids
        Only these series (default: every series of the study).
    dest
        Also copy the files to ``dest/<study>/<series>/<sop>.dcm``.
    index
        :class:`app.io.study_index.StudyIndex` to import into (default: the user's index).
    ctx
        Progress (fraction of instances) and cancellation. Any worker thread may call this.

    Returns
    -------
    RetrieveResult

    Raises
    ------
    PacsError
        Server unreachable, credentials refused, connection lost mid-transfer (the series being
        transferred stays out of the index; call again to resume).
    Cancelled
        When ``ctx`` asks to stop (same state as a lost connection).
    """
    server = _server(server)
    backend = _backend(server)
    study_uid = check_uid(study_uid, "StudyInstanceUID")
    if index is None:
        from app.io.study_index import StudyIndex

        index = StudyIndex()
    t0 = time.perf_counter()
    result = RetrieveResult(study_uid)
    ctx.step(0.0, "Listing series")
    series = backend.find_series(server, study_uid)
    if series_uids:
        wanted = [check_uid(u, "SeriesInstanceUID") for u in series_uids]
        found = {s.series_uid for s in series}
        absent = [u for u in wanted if u not in found]
        if absent:
            raise PacsError(server.name, f"retrieve: {len(absent)} requested series not found in the study")
        series = [s for s in series if s.series_uid in wanted]
    if not series:
        raise PacsError(server.name, "retrieve: study not found or empty on the server")
    plans = []
    for s in series:
        ctx.check()
        instances = backend.list_instances(server, study_uid, s.series_uid)
        plans.append((s, instances))
    total = max(1, sum(len(i) for _, i in plans))
    done = 0
    for s, instances in plans:
        store = SeriesStore(server.name, study_uid, s.series_uid)
        expected = {i.sop_instance_uid for i in instances}
        missing = store.missing(expected)
        result.skipped += len(expected) - len(missing)
        lo, span = done / total, len(instances) / total
        sub = sub_context(ctx, lo, lo + 0.95 * span)
        if missing:
            log.info("retrieving series %s: %d of %d instances missing", s.series_uid, len(missing), len(expected))
            try:
                if server.kind == "dicomweb":
                    backend.retrieve_series(server, study_uid, s.series_uid, set(missing), len(expected), store,
                                            ctx=sub)
                else:
                    backend.retrieve_series(server, study_uid, s.series_uid, instances, set(missing), store, ctx=sub)
            except PacsError as exc:
                kept = len(expected) - len(store.missing(expected))
                raise PacsError(server.name, f"{exc.reason}; series not indexed, {kept} of {len(expected)} instances "
                                             "kept for resume: retry to complete") from None
            result.received += store.written
            result.bytes_received += store.bytes_written
        ctx.step(lo + 0.95 * span, "Indexing the series")
        folder = store.commit(index, ctx=sub_context(ctx, lo + 0.95 * span, lo + span))
        result.series_dirs.append(str(folder))
        if dest is not None:
            result.dest = str(store.copy_to(Path(dest)).parent)
        done += len(instances)
    result.seconds = time.perf_counter() - t0
    ctx.step(1.0, str(result))
    log.info("retrieve from %s: %s", server.name, result)
    return result


def _read_for_send(paths: Iterable[str | os.PathLike[str]]) -> list[tuple[str, Any, int]]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    from app.io.dicom_scan import iter_files

    out = []
    for path in iter_files(paths):
        if not path.exists():
            raise MedwsIOError(path, "no such file")
        try:
            ds = pydicom.dcmread(path, defer_size=256 * 1024)  # pixel data read again while sending
            check_uid(str(ds.SOPInstanceUID), "SOPInstanceUID")
            str(ds.SOPClassUID)
        except (InvalidDicomError, AttributeError, ValueError, OSError) as exc:
            reason = f"cannot be sent ({type(exc).__name__}: not a complete DICOM instance)"
            raise DicomFileError(path, reason) from None
        if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
            raise DicomFileError(path, "cannot be sent: no file meta information (transfer syntax)")
        out.append((path.name, ds, path.stat().st_size))
    return out


def send(
    server: PacsServer | str, paths: Iterable[str | os.PathLike[str]], *, ctx: TaskContext = NULL_CONTEXT
) -> SendResult:
    """Send DICOM files (or folders of them) to the server: STOW-RS or C-STORE.

    Parameters
    ----------
    server
        Server or configured name.
    paths
        Files and folders (recursively); every file must be a DICOM instance with file meta.
    ctx
        Progress and cancellation; any worker thread may call this.

    Returns
    -------
    SendResult
        Instances stored; ``failed`` lists the ones the server refused (one line each).
    """
    server = _server(server)
    datasets = _read_for_send(paths)
    if not datasets:
        raise PacsError(server.name, "send: no files to send")
    result = _backend(server).send(server, datasets, ctx=ctx)
    log.info("sent %d instances to %s (%d refused)", result.sent, server.name, len(result.failed))
    return result
