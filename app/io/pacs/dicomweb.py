"""DICOMweb client: QIDO-RS search, WADO-RS retrieve, STOW-RS store (``dicomweb-client`` + ``requests``).

QIDO query strings are built here rather than by ``dicomweb-client``: it percent-encodes ``*``,
``?`` and ``^``, and Orthanc 1.10 does not decode query values, so a name or wildcard search then
matches nothing. Values are sent with the wildcard characters raw (legal in a URL query); in the
matching attributes (names, IDs, accession, description) every other character outside the safe
URL set, ``^`` included, becomes the single-character wildcard ``?`` (``Doe^John`` → ``Doe?John``),
which every server matches the same way. Other values are percent-encoded as usual.

WADO-RS responses are read by :mod:`app.io.pacs._multipart` (strict about truncation, bytes kept
unchanged); STOW-RS goes through ``dicomweb-client``, whose logger is kept at INFO (it logs
request URLs, with the query, at DEBUG).
Errors become one-line :class:`PacsError` messages naming the server and the failed step, never
the URL query (patient keys) or a secret. Thread rule: any thread; one call = one HTTP session.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from analysis._task import NULL_CONTEXT, Cancelled, TaskContext
from app.io.errors import MedwsIOError
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
from app.io.pacs._multipart import TruncatedMultipart, boundary_of, iter_parts
from app.io.pacs.servers import PacsServer, get_secret, secret_env_var

if TYPE_CHECKING:
    import requests
    from dicomweb_client import DICOMwebClient

    from app.io.pacs.storage import SeriesStore

log = logging.getLogger(__name__)
# dicomweb-client logs every request URL (QIDO patient keys) at DEBUG: keep it at INFO unless configured.
if logging.getLogger("dicomweb_client").level == logging.NOTSET:
    logging.getLogger("dicomweb_client").setLevel(logging.INFO)

_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~*?,")
_MATCHING = frozenset({"PatientName", "PatientID", "AccessionNumber", "StudyDescription", "ReferringPhysicianName"})
_STUDY_FIELDS = (
    "00080020",
    "00080030",
    "00080050",
    "00080061",
    "00081030",
    "00100010",
    "00100020",
    "00201206",
    "00201208",
)
_SERIES_FIELDS = ("00080060", "0008103E", "00200011", "00201209")
_STOW_BATCH_BYTES = 32 * 1024 * 1024
_CHUNK_BYTES = 1024 * 1024
_SOP_INSTANCE_UID = 0x00080018
_WADO_ACCEPT = 'multipart/related; type="application/dicom"'


# ----------------------------------------------------------------------------- sessions and errors
def _session(server: PacsServer) -> requests.Session:
    import requests

    session = requests.Session()
    session.verify = True  # never off: https is always verified
    if server.ca_bundle:
        # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment override session.verify per request
        # (requests #3829): an adapter pins the server's own CA bundle instead.
        session.mount("https://", _pinned_ca_adapter(server.ca_bundle))
    session.headers["User-Agent"] = "MedWS"
    if server.auth != "none":
        secret = get_secret(server.name)
        if not secret:
            raise PacsError(
                server.name,
                f"no {'password' if server.auth == 'basic' else 'token'} for this server: store it with "
                f"`medws pacs add` (keyring) or set {secret_env_var(server.name)}",
            )
        if server.auth == "basic":
            session.auth = (server.user, secret)
        else:
            session.headers["Authorization"] = f"Bearer {secret}"
    return session


def _pinned_ca_adapter(ca_bundle: str):  # noqa: ANN202 - requests HTTPAdapter
    from requests.adapters import HTTPAdapter

    class PinnedCA(HTTPAdapter):
        def send(self, request, **kwargs):  # noqa: ANN001, ANN003, ANN202
            kwargs["verify"] = ca_bundle
            return super().send(request, **kwargs)

    return PinnedCA()


def _client(server: PacsServer, session: requests.Session) -> DICOMwebClient:
    from dicomweb_client import DICOMwebClient

    client = DICOMwebClient(server.url, session=session, timeout=(server.timeout_s, server.timeout_s))
    client.set_http_retry_params(retry=True, max_attempts=2, wait_exponential_multiplier=200)
    return client


@contextmanager
def _errors(server: PacsServer, action: str) -> Iterator[None]:
    """Turn network/HTTP failures into one-line :class:`PacsError` (no URL query, no secret)."""
    import requests
    import urllib3
    from pydicom.errors import InvalidDicomError

    host = urlsplit(server.url).netloc
    try:
        yield
    except (PacsError, Cancelled, MedwsIOError):
        raise
    except requests.exceptions.SSLError:
        raise PacsError(
            server.name,
            f"{action}: TLS certificate of {host} could not be verified "
            "(set the server's CA bundle if it uses a private CA)",
        ) from None
    except requests.exceptions.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else 0
        if code in (401, 403):
            raise PacsError(
                server.name, f"{action}: authentication failed (HTTP {code}); check the user name and password/token"
            ) from None
        raise PacsError(server.name, f"{action}: server answered HTTP {code}") from None
    except requests.exceptions.Timeout:
        raise PacsError(server.name, f"{action}: no answer from {host} within {server.timeout_s:g} s") from None
    except requests.exceptions.ConnectionError as exc:
        what = "refused or unreachable" if "refused" in str(exc).lower() or "resolve" in str(exc).lower() else "lost"
        raise PacsError(server.name, f"{action}: connection to {host} {what}") from None
    except (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError, ConnectionError):
        raise PacsError(server.name, f"{action}: connection to {host} lost mid-transfer") from None
    except requests.exceptions.RequestException as exc:
        raise PacsError(server.name, f"{action}: request failed ({type(exc).__name__})") from None
    except TruncatedMultipart:
        raise PacsError(server.name, f"{action}: connection to {host} lost mid-transfer") from None
    except (ValueError, InvalidDicomError) as exc:  # malformed JSON / multipart / DICOM from the server
        raise PacsError(server.name, f"{action}: unexpected answer from the server ({type(exc).__name__})") from None


# ----------------------------------------------------------------------------- QIDO
def qido_value(keyword: str, value: str) -> str:
    """Encode one QIDO query value so that wildcard matching works on Orthanc and standard servers."""
    out = []
    for ch in str(value):
        if ch in _SAFE:
            out.append(ch)
        elif keyword in _MATCHING:
            out.append("?")
        else:
            out.append(quote(ch, safe=""))
    return "".join(out)


def qido_query_string(filters: dict[str, str], fields: tuple[str, ...] = (), limit: int | None = None) -> str:
    """Return ``?key=value&...`` for QIDO (see :func:`qido_value`); empty filters are left out."""
    parts = [f"{k}={qido_value(k, v)}" for k, v in filters.items() if v]
    parts += [f"includefield={f}" for f in fields]
    if limit:
        parts.append(f"limit={int(limit)}")
    return ("?" + "&".join(parts)) if parts else ""


def _value(item: dict[str, Any], tag: str) -> Any:
    values = (item.get(tag) or {}).get("Value") or []
    if not values:
        return None
    first = values[0]
    if isinstance(first, dict):  # PN
        return first.get("Alphabetic", "")
    return first


def _values(item: dict[str, Any], tag: str) -> tuple[str, ...]:
    return tuple(str(v) for v in (item.get(tag) or {}).get("Value") or [] if v is not None)


def _text(item: dict[str, Any], tag: str) -> str:
    v = _value(item, tag)
    return "" if v is None else str(v)


def _get_json(server: PacsServer, session: requests.Session, path: str, query: str) -> list[dict[str, Any]]:
    response = session.get(
        server.url + path + query,
        headers={"Accept": "application/dicom+json"},
        timeout=(server.timeout_s, server.timeout_s),
    )
    response.raise_for_status()
    if response.status_code == 204 or not response.content:
        return []
    data = response.json()
    return [data] if isinstance(data, dict) else list(data)


def find_studies(server: PacsServer, query: StudyQuery) -> list[StudyResult]:
    """Search studies with QIDO-RS; return one :class:`StudyResult` per study."""
    filters = {
        "PatientName": query.patient_name,
        "PatientID": query.patient_id,
        "StudyDate": query.study_date,
        "ModalitiesInStudy": query.modality,
        "AccessionNumber": query.accession_number,
        "StudyInstanceUID": query.study_uid,
    }
    with _errors(server, "study search"):
        session = _session(server)
        rows = _get_json(server, session, "/studies", qido_query_string(filters, _STUDY_FIELDS, query.limit))
    out = []
    for item in rows:
        try:
            uid = check_uid(_text(item, "0020000D"))
        except ValueError:
            continue
        out.append(
            StudyResult(
                study_uid=uid,
                patient_name=_text(item, "00100010"),
                patient_id=_text(item, "00100020"),
                study_date=_text(item, "00080020"),
                study_time=_text(item, "00080030"),
                description=_text(item, "00081030"),
                accession_number=_text(item, "00080050"),
                modalities=_values(item, "00080061"),
                n_series=as_int(_value(item, "00201206")),
                n_instances=as_int(_value(item, "00201208")),
            )
        )
    return out


def find_series(server: PacsServer, study_uid: str) -> list[SeriesResult]:
    """List the series of a study with QIDO-RS."""
    study_uid = check_uid(study_uid, "StudyInstanceUID")
    with _errors(server, "series search"):
        query = qido_query_string({}, _SERIES_FIELDS)
        rows = _get_json(server, _session(server), f"/studies/{study_uid}/series", query)
    out = []
    for item in rows:
        try:
            uid = check_uid(_text(item, "0020000E"))
        except ValueError:
            continue
        out.append(
            SeriesResult(
                uid,
                study_uid,
                _text(item, "00080060"),
                as_int(_value(item, "00200011")),
                _text(item, "0008103E"),
                as_int(_value(item, "00201209")),
            )
        )
    return out


def list_instances(server: PacsServer, study_uid: str, series_uid: str) -> list[InstanceRef]:
    """List the instances of a series with QIDO-RS."""
    path = f"/studies/{check_uid(study_uid)}/series/{check_uid(series_uid)}/instances"
    with _errors(server, "instance search"):
        rows = _get_json(server, _session(server), path, qido_query_string({}, ("00080016",)))
    return [InstanceRef(check_uid(_text(r, "00080018")), _text(r, "00080016")) for r in rows if _text(r, "00080018")]


def echo(server: PacsServer) -> float:
    """Check that the server answers an authenticated QIDO request; return the round trip in seconds."""
    t0 = time.perf_counter()
    with _errors(server, "echo"):
        _get_json(server, _session(server), "/studies", "?limit=1")
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- WADO
def _sop_uid(part: bytes) -> str:
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(part), stop_before_pixels=True, specific_tags=[_SOP_INSTANCE_UID])
    return str(ds.get("SOPInstanceUID", ""))


def _stream_instances(
    server: PacsServer, session: requests.Session, path: str, ctx: TaskContext = NULL_CONTEXT
) -> Iterator[bytes]:
    """Yield the Part-10 bytes of each instance of a WADO-RS multipart response, unchanged.

    Cancellation is checked at every received chunk (1 MB), so a large multi-frame instance
    does not delay it.
    """
    with session.get(server.url + path, headers={"Accept": _WADO_ACCEPT}, stream=True,
                     timeout=(server.timeout_s, server.timeout_s)) as response:
        response.raise_for_status()
        boundary = boundary_of(response.headers.get("Content-Type", ""))

        def chunks() -> Iterator[bytes]:
            for chunk in response.iter_content(chunk_size=_CHUNK_BYTES):
                ctx.check()
                yield chunk

        yield from iter_parts(chunks(), boundary)


def retrieve_series(
    server: PacsServer,
    study_uid: str,
    series_uid: str,
    missing: set[str],
    expected: int,
    store: SeriesStore,
    *,
    ctx: TaskContext = NULL_CONTEXT,
) -> None:
    """Retrieve the ``missing`` instances of a series with WADO-RS into ``store``.

    When nothing of the series is present yet, the whole series comes in one streamed multipart
    response; otherwise (resume) only the missing instances are requested, one by one. Each
    instance is written as the server sent it, and only once its part is complete.

    Parameters
    ----------
    missing
        SOP Instance UIDs to fetch (updated as they arrive).
    expected
        Number of instances in the series (progress denominator).
    ctx
        Progress per instance; cancellation between instances (the stream is closed).
    """
    base = f"/studies/{check_uid(study_uid)}/series/{check_uid(series_uid)}"
    if len(missing) == expected:
        paths = [base]
    else:
        paths = [f"{base}/instances/{check_uid(uid)}" for uid in sorted(missing)]
    done = expected - len(missing)
    with _errors(server, "retrieve"):
        session = _session(server)
        try:
            for path in paths:
                for part in _stream_instances(server, session, path, ctx):
                    sop = _sop_uid(part)
                    if sop not in missing:
                        continue  # already present (or a stray instance): nothing to write
                    store.write(sop, part)
                    missing.discard(sop)
                    done += 1
                    ctx.step(done / max(1, expected), f"{done}/{expected} instances")
        finally:
            session.close()
    if missing:
        raise PacsError(server.name, f"retrieve: server sent {expected - len(missing)} of {expected} instances")


# ----------------------------------------------------------------------------- STOW
def send(server: PacsServer, datasets: list[tuple[str, Any, int]], *, ctx: TaskContext = NULL_CONTEXT) -> SendResult:
    """Store datasets with STOW-RS, in batches of about 32 MB.

    Parameters
    ----------
    datasets
        ``(label, pydicom Dataset, file size in bytes)``; the label (a file name) names failures.
    ctx
        Progress per batch and cancellation between batches.
    """
    result = SendResult()
    with _errors(server, "send"):
        session = _session(server)
        client = _client(server, session)
        batch: list[Any] = []
        size = 0
        total = max(1, len(datasets))

        def flush() -> None:
            nonlocal batch, size
            if not batch:
                return
            reply = client.store_instances([ds for _, ds, _ in batch])
            failed = {
                str(item.ReferencedSOPInstanceUID): str(item.get("FailureReason", "?"))
                for item in reply.get("FailedSOPSequence", [])
            }
            for label, ds, nbytes in batch:
                if str(ds.SOPInstanceUID) in failed:
                    result.failed.append(f"{label}: refused (reason {failed[str(ds.SOPInstanceUID)]})")
                else:
                    result.sent += 1
                    result.bytes_sent += nbytes
            batch, size = [], 0
            ctx.step(result.sent / total, f"{result.sent}/{len(datasets)} sent")

        try:
            for label, ds, nbytes in datasets:
                ctx.check()
                if batch and size + nbytes > _STOW_BATCH_BYTES:
                    flush()
                batch.append((label, ds, nbytes))
                size += nbytes
            flush()
        finally:
            session.close()
    return result
