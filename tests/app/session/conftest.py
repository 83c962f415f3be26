"""Synthetic sessions for the session-folder tests (tiny volumes, no patient data)."""

from __future__ import annotations

import numpy as np
import pytest

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


@pytest.fixture
def session() -> Session:
    return make_session()
