"""Where MedWS keeps its files: the study index, caches (samples) and settings.

Environment overrides (used by tests and CI): ``MEDWS_DATA_DIR``, ``MEDWS_CACHE_DIR``,
``MEDWS_CONFIG_DIR``. Otherwise platformdirs' per-user folders are used.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

_APP = "medws"


def _dir(env: str, default: str) -> Path:
    path = Path(os.environ.get(env) or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Per-user data folder (study index database, sessions by default)."""
    return _dir("MEDWS_DATA_DIR", platformdirs.user_data_dir(_APP))


def cache_dir() -> Path:
    """Per-user cache folder (sample data)."""
    return _dir("MEDWS_CACHE_DIR", platformdirs.user_cache_dir(_APP))


def config_dir() -> Path:
    """Per-user settings folder."""
    return _dir("MEDWS_CONFIG_DIR", platformdirs.user_config_dir(_APP))


SETTINGS_NAME = "settings.json"


def reader_name() -> str:
    """Name stamped on annotations and reviews (``created_by`` / ``edited_by``). Any thread.

    ``MEDWS_READER`` if set, else ``reader`` in ``config_dir()/settings.json``, else the OS login name.
    """
    name = os.environ.get("MEDWS_READER", "").strip()
    if name:
        return name
    try:
        import json

        name = str(json.loads((config_dir() / SETTINGS_NAME).read_text("utf-8")).get("reader") or "").strip()
    except (OSError, ValueError, AttributeError):
        name = ""
    if name:
        return name
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def set_reader_name(name: str) -> None:
    """Store the reader name in ``config_dir()/settings.json`` (atomic replace; other keys kept)."""
    import json
    import tempfile

    path = config_dir() / SETTINGS_NAME
    try:
        settings = json.loads(path.read_text("utf-8"))
        settings = settings if isinstance(settings, dict) else {}
    except (OSError, ValueError):
        settings = {}
    settings["reader"] = name.strip() or None
    fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(settings, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
