from __future__ import annotations

import pytest

from app.io.errors import MedwsIOError
from app.io.inputs import resolve_input


def test_existing_path_wins(tmp_path):
    target = tmp_path / "lung1"
    target.mkdir()
    assert resolve_input(str(target)) == target


def test_missing_file_and_unknown_sample_are_one_line_errors(tmp_path):
    with pytest.raises(MedwsIOError, match="no such file"):
        resolve_input(str(tmp_path / "scan.nii.gz"))
    with pytest.raises(MedwsIOError, match="unknown sample"):
        resolve_input("sample:not-a-sample")


@pytest.mark.network
def test_bare_and_prefixed_sample_names(real_samples):
    assert resolve_input("lung1").name == "lung1_image.nrrd"
    assert resolve_input("sample:lung1-dicom").is_dir()


def test_io_errors_survive_pickling_for_worker_processes():
    import pickle

    from app.io.errors import DicomFileError

    err = pickle.loads(pickle.dumps(DicomFileError("/data/a.dcm", "truncated\nfile")))
    assert type(err) is DicomFileError and str(err) == "/data/a.dcm: truncated file"
