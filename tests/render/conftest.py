"""Fixtures for render tests: a synthetic CT volume whose bright block position is known."""

from __future__ import annotations

import pytest

from app.model.image import ImageVolume
from tests._volumes import BONE_ZYX, make_volume, rotation_about_z


@pytest.fixture
def volume() -> ImageVolume:
    return make_volume()


@pytest.fixture(name="make_volume")
def _make_volume_fixture():
    return make_volume


@pytest.fixture(name="rotation_about_z")
def _rotation_fixture():
    return rotation_about_z


@pytest.fixture
def bone_zyx():
    return BONE_ZYX
