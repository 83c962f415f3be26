"""Start and stop a private Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) on loopback for tests.

Never uses the Debian init script (it stops every Orthanc on the machine): ``/usr/sbin/Orthanc
CONFIG.json`` is started by hand with its own storage folder and free ports, and stopped by PID.
Also used by ``bench/pacs.py`` (loaded by file path).
"""

from __future__ import annotations

import base64
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ORTHANC_BIN = "/usr/sbin/Orthanc"
PLUGIN_GLOBS = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so*",
    "/usr/local/share/orthanc/plugins/libOrthancDicomWeb.so",
)
AET = "ORTHANCTEST"
USER = "medws-test"
PASSWORD = "s3cret-Pa55-xyz"


def dicomweb_plugin() -> str | None:
    """Return the path of the DICOMweb plugin library, or None when it is not installed."""
    for pattern in PLUGIN_GLOBS:
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[0]
    return None


def unavailable_reason() -> str | None:
    """Return why Orthanc cannot run here (None when it can)."""
    if not (os.path.exists(ORTHANC_BIN) and os.access(ORTHANC_BIN, os.X_OK)):
        return f"{ORTHANC_BIN} missing: install the Debian packages orthanc orthanc-dicomweb (make system-deps)"
    if dicomweb_plugin() is None:
        return "the Orthanc DICOMweb plugin is missing: install the Debian package orthanc-dicomweb"
    return None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OrthancServer:
    """One Orthanc process with its own storage and config under ``root``."""

    root: Path
    modalities: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    http_port: int = 0
    dicom_port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base URL of the REST API."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """Base URL of the DICOMweb API."""
        return f"{self.url}/dicom-web"

    def config(self) -> dict:
        """Return the Orthanc configuration (JSON-ready)."""
        return {
            "Name": "medws-test",
            "StorageDirectory": str(self.root / "storage"),
            "IndexDirectory": str(self.root / "storage"),
            "Plugins": [dicomweb_plugin()],
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": AET,
            "RemoteAccessAllowed": True,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD},
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomModalities": {k: list(v) for k, v in self.modalities.items()},
            "StableAge": 1,
            "HttpTimeout": 60,
            "DicomWeb": {
                "Enable": True,
                "Root": "/dicom-web/",
                "EnableWado": True,
                "WadoRoot": "/wado",
                # Without the port the returned RetrieveURL links point at port 80.
                "Host": f"127.0.0.1:{self.http_port}",
                "Ssl": False,
                "StudiesMetadata": "Full",
                "SeriesMetadata": "Full",
            },
        }

    def start(self, timeout_s: float = 30.0) -> OrthancServer:
        """Write the config, start Orthanc on free ports and wait until its REST API answers."""
        (self.root / "storage").mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            self.http_port, self.dicom_port = free_port(), free_port()
            cfg = self.root / "orthanc.json"
            cfg.write_text(json.dumps(self.config(), indent=1))
            log = open(self.root / "orthanc.log", "ab")  # noqa: SIM115 - closed with the process
            self.proc = subprocess.Popen([ORTHANC_BIN, str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.root, start_new_session=True)
            log.close()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # port raced away or bad config: retry with new ports
                try:
                    self.rest("GET", "/system")
                    return self
                except (OSError, urllib.error.URLError):
                    time.sleep(0.05)
            self.stop()
        tail = (self.root / "orthanc.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"Orthanc did not start; log tail:\n{tail}")

    def stop(self) -> None:
        """Stop this Orthanc by PID (its own process group only) and wait for it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """Kill this Orthanc abruptly (SIGKILL), as a crashed server."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> None:
        """Start the same server again (same storage, same ports) after :meth:`kill` or :meth:`stop`."""
        self.stop()
        log = open(self.root / "orthanc.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([ORTHANC_BIN, str(self.root / "orthanc.json")], stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.rest("GET", "/system")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise RuntimeError("Orthanc did not restart")

    def rest(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"):
        """Call the Orthanc REST API as the test user; return the decoded JSON (or None)."""
        req = urllib.request.Request(self.url + path, data=body, method=method)
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        if body is not None:
            req.add_header("Content-Type", content_type)
        with urllib.request.urlopen(req, timeout=30) as resp:
            data = resp.read()
        return json.loads(data) if data else None

    def upload(self, paths) -> int:
        """Upload DICOM files through the REST API; return how many were stored."""
        n = 0
        for p in paths:
            self.rest("POST", "/instances", Path(p).read_bytes(), "application/dicom")
            n += 1
        return n

    def clear(self) -> None:
        """Delete every patient on the server."""
        for pid in self.rest("GET", "/patients") or []:
            self.rest("DELETE", f"/patients/{pid}")


def self_signed_pem(folder: Path) -> tuple[Path, Path] | None:
    """Make a self-signed certificate for 127.0.0.1 with openssl; return (key, cert) PEM files, or None."""
    if not shutil.which("openssl"):
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key, cert


def remove_tree(path: Path) -> None:
    """Remove ``path`` recursively, ignoring errors."""
    shutil.rmtree(path, ignore_errors=True)
