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


@pytest.fixture(scope="session")
def real_samples():
    """The real sample data (pyradiomics sdist data/ + lung1 as DICOM), fetched once per machine.

    Fails (does not skip) when the package registry cannot be reached: CI has registry access.
    """
    from app.io import samples

    catalog = samples.fetch_samples()
    if catalog.offline:
        pytest.fail("sample download failed: " + "; ".join(catalog.notes))
    return catalog
