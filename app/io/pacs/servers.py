"""The list of PACS servers in settings (``config_dir()/pacs_servers.json``) and their secrets.

A server is reached over DICOMweb (``url``) or DIMSE (``ae_title@host:port``). DICOMweb auth is
"none", "basic" (user + password) or "bearer" (token). Secrets are **never** written to the JSON
file or logged: they live in the system keyring (``keyring``) when a backend is available, else
in the environment variable :func:`secret_env_var` (``MEDWS_PACS_SECRET_<NAME>``), which also
overrides the keyring (CI, containers). HTTPS certificates are always verified, against the
system CA store or the server's ``ca_bundle`` file.

Thread rule: the functions read and write small files and may be called from any thread;
:func:`save_servers` replaces the file atomically.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.io.errors import MedwsIOError
from app.io.pacs._common import PacsError
from app.paths import config_dir

__all__ = [
    "PacsServer",
    "delete_secret",
    "get_secret",
    "get_server",
    "keyring_available",
    "load_servers",
    "parse_dimse_address",
    "remove_server",
    "save_servers",
    "secret_env_var",
    "servers_file",
    "set_secret",
    "upsert_server",
]

log = logging.getLogger(__name__)

KEYRING_SERVICE = "medws-pacs"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_AET_RE = re.compile(r"^[\x21-\x5b\x5d-\x7e ]{1,16}$")  # printable, no backslash
_AUTH = ("none", "basic", "bearer")


@dataclass(frozen=True)
class PacsServer:
    """One configured PACS server (no secret inside: see :func:`get_secret`).

    Parameters
    ----------
    name
        Short unique name (letters, digits, ``_.-``); also names the managed storage folder.
    url
        DICOMweb base URL (``http(s)://host:port/dicom-web``); empty for a DIMSE server.
    ae_title, host, port
        The DIMSE peer (``AE@host:port``); empty/0 for a DICOMweb server.
    auth
        DICOMweb auth: "none", "basic" or "bearer".
    user
        User name for basic auth.
    ca_bundle
        PEM file of CA certificates to verify an HTTPS server with; empty uses the system store.
    own_ae_title, own_port
        MedWS's own AE title, and the port of its storage SCP for C-MOVE (the PACS must know
        this AE title, host and port as a modality).
    retrieve
        DIMSE retrieve method: "move" (C-MOVE to our storage SCP) or "get" (C-GET).
    timeout_s
        Network timeout in seconds (connect and per read).
    """

    name: str
    url: str = ""
    ae_title: str = ""
    host: str = ""
    port: int = 0
    auth: str = "none"
    user: str = ""
    ca_bundle: str = ""
    own_ae_title: str = "MEDWS"
    own_port: int = 11112
    retrieve: str = "move"
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"server name must be letters, digits, '_', '.', '-' (max 64), got {self.name!r}")
        if bool(self.url) == bool(self.ae_title):
            raise ValueError("a server needs either a DICOMweb URL or a DIMSE AE@host:port")
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("DICOMweb URL must be http(s)://host[:port]/path")
            if parts.username or parts.password:  # a secret in a plain file and in every log line
                raise ValueError("put no user or password in the URL: use --user and the keyring")
            object.__setattr__(self, "url", self.url.rstrip("/"))
        else:
            for aet in (self.ae_title, self.own_ae_title):
                if not _AET_RE.match(aet):
                    raise ValueError(f"AE title must be 1-16 printable characters, got {aet!r}")
            if not self.host or not 0 < int(self.port) < 65536:
                raise ValueError("DIMSE server needs a host and a port in 1..65535")
        if not 0 <= int(self.own_port) < 65536:
            raise ValueError("own port must be in 0..65535")
        if self.auth not in _AUTH:
            raise ValueError(f"auth must be one of {', '.join(_AUTH)}")
        if self.auth == "basic" and not self.user:
            raise ValueError("basic auth needs a user name")
        if self.retrieve not in ("move", "get"):
            raise ValueError("retrieve must be 'move' or 'get'")

    @property
    def kind(self) -> str:
        """ "dicomweb" or "dimse"."""
        return "dicomweb" if self.url else "dimse"

    @property
    def address(self) -> str:
        """The URL or ``AE@host:port`` (no secret)."""
        return self.url if self.url else f"{self.ae_title}@{self.host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (no secret)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PacsServer:
        """Build from the JSON form; unknown keys (newer MedWS) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def parse_dimse_address(text: str) -> tuple[str, str, int]:
    """Split ``AE@host:port`` into ``(ae_title, host, port)``; ``ValueError`` when malformed."""
    m = re.fullmatch(r"([^@]{1,16})@(\[[^\]]+\]|[^:@]+):(\d{1,5})", text.strip())
    if not m:
        raise ValueError(f"DIMSE address must be AE@host:port, got {text!r}")
    return m.group(1), m.group(2).strip("[]"), int(m.group(3))


# ----------------------------------------------------------------------------- the settings file
def servers_file() -> Path:
    """Return the settings file holding the server list."""
    return config_dir() / "pacs_servers.json"


def load_servers() -> dict[str, PacsServer]:
    """Return the configured servers by name (empty when none); a broken file raises ``MedwsIOError``."""
    path = servers_file()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {s["name"]: PacsServer.from_dict(s) for s in data.get("servers", [])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MedwsIOError(path, f"cannot read the PACS server list ({exc})") from None


def save_servers(servers: dict[str, PacsServer]) -> None:
    """Write the server list atomically (temporary file + rename, mode 0600)."""
    path = servers_file()
    tmp = path.with_name(f".{path.name}.tmp")
    body = json.dumps({"version": 1, "servers": [s.to_dict() for s in servers.values()]}, indent=2)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MedwsIOError(path, f"cannot write the PACS server list ({exc.strerror or exc})") from None


def get_server(name: str) -> PacsServer:
    """Return the configured server ``name``; ``PacsError`` when unknown."""
    servers = load_servers()
    if name not in servers:
        known = ", ".join(sorted(servers)) or "none configured (medws pacs add)"
        raise PacsError(name, f"unknown server; known: {known}")
    return servers[name]


def upsert_server(server: PacsServer) -> None:
    """Add ``server`` to the list, replacing one with the same name."""
    servers = load_servers()
    servers[server.name] = server
    save_servers(servers)


def remove_server(name: str) -> bool:
    """Remove a server and its keyring secret; return whether it was configured."""
    servers = load_servers()
    found = servers.pop(name, None) is not None
    if found:
        save_servers(servers)
    delete_secret(name)
    return found


def with_changes(server: PacsServer, **changes: Any) -> PacsServer:
    """Return a validated copy of ``server`` with ``changes``."""
    return replace(server, **changes)


# ----------------------------------------------------------------------------- secrets
def secret_env_var(name: str) -> str:
    """Return the environment variable that may hold the secret of server ``name``."""
    return "MEDWS_PACS_SECRET_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def _keyring():  # noqa: ANN202 - the keyring module, or None
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken backend configuration must not stop MedWS
        return None
    if isinstance(backend, fail.Keyring) or type(backend).__module__.startswith("keyring.backends.null"):
        return None
    if getattr(backend, "priority", 1) <= 0:
        return None
    return keyring


def keyring_available() -> bool:
    """Return whether a usable system keyring backend is present."""
    return _keyring() is not None


def set_secret(name: str, secret: str) -> bool:
    """Store the secret of server ``name`` in the keyring; return False when no keyring is usable.

    The caller then tells the user to set :func:`secret_env_var` instead. Never written to a file.
    """
    kr = _keyring()
    if kr is None:
        return False
    try:
        kr.set_password(KEYRING_SERVICE, name, secret)
    except Exception as exc:  # locked or broken keyring: same as none, and say why (no secret in it)
        log.warning("keyring refused to store the secret of %s (%s)", name, type(exc).__name__)
        return False
    return True


def get_secret(name: str) -> str | None:
    """Return the secret of server ``name``: the environment variable first, then the keyring."""
    value = os.environ.get(secret_env_var(name))
    if value:
        return value
    kr = _keyring()
    if kr is None:
        return None
    try:
        return kr.get_password(KEYRING_SERVICE, name)
    except Exception as exc:
        log.warning("keyring lookup failed for %s (%s)", name, type(exc).__name__)
        return None


def delete_secret(name: str) -> None:
    """Forget the keyring secret of server ``name`` (no error when there is none)."""
    kr = _keyring()
    if kr is None:
        return
    try:
        kr.delete_password(KEYRING_SERVICE, name)
    except Exception:  # PasswordDeleteError when absent
        pass
