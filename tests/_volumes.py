"""A synthetic CT volume whose bright block position is known (shared by render and ui tests)."""

from __future__ import annotations

import numpy as np

from app.model.geometry import Geometry
from app.model.image import ImageVolume

#: The bright "bone" block in zyx index ranges: patient left (+x), anterior (low y), superior (high z).
BONE_ZYX = (slice(24, 36), slice(12, 22), slice(60, 70))


def make_volume(shape_zyx=(40, 64, 80), spacing_zyx_mm=(2.5, 0.8, 0.8), direction=None) -> ImageVolume:
    """Air box, soft-tissue ellipse, two lungs, one 1200 HU block (see ``BONE_ZYX``)."""
    z, y, x = np.meshgrid(*(np.arange(n) for n in shape_zyx), indexing="ij", sparse=True)
    nz, ny, nx = shape_zyx
    arr = np.full(shape_zyx, -1000, np.int16)
    body = ((x - nx / 2) / (nx * 0.45)) ** 2 + ((y - ny / 2) / (ny * 0.4)) ** 2 < 1
    arr[np.broadcast_to(body, shape_zyx)] = 40
    for cx in (nx * 0.32, nx * 0.68):
        lung = ((x - cx) / (nx * 0.13)) ** 2 + ((y - ny / 2) / (ny * 0.25)) ** 2 < 1
        arr[np.broadcast_to(lung & (z > 3), shape_zyx)] = -800
    arr[BONE_ZYX] = 1200
    kwargs = {} if direction is None else {"direction": direction}
    geometry = Geometry(shape_zyx, spacing_zyx_mm, (-30.0, -20.0, -50.0), **kwargs)
    return ImageVolume(arr, geometry, modality="CT", name="phantom")


def rotation_about_z(degrees: float) -> tuple[float, ...]:
    """Row-major direction matrix rotating the x/y index axes by ``degrees`` about S."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return (c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0)
