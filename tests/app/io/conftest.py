"""Fixtures for the DICOM IO tests: synthetic CT volumes written with our own writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.io.dicom_write import write_dicom_series
from app.model.geometry import Geometry


def phantom_ct(shape_zyx: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Return a body-like int16 CT phantom in HU: air, soft tissue ellipse, bone ring, noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[: shape_zyx[0], : shape_zyx[1], : shape_zyx[2]]
    cy, cx = (shape_zyx[1] - 1) / 2, (shape_zyx[2] - 1) / 2
    r = np.sqrt(((y - cy) / (0.42 * shape_zyx[1])) ** 2 + ((x - cx) / (0.47 * shape_zyx[2])) ** 2)
    r = np.broadcast_to(r, shape_zyx)
    hu = np.full(shape_zyx, -1000.0)
    hu[r < 1.0] = 40.0
    hu[(r > 0.85) & (r < 0.93)] = 900.0
    hu += 8.0 * np.broadcast_to(z, shape_zyx) / max(1, shape_zyx[0])  # slices differ
    hu += rng.normal(0, 15, shape_zyx)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


def rotation_zyx(ax_deg: float, ay_deg: float) -> np.ndarray:
    """Return a rotation matrix about the L axis then the P axis."""
    a, b = np.radians(ax_deg), np.radians(ay_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    return ry @ rx


@pytest.fixture
def ct_array() -> np.ndarray:
    """A 40×64×64 int16 CT phantom (HU)."""
    return phantom_ct((40, 64, 64))


@pytest.fixture
def oblique_geometry() -> Geometry:
    """An oblique (rotated about two axes) 40×64×64 grid with anisotropic spacing."""
    d = rotation_zyx(20.0, -12.0)
    return Geometry((40, 64, 64), (2.5, 0.8, 0.7), (-30.0, 12.5, 101.0), tuple(d.ravel()))


@pytest.fixture
def tilted_geometry() -> Geometry:
    """An axial grid whose slice stack leans 15° along P (gantry tilt: sheared grid)."""
    t = np.radians(15.0)
    stack = np.array([0.0, np.sin(t), np.cos(t)])
    d = np.column_stack([[1.0, 0, 0], [0, 1.0, 0], stack])
    return Geometry((40, 64, 64), (2.0, 0.9, 0.9), (-28.0, -30.0, -100.0), tuple(d.ravel()))


@pytest.fixture
def write_series(tmp_path) -> Callable[..., list[Path]]:
    """Factory: ``write_series(array, geometry, subdir="ct", **writer_kwargs)`` → written paths."""

    def write(array: np.ndarray, geometry: Geometry, subdir: str = "ct", **kwargs) -> list[Path]:
        kwargs.setdefault("uid_seed", f"test-{subdir}")
        return write_dicom_series(array, geometry, tmp_path / subdir, **kwargs)

    return write
