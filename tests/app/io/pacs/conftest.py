"""A real Orthanc on loopback for the PACS tests (started by PID, never through the init script).

``orthanc`` is one server per test session with the lung1 CT and a small synthetic study uploaded;
tests that kill a server start their own with :func:`start_orthanc`. Skipped, with the reason, only
when the Debian packages ``orthanc`` / ``orthanc-dicomweb`` are not installed (``make test``
installs them when run as root).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest

_HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("medws_test_orthanc_server", _HERE / "orthanc_server.py")
orthanc_server = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = orthanc_server
_spec.loader.exec_module(orthanc_server)

OWN_AET = "MEDWSTEST"
SYNTH_NAME = "Synthetic^Test"
SYNTH_ACCESSION = "ACC-0042"
SYNTH_DATE = "20200315"


@dataclass
class Uploaded:
    """What a test server holds: lung1 (real CT) and a small synthetic MR study."""

    server: object
    own_port: int
    lung1_study: str
    lung1_series: str
    lung1_files: list[Path]
    synth_study: str
    synth_series: str
    user: str = orthanc_server.USER
    password: str = orthanc_server.PASSWORD
    synth_date: str = SYNTH_DATE
    synth_accession: str = SYNTH_ACCESSION


def start_orthanc(root: Path, own_port: int) -> object:
    """Start an Orthanc under ``root`` that knows MedWS's C-MOVE SCP (``OWN_AET`` at ``own_port``)."""
    reason = orthanc_server.unavailable_reason()
    if reason:
        pytest.skip(reason)
    return orthanc_server.OrthancServer(root, {"MEDWS": (OWN_AET, "127.0.0.1", own_port)}).start()


def write_synthetic(folder: Path) -> list[Path]:
    """Write a 4-slice 32×32 MR series with a known date and accession number."""
    from app.io.dicom_write import write_dicom_series
    from app.model.geometry import Geometry

    arr = (np.arange(4 * 32 * 32).reshape(4, 32, 32) % 500).astype(np.int16)
    paths = write_dicom_series(arr, Geometry((4, 32, 32), (3.0, 1.0, 1.0), (0.0, 0.0, 0.0)), folder,
                               modality="MR", patient_name=SYNTH_NAME, patient_id="SYN-7",
                               uid_seed="pacs-synthetic")
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.AccessionNumber = SYNTH_ACCESSION
        ds.StudyDate = SYNTH_DATE
        ds.save_as(p)
    return paths


def upload_all(server, own_port: int, tmp: Path) -> Uploaded:
    from app.io.samples import get_sample

    lung1 = sorted(Path(get_sample("lung1-dicom").path).glob("*"))
    lung1 = [p for p in lung1 if p.is_file()]
    server.upload(lung1)
    synth = write_synthetic(tmp / "synthetic")
    server.upload(synth)
    first = pydicom.dcmread(lung1[0], stop_before_pixels=True)
    s0 = pydicom.dcmread(synth[0], stop_before_pixels=True)
    return Uploaded(server, own_port, str(first.StudyInstanceUID), str(first.SeriesInstanceUID), lung1,
                    str(s0.StudyInstanceUID), str(s0.SeriesInstanceUID))


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory, real_samples):
    """One Orthanc for the session, holding lung1 and the synthetic study."""
    root = tmp_path_factory.mktemp("orthanc")
    own_port = orthanc_server.free_port()
    server = start_orthanc(root / "server", own_port)
    try:
        yield upload_all(server, own_port, root)
    finally:
        server.stop()


@pytest.fixture
def web(orthanc, monkeypatch):
    """A DICOMweb PacsServer for the session Orthanc (basic auth; password in the env var)."""
    from app.io.pacs.servers import PacsServer, secret_env_var

    monkeypatch.setenv(secret_env_var("orthanc-web"), orthanc_server.PASSWORD)
    return PacsServer("orthanc-web", url=orthanc.server.dicomweb_url, auth="basic", user=orthanc_server.USER)


def dimse_for(uploaded: Uploaded, retrieve: str = "move", name: str = "orthanc-dimse"):
    """A DIMSE PacsServer for an uploaded Orthanc."""
    from app.io.pacs.servers import PacsServer

    return PacsServer(name, ae_title=orthanc_server.AET, host="127.0.0.1", port=uploaded.server.dicom_port,
                      own_ae_title=OWN_AET, own_port=uploaded.own_port, retrieve=retrieve, timeout_s=10.0)


@pytest.fixture(params=["move", "get"])
def dimse(orthanc, request):
    """A DIMSE PacsServer for the session Orthanc, retrieving by C-MOVE and by C-GET."""
    return dimse_for(orthanc, request.param, name=f"orthanc-{request.param}")


@pytest.fixture
def dimse_factory(orthanc):
    """Factory: ``dimse_factory(retrieve, uploaded=session Orthanc)`` → a DIMSE PacsServer."""

    def make(retrieve: str = "move", uploaded: Uploaded | None = None):
        return dimse_for(uploaded or orthanc, retrieve, name=f"dimse-{retrieve}")

    return make


@pytest.fixture
def private_orthanc(tmp_path, real_samples):
    """An Orthanc of the test's own (killed and restarted by the test), holding lung1."""
    own_port = orthanc_server.free_port()
    server = start_orthanc(tmp_path / "server", own_port)
    try:
        yield upload_all(server, own_port, tmp_path)
    finally:
        server.kill()  # its storage is thrown away: no need for the 2 s graceful stop


@pytest.fixture(scope="session")
def lung1_seg(tmp_path_factory, real_samples):
    """A DICOM SEG of the lung1 tumour made by MedWS's exporter (references the lung1 series)."""
    from app.io.export import export
    from app.io.export.inputs import load_plain_case
    from app.io.samples import get_sample

    info = get_sample("lung1-dicom")
    case, _ = load_plain_case(info.path, info.mask_path)
    out = tmp_path_factory.mktemp("seg") / "out"
    export("dicom-seg", [case], out)
    (seg,) = sorted(out.rglob("SEG*.dcm"))
    return seg


@pytest.fixture
def private_web(private_orthanc, monkeypatch):
    """A DICOMweb PacsServer for the test's own Orthanc."""
    from app.io.pacs.servers import PacsServer, secret_env_var

    monkeypatch.setenv(secret_env_var("private-web"), orthanc_server.PASSWORD)
    return PacsServer("private-web", url=private_orthanc.server.dicomweb_url, auth="basic", user=orthanc_server.USER,
                      timeout_s=10.0)


@pytest.fixture
def https_stub(tmp_path):
    """A minimal DICOMweb QIDO stub over HTTPS (self-signed for 127.0.0.1): ``(base_url, cert_path)``.

    Orthanc 1.10.1's own HTTPS (Debian build, OpenSSL 3) resets every connection after the TLS
    handshake here, so certificate verification is tested against this stub instead.
    """
    import http.server
    import ssl
    import threading

    pems = orthanc_server.self_signed_pem(tmp_path)
    if pems is None:
        pytest.skip("openssl is needed to make the test certificate")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile=str(pems[1]), keyfile=str(pems[0]))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/dicom-web", pems[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
