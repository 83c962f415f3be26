"""Synthetic cases for the exporter tests (tiny CT, labels, boxes, findings, DICOM source)."""

from __future__ import annotations

import numpy as np
import pytest

from app.io.dicom_write import write_dicom_series
from app.io.export import ExportCase
from app.model.annotations import Box, Finding, Provenance
from app.model.geometry import Geometry
from app.model.image import ImageVolume
from app.model.labels import Code, LabelTable, LabelVolume, Segment

GEOMETRY = Geometry((6, 16, 20), (2.5, 0.8, 0.7), (-30.0, -20.0, 40.0))
OBLIQUE = Geometry(
    (5, 12, 14),
    (2.0, 0.9, 0.8),
    (12.0, -8.0, 3.0),
    tuple(np.array([[0.866025, 0, 0.5], [0, 1, 0], [-0.5, 0, 0.866025]]).ravel()),
)
LIVER = Code("SCT", "10200004", "Liver")
ORGAN = Code("SCT", "123037004", "Anatomical Structure")


def make_case(
    case_id: str = "study1",
    geometry: Geometry = GEOMETRY,
    *,
    seed: int = 0,
    source_dir=None,
    provenance: Provenance | None = None,
) -> ExportCase:
    rng = np.random.default_rng(seed)
    array = rng.integers(-1000, 1000, size=geometry.shape_zyx).astype(np.int16)
    image = ImageVolume(array, geometry, modality="CT", name="chest")
    labels = np.zeros(geometry.shape_zyx, np.uint8)
    labels[1:4, 3:9, 4:10] = 1
    labels[2:5, 10:13, 12:16] = 5
    table = LabelTable([Segment(1, "liver", (221, 130, 101), ORGAN, LIVER), Segment(5, "lesion", (144, 238, 144))])
    lv = LabelVolume(geometry, table, name="seg", array=labels)
    reader = Provenance(created_by="alice", status="accepted")
    model = Provenance(source="lesionnet@1.2", created_by="bob", status="proposed")
    lo = geometry.index_zyx_to_lps((1, 3, 4))
    hi = geometry.index_zyx_to_lps((3, 8, 9))
    boxes = [
        Box(tuple(lo), tuple(hi), label_id=1, provenance=reader),
        Box(
            tuple(geometry.index_zyx_to_lps((2, 10, 12))),
            tuple(geometry.index_zyx_to_lps((4, 12, 15))),
            label_id=5,
            confidence=0.8,
            provenance=model,
        ),
    ]
    findings = [
        Finding("nodule", level="box", target=boxes[1].id, value="solid", provenance=reader),
        Finding("emphysema", value="mild", provenance=model),
    ]
    sources = None
    if source_dir is not None:
        sources = write_dicom_series(
            array,
            geometry,
            source_dir,
            modality="CT",
            uid_seed=f"{case_id}-{seed}",
            patient_name="Doe^Jane",
            patient_id="PID-12345",
            study_description="CHEST",
        )
    return ExportCase(case_id, image, lv, boxes, findings, sources, provenance)


@pytest.fixture
def case():
    return make_case()


@pytest.fixture
def dicom_case(tmp_path):
    return make_case(source_dir=tmp_path / "src", provenance=Provenance(source="lesionnet@1.2", status="proposed"))


class _Factory:
    GEOMETRY = GEOMETRY
    OBLIQUE = OBLIQUE
    make_case = staticmethod(make_case)


@pytest.fixture
def cases():
    """The synthetic-case factory (``cases.make_case(...)``, ``cases.OBLIQUE``)."""
    return _Factory
