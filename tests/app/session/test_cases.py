from __future__ import annotations

import numpy as np
import pytest

from app.io.errors import MedwsIOError
from app.io.export import ExportOptions, export
from app.io.volume_files import read_volume, write_image
from app.model import Box, Provenance, Session
from app.session import save_session
from app.session.cases import export_cases
from tests.app.session._helpers import make_session


def _session_on_file(tmp_path, n_segmentations=1):
    path = write_image(make_session().images[0], tmp_path / "ct.nrrd")
    session = Session()
    session.add_image(read_volume(path))
    for k in range(n_segmentations):
        labels = session.new_segmentation(f"seg{k}")
        labels.table.new_segment()
        labels.table.update(1, provenance=Provenance(source="model@1", status="accepted" if k == 0 else "rejected"))
        labels.paint((slice(1, 4), slice(2, 6), slice(3, 9)), None, 1)
    session.boxes.add(Box((0, 0, 0), (3, 3, 3), provenance=Provenance(status="accepted")))
    return save_session(session, tmp_path / "study.medws"), session, path


def test_session_folder_becomes_export_cases(tmp_path):
    folder, session, _ = _session_on_file(tmp_path)
    (case,), warnings = export_cases(folder)
    assert case.case_id == "study" and warnings == []
    assert np.array_equal(case.labels.array, session.segmentations[0].array)
    assert case.labels.geometry.same_grid(case.image.geometry)
    assert case.provenance.status == "accepted" and len(list(case.boxes)) == 1
    result = export("nifti", [case], tmp_path / "out")
    assert result.n_cases == 1 and any(f.endswith(".nii.gz") for f in result.files)


def test_status_filter_applies_per_segmentation(tmp_path):
    folder, _, _ = _session_on_file(tmp_path, n_segmentations=2)
    cases, _ = export_cases(folder)
    assert [c.case_id for c in cases] == ["study_0", "study_1"]
    result = export("nifti", cases, tmp_path / "out", options=ExportOptions(statuses=frozenset({"accepted"})))
    assert "study_0/labels.nii.gz" in result.files and "study_1/labels.nii.gz" not in result.files  # rejected


def test_missing_source_is_a_clear_error(tmp_path):
    folder, _, path = _session_on_file(tmp_path)
    path.unlink()
    with pytest.raises(MedwsIOError, match="not found"):
        export_cases(folder)


def test_medws_export_takes_session_folders(tmp_path, capsys):
    from app.cli import main

    folder, session, _ = _session_on_file(tmp_path, n_segmentations=2)
    out = tmp_path / "dataset"
    rc = main(["export", "--format", "nnunet", "--status", "accepted", str(folder), str(out)])
    assert rc == 0, capsys.readouterr().err
    labels = sorted((out / "Dataset001_MedWS" / "labelsTr").glob("*.nii.gz"))
    assert len(labels) == 1, "the rejected segmentation is filtered out by --status accepted"
    assert np.array_equal(read_volume(labels[0]).array > 0, session.segmentations[0].array > 0)
    assert main(["export", "--format", "nifti", str(tmp_path / "empty")]) == 2
