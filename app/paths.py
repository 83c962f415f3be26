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
