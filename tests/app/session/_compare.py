"""Assertions shared by the session tests."""

from __future__ import annotations

import numpy as np

from app.model import Session


def assert_same_session(a: Session, b: Session) -> None:
    """Labels voxel-exact, geometry exact, tables, boxes, findings and measurements equal."""
    assert len(a.segmentations) == len(b.segmentations)
    for x, y in zip(a.segmentations, b.segmentations, strict=True):
        assert x.name == y.name
        assert x.array.dtype == y.array.dtype
        assert np.array_equal(x.array, y.array)
        assert x.geometry == y.geometry
        assert list(x.table) == list(y.table)
    assert sorted(a.boxes, key=lambda o: o.id) == sorted(b.boxes, key=lambda o: o.id)
    assert sorted(a.findings, key=lambda o: o.id) == sorted(b.findings, key=lambda o: o.id)
    assert a.measurements == b.measurements
