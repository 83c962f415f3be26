"""Shared fixtures. Qt is only imported by tests that ask for ``qapp``/``qtbot``."""

from __future__ import annotations

import os

import pytest

# Offscreen by default for widget-only tests; VTK widget tests run under xvfb-run and are marked `gl`.
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep the study index, caches and settings of every test in a temporary folder."""
    root = tmp_path_factory.mktemp("medws-home")
    monkeypatch.setenv("MEDWS_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("MEDWS_CONFIG_DIR", str(root / "config"))
    # Samples are fetched once per machine; tests share the real user cache unless told otherwise.
    yield
