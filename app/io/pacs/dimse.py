"""DIMSE client (``pynetdicom``): C-ECHO, C-FIND, C-MOVE to our own storage SCP or C-GET, C-STORE.

C-MOVE asks the PACS to send the instances to MedWS's own AE (``server.own_ae_title``), which the
PACS must know as a modality with this machine's host and ``server.own_port``; a storage SCP
listens on that port for the duration of the retrieve only and accepts just the instances it
asked for. C-GET needs no listening port: the instances come back on the same association.

pynetdicom logs C-FIND/C-MOVE identifiers (patient names) at INFO level: its identifier logging is
switched off (``pynetdicom._config``) and its logger raised to WARNING unless the application
configured it explicitly.

Thread rule: any thread. pynetdicom runs the association (and the SCP's C-STORE handler) in its
own threads; instances are written by :class:`~app.io.pacs.storage.SeriesStore` from there.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from analysis._task import NULL_CONTEXT, Cancelled, TaskContext
from app.io.pacs._common import (
    InstanceRef,
    PacsError,
    SendResult,
    SeriesResult,
    StudyQuery,
    StudyResult,
    as_int,
    check_uid,
)
from app.io.pacs.servers import PacsServer

if TYPE_CHECKING:
    from pydicom import Dataset

    from app.io.pacs.storage import SeriesStore

log = logging.getLogger(__name__)
if logging.getLogger("pynetdicom").level == logging.NOTSET:
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)

_PENDING = (0xFF00, 0xFF01)
_MAX_CONTEXTS = 120  # pynetdicom allows 128 requested presentation contexts
_UIDS_PER_REQUEST = 64  # SOP Instance UIDs in one IMAGE-level C-GET/C-MOVE (resume)
_LISTEN_RETRY_S = 2.0  # how long to wait for the previous C-MOVE storage SCP to free the port


def _no_identifier_logging() -> None:
    """Stop pynetdicom from logging request/response identifiers (patient tags) at any level."""
    from pynetdicom import _config

    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False


def _transfer_syntaxes() -> list[str]:
    from pydicom import uid

    return [
        uid.ExplicitVRLittleEndian,
        uid.ImplicitVRLittleEndian,
        uid.JPEGLosslessSV1,
        uid.JPEG2000Lossless,
        uid.JPEGLSLossless,
        uid.RLELossless,
        uid.JPEGBaseline8Bit,
        uid.JPEG2000,
        uid.JPEGExtended12Bit,
    ]


def _default_storage_classes() -> list[str]:
    from pynetdicom import sop_class as sc

    return [
        sc.CTImageStorage,
        sc.MRImageStorage,
        sc.EnhancedCTImageStorage,
        sc.EnhancedMRImageStorage,
        sc.PositronEmissionTomographyImageStorage,
        sc.SegmentationStorage,
        sc.ComprehensiveSRStorage,
        sc.EnhancedSRStorage,
        sc.BasicTextSRStorage,
        sc.SecondaryCaptureImageStorage,
        sc.RTStructureSetStorage,
        sc.DigitalXRayImageStorageForPresentation,
        sc.UltrasoundImageStorage,
    ]


def _ae(server: PacsServer):  # noqa: ANN202 - pynetdicom AE
    from pynetdicom import AE

    _no_identifier_logging()
    ae = AE(ae_title=server.own_ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = server.timeout_s
    ae.connection_timeout = server.timeout_s
    return ae


def _reachable(server: PacsServer, action: str) -> None:
    """Raise a clear :class:`PacsError` when nothing listens at the server's address.

    pynetdicom would also fail, but leaks its socket when the connection is refused (a
    ResourceWarning) and only logs the reason.
    """
    try:
        with socket.create_connection((server.host, int(server.port)), timeout=server.timeout_s):
            pass
    except socket.gaierror:
        raise PacsError(server.name, f"{action}: unknown host {server.host}") from None
    except TimeoutError:
        raise PacsError(server.name, f"{action}: {server.host}:{server.port} did not answer within "
                                     f"{server.timeout_s:g} s") from None
    except OSError as exc:
        raise PacsError(server.name, f"{action}: {server.ae_title} cannot be reached at {server.host}:{server.port} "
                                     f"({exc.strerror or type(exc).__name__})") from None


@contextmanager
def _association(server: PacsServer, ae, action: str, **kwargs: Any) -> Iterator[Any]:  # noqa: ANN001
    """Open an association for ``action``; always released (or aborted on error) at exit."""
    _reachable(server, action)
    assoc = ae.associate(server.host, int(server.port), ae_title=server.ae_title, **kwargs)
    if not assoc.is_established:
        if assoc.is_rejected:
            why = "rejected the association (is MedWS's AE title known to the PACS?)"
        else:
            why = f"cannot be reached at {server.host}:{server.port}"
        raise PacsError(server.name, f"{action}: {server.ae_title} {why}")
    raw = _raw_socket(assoc)
    try:
        yield assoc
    except BaseException:
        assoc.abort()
        raise
    else:
        if assoc.is_established:
            assoc.release()
    finally:
        _close(raw)


def _raw_socket(assoc: Any) -> socket.socket | None:
    return getattr(getattr(getattr(assoc, "dul", None), "socket", None), "socket", None)


def _close(raw: socket.socket | None) -> None:
    """Close an association's TCP socket after pynetdicom is done with it.

    pynetdicom 3.0 skips ``close()`` when ``shutdown()`` fails, which it does once the peer has
    died (ENOTCONN): the socket would leak (a ResourceWarning in the killed-server tests).
    """
    if raw is not None:
        try:
            raw.close()
        except OSError:
            pass


def _check_final(server: PacsServer, action: str, status: Any) -> None:
    if not status or "Status" not in status:
        raise PacsError(server.name, f"{action}: connection lost or timed out (no DIMSE response)")
    code = int(status.Status)
    if code not in (0x0000, 0xB000) and code not in _PENDING:
        raise PacsError(server.name, f"{action}: failed with DIMSE status 0x{code:04X}")


# ----------------------------------------------------------------------------- echo and find
def echo(server: PacsServer) -> float:
    """Send a C-ECHO; return the round trip in seconds."""
    from pynetdicom.sop_class import Verification

    t0 = time.perf_counter()
    ae = _ae(server)
    ae.add_requested_context(Verification)
    with _association(server, ae, "echo") as assoc:
        status = assoc.send_c_echo()
        _check_final(server, "echo", status)
    return time.perf_counter() - t0


def _find(server: PacsServer, identifier: Dataset, action: str) -> list[Dataset]:
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as Find

    ae = _ae(server)
    ae.add_requested_context(Find)
    out = []
    with _association(server, ae, action) as assoc:
        final = None
        for status, ident in assoc.send_c_find(identifier, Find):
            final = status
            if status and int(status.Status) in _PENDING and ident is not None:
                out.append(ident)
        _check_final(server, action, final)
    return out


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def find_studies(server: PacsServer, query: StudyQuery) -> list[StudyResult]:
    """C-FIND at STUDY level (Study Root); wildcards are sent as typed."""
    from pydicom import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = query.study_uid
    ds.PatientName = query.patient_name
    ds.PatientID = query.patient_id
    ds.StudyDate = query.study_date
    ds.StudyTime = ""
    ds.AccessionNumber = query.accession_number
    ds.StudyDescription = ""
    ds.ModalitiesInStudy = query.modality
    ds.NumberOfStudyRelatedSeries = None
    ds.NumberOfStudyRelatedInstances = None
    out = []
    for r in _find(server, ds, "study search")[: query.limit or None]:
        try:
            uid = check_uid(_text(r, "StudyInstanceUID"))
        except ValueError:
            continue
        mods = r.get("ModalitiesInStudy", "")
        mods = tuple(str(m) for m in mods) if not isinstance(mods, str) else tuple(m for m in mods.split("\\") if m)
        out.append(
            StudyResult(
                uid,
                _text(r, "PatientName"),
                _text(r, "PatientID"),
                _text(r, "StudyDate"),
                _text(r, "StudyTime"),
                _text(r, "StudyDescription"),
                _text(r, "AccessionNumber"),
                mods,
                as_int(r.get("NumberOfStudyRelatedSeries")),
                as_int(r.get("NumberOfStudyRelatedInstances")),
            )
        )
    return out


def find_series(server: PacsServer, study_uid: str) -> list[SeriesResult]:
    """C-FIND at SERIES level for one study."""
    from pydicom import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = check_uid(study_uid, "StudyInstanceUID")
    ds.SeriesInstanceUID = ""
    ds.Modality = ""
    ds.SeriesNumber = None
    ds.SeriesDescription = ""
    ds.NumberOfSeriesRelatedInstances = None
    out = []
    for r in _find(server, ds, "series search"):
        try:
            uid = check_uid(_text(r, "SeriesInstanceUID"))
        except ValueError:
            continue
        out.append(
            SeriesResult(
                uid,
                study_uid,
                _text(r, "Modality"),
                as_int(r.get("SeriesNumber")),
                _text(r, "SeriesDescription"),
                as_int(r.get("NumberOfSeriesRelatedInstances")),
            )
        )
    return out


def list_instances(server: PacsServer, study_uid: str, series_uid: str) -> list[InstanceRef]:
    """C-FIND at IMAGE level: the SOP Instance (and class) UIDs of one series."""
    from pydicom import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "IMAGE"
    ds.StudyInstanceUID = check_uid(study_uid)
    ds.SeriesInstanceUID = check_uid(series_uid)
    ds.SOPInstanceUID = ""
    ds.SOPClassUID = ""
    out = []
    for r in _find(server, ds, "instance search"):
        try:
            out.append(InstanceRef(check_uid(_text(r, "SOPInstanceUID")), _text(r, "SOPClassUID")))
        except ValueError:
            continue
    return out


# ----------------------------------------------------------------------------- retrieve
def _store_handler(store: SeriesStore, wanted: set[str], on_stored: Callable[[], None]) -> Callable[[Any], int]:
    def handle(event: Any) -> int:
        sop = str(event.request.AffectedSOPInstanceUID)
        if sop not in wanted:
            return 0xC000  # not asked for: refuse rather than store strangers' data
        try:
            store.write(sop, event.encoded_dataset())
        except Exception:  # logged without PHI; the retrieve then reports the missing count
            log.exception("could not store a retrieved instance")
            return 0xA700
        on_stored()
        return 0x0000

    return handle


def _identifiers(study_uid: str, series_uid: str, missing: set[str], whole: bool) -> list[Dataset]:
    """Return the C-GET/C-MOVE identifiers: the whole series, or IMAGE level with UID lists (resume)."""
    from pydicom import Dataset

    def make(level: str, sops: list[str] | None = None) -> Dataset:
        ds = Dataset()
        ds.QueryRetrieveLevel = level
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        if sops:
            ds.SOPInstanceUID = sops if len(sops) > 1 else sops[0]  # UID list matching (PS3.4 C.2.2.2.2)
        return ds

    if whole:
        return [make("SERIES")]
    todo = sorted(missing)
    return [make("IMAGE", todo[i : i + _UIDS_PER_REQUEST]) for i in range(0, len(todo), _UIDS_PER_REQUEST)]


def retrieve_series(
    server: PacsServer,
    study_uid: str,
    series_uid: str,
    instances: list[InstanceRef],
    missing: set[str],
    store: SeriesStore,
    *,
    ctx: TaskContext = NULL_CONTEXT,
) -> None:
    """Retrieve the ``missing`` instances of a series by C-MOVE or C-GET (``server.retrieve``) into ``store``.

    The whole series is requested at SERIES level when nothing is present yet; on resume, the
    missing instances are requested at IMAGE level with lists of SOP Instance UIDs. Raises
    :class:`PacsError` when instances are still missing at the end (lost connection, refused
    sub-operations).
    """
    expected = len(instances)
    wanted = set(missing)
    whole = len(missing) == expected
    base = expected - len(missing)

    def progress() -> None:  # called from pynetdicom's thread: report only, never raise there
        n = base + store.written
        ctx.report(n / max(1, expected), f"{n}/{expected} instances")

    handler = _store_handler(store, wanted, progress)
    requests = _identifiers(study_uid, series_uid, missing, whole)
    classes = sorted({i.sop_class_uid for i in instances if i.sop_class_uid}) or _default_storage_classes()
    if server.retrieve == "get":
        _c_get(server, requests, classes[:_MAX_CONTEXTS], handler, ctx)
    else:
        _c_move(server, requests, handler, ctx)
    still = store.missing(wanted)
    if still:
        raise PacsError(
            server.name,
            f"retrieve: received {expected - len(still)} of {expected} instances "
            "(connection lost or sub-operations failed); retry to resume",
        )


def _run_requests(
    server: PacsServer,
    assoc: Any,
    send: Callable[[Dataset], Iterator],
    requests: list[Dataset],
    action: str,
    ctx: TaskContext,
) -> None:
    for identifier in requests:
        final = None
        for status, _ in send(identifier):
            final = status
            if ctx.is_cancelled():
                raise Cancelled
        _check_final(server, action, final)


def _c_get(
    server: PacsServer, requests: list[Dataset], classes: list[str], handler: Callable, ctx: TaskContext
) -> None:
    from pynetdicom import build_role, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as Get

    ae = _ae(server)
    ae.add_requested_context(Get)
    for cls in classes:
        ae.add_requested_context(cls, _transfer_syntaxes())
    roles = [build_role(cls, scp_role=True) for cls in classes]
    with _association(
        server, ae, "retrieve (C-GET)", ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, handler)]
    ) as assoc:
        _run_requests(server, assoc, lambda ds: assoc.send_c_get(ds, Get), requests, "retrieve (C-GET)", ctx)


def _c_move(server: PacsServer, requests: list[Dataset], handler: Callable, ctx: TaskContext) -> None:
    from pynetdicom import AllStoragePresentationContexts, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove as Move

    scp = _ae(server)
    for context in AllStoragePresentationContexts:
        scp.add_supported_context(context.abstract_syntax, _transfer_syntaxes())
    incoming: list[socket.socket | None] = []
    handlers = [
        (evt.EVT_C_STORE, handler),
        (evt.EVT_CONN_OPEN, lambda event: incoming.append(_raw_socket(event.assoc))),
    ]
    try:
        listener = _listen(scp, int(server.own_port), handlers)
    except OSError as exc:
        raise PacsError(
            server.name,
            f"retrieve (C-MOVE): cannot listen on port {server.own_port} for the "
            f"incoming instances ({exc.strerror or exc})",
        ) from None
    try:
        ae = _ae(server)
        ae.add_requested_context(Move)
        with _association(server, ae, "retrieve (C-MOVE)") as assoc:
            _run_requests(
                server,
                assoc,
                lambda ds: assoc.send_c_move(ds, server.own_ae_title, Move),
                requests,
                "retrieve (C-MOVE)",
                ctx,
            )
    finally:
        # socketserver's shutdown() waits up to its 0.5 s poll interval: done in the background, so
        # the retrieve returns at once; the next _listen() on this port retries until it is free.
        threading.Thread(target=_stop_listener, args=(listener, incoming), name="medws-move-scp-stop",
                         daemon=True).start()


def _listen(scp: Any, port: int, handlers: list) -> Any:
    """Start the C-MOVE storage SCP on ``port``, retrying briefly while a previous one stops."""
    deadline = time.monotonic() + _LISTEN_RETRY_S
    while True:
        try:
            return scp.start_server(("", port), block=False, evt_handlers=handlers)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _stop_listener(listener: Any, incoming: list[socket.socket | None]) -> None:
    listener.shutdown()
    for raw in incoming:
        _close(raw)


# ----------------------------------------------------------------------------- store
def send(server: PacsServer, datasets: list[tuple[str, Any, int]], *, ctx: TaskContext = NULL_CONTEXT) -> SendResult:
    """C-STORE datasets (``(label, Dataset, nbytes)``) on one association; failures are listed, not raised."""
    from pydicom import uid

    result = SendResult()
    pairs = sorted({(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for _, ds, _ in datasets})
    by_class: dict[str, set[str]] = {}
    for cls, ts in pairs:
        by_class.setdefault(cls, {uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian}).add(ts)
    if len(by_class) > _MAX_CONTEXTS:
        raise PacsError(server.name, f"send: {len(by_class)} SOP classes in one send; split it")
    ae = _ae(server)
    for cls, syntaxes in by_class.items():
        ae.add_requested_context(cls, sorted(syntaxes))
    total = max(1, len(datasets))
    with _association(server, ae, "send (C-STORE)") as assoc:
        for n, (label, ds, nbytes) in enumerate(datasets):
            ctx.step(n / total, f"{n}/{len(datasets)} sent")
            status = assoc.send_c_store(ds)
            if not status or "Status" not in status:
                raise PacsError(server.name, f"send (C-STORE): connection lost after {result.sent} instances")
            code = int(status.Status)
            if code in (0x0000, 0xB000, 0xB007, 0xB006):
                result.sent += 1
                result.bytes_sent += nbytes
            else:
                result.failed.append(f"{label}: refused (DIMSE status 0x{code:04X})")
    ctx.step(1.0, f"{result.sent}/{len(datasets)} sent")
    return result
