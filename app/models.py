"""Where MedWS finds models: built-in ones in ``resources/models`` and the user's models folder.

A user installs a model by copying its folder (``manifest.json`` + weights, or a MONAI bundle)
into :func:`user_models_dir`. A user model shadows a built-in one of the same name.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from analysis.infer.manifest import ModelManifest
from analysis.infer.registry import discover
from app.paths import data_dir


def builtin_models_dir() -> Path:
    """The models shipped with MedWS."""
    return Path(str(resources.files("resources") / "models"))


def user_models_dir() -> Path:
    """The user's models folder (created on demand)."""
    path = data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def available_models() -> dict[str, ModelManifest]:
    """Return ``name → manifest`` of every usable model (built-in first, then user)."""
    return discover([builtin_models_dir(), user_models_dir()])
