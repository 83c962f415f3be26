"""Synthetic sessions and comparisons shared by the session tests (tiny volumes, no patient data)."""

from __future__ import annotations

import numpy as np

from app.model import Box, Code, Finding, Geometry, ImageVolume, Provenance, Session


def make_session(shape: tuple[int, int, int] = (12, 20, 24)) -> Session:
    """Return a session with one oblique CT-like image, a painted segmentation, boxes and findings."""
    c, s = np.cos(0.3), np.sin(0.3)
    geometry = Geometry(shape, (2.5, 0.7031250001, 0.7031250001), (-120.123456789, 87.5, -301.25),
                        (c, s, 0.0, -s, c, 0.0, 0.0, 0.0, 1.0))
    image = ImageVolume(np.arange(np.prod(shape), dtype=np.int16).reshape(shape), geometry, modality="CT",
                        name="CT chest", metadata={"study_uid": "1.2.3.4", "series_uid": "1.2.3.4.5",
                                                   "source_path": "/nonexistent/ct.nii.gz"})
    session = Session()
    session.add_image(image)
    labels = session.new_segmentation("Lungs")
    labels.table.new_segment("left lung")
    labels.table.new_segment("tumour")
    labels.table.update(2, category=Code("SCT", "49755003", "Morphologically Altered Structure"),
                        type=Code("SCT", "4147007", "Mass"), status="completed", locked=True,
                        provenance=Provenance(source="lungseg@1.2", parameters={"threshold": 0.5},
                                              created_by="model", created_at=1.5e9, status="accepted"))
    rng = np.random.default_rng(0)
    with labels.transaction("init"):
        labels.write((slice(0, shape[0]), slice(0, shape[1]), slice(0, shape[2])), None,
                     rng.integers(0, 3, shape).astype(np.uint8))
    box = session.boxes.add(Box((-10.5, 3.25, 7.0), (4.0, 9.0, 20.125), label_id=2, note="nodule",
                                provenance=Provenance(source="det@3", status="proposed", created_at=1.6e9)))
    session.findings.add(Finding("malignant", level="box", target=box.id, value="yes", confidence=0.75))
    session.measurements.append({"kind": "distance", "lps_mm": [[0, 0, 0], [1, 2, 3]], "value_mm": 3.742})
    return session


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
