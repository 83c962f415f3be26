from __future__ import annotations

import json

import highdicom as hd
import numpy as np
import pydicom
import pytest

from app.cli import main
from app.io.dicom_write import write_dicom_series
from app.io.export.inputs import resample_labels_nearest
from app.io.label_tables import write_label_table
from app.io.volume_files import read_volume, write_volume
from app.model.geometry import Geometry


@pytest.fixture
def files(cases, tmp_path):
    case = cases.make_case()
    g = case.image.geometry
    image = write_volume(case.image.array, g, tmp_path / "in/ct.nii.gz")
    labels = write_volume(case.labels.array, g, tmp_path / "in/ct_labels.nii.gz")
    table = write_label_table(case.labels.table, tmp_path / "in/table.label", fmt="itksnap")
    dicom = tmp_path / "in/dicom"
    write_dicom_series(case.image.array, g, dicom, uid_seed="cli", patient_id="PID-9")
    return case, image, labels, table, dicom


def test_cli_nifti_with_itksnap_table(files, tmp_path, capsys):
    case, image, labels, table, _ = files
    rc = main(
        [
            "export",
            "--format",
            "nifti",
            "--image",
            str(image),
            "--labels",
            str(labels),
            "--label-table",
            str(table),
            str(tmp_path / "out"),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    back = read_volume(tmp_path / "out/ct/labels.nii.gz")
    assert np.array_equal(back.array, case.labels.array)
    assert json.loads((tmp_path / "out/ct/labels.json").read_text())["labels"][0]["name"] == "liver"


def test_cli_dicom_seg_from_dicom_folder_anonymized(files, tmp_path, capsys):
    case, _, labels, _, dicom = files
    rc = main(
        [
            "export",
            "--format",
            "dicom-seg",
            "--image",
            str(dicom),
            "--labels",
            str(labels),
            "--anonymize",
            "--mapping",
            str(tmp_path / "map.json"),
            str(tmp_path / "out"),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    seg = hd.seg.segread(tmp_path / "out/case_0001/seg/SEG00001.dcm")
    images = [pydicom.dcmread(p) for p in sorted((tmp_path / "out/case_0001/image").glob("*.dcm"))]
    px = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[d.SOPInstanceUID for d in images], combine_segments=True
    )
    assert np.array_equal(px > 0, case.labels.array > 0)
    assert seg.PatientID == "ANON0001" and json.loads((tmp_path / "map.json").read_text())["patients"]


def test_cli_nnunet_with_repeated_pairs(files, tmp_path, capsys):
    _, image, labels, _, dicom = files
    rc = main(
        [
            "export",
            "--format",
            "nnunet",
            "--image",
            str(image),
            "--labels",
            str(labels),
            "--image",
            str(dicom),
            "--labels",
            str(labels),
            "--dataset-id",
            "12",
            str(tmp_path / "raw"),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    ds = json.loads((tmp_path / "raw/Dataset012_MedWS/dataset.json").read_text())
    assert ds["numTraining"] == 2 and ds["labels"] == {"background": 0, "label_1": 1, "label_5": 2}


def test_cli_resamples_compatible_grid_with_warning(files, tmp_path, capsys):
    case, image, _, _, _ = files
    g = case.image.geometry
    fine = Geometry(
        (g.shape_zyx[0] * 2, g.shape_zyx[1], g.shape_zyx[2]),
        (g.spacing_zyx_mm[0] / 2, *g.spacing_zyx_mm[1:]),
        g.origin_lps_mm,
    )
    upsampled = np.repeat(case.labels.array, 2, axis=0)
    labels = write_volume(upsampled, fine, tmp_path / "in/fine.nii.gz")
    rc = main(["export", "--format", "nifti", "--image", str(image), "--labels", str(labels), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0 and "resampled with nearest neighbour" in err
    assert np.array_equal(read_volume(tmp_path / "out/ct/labels.nii.gz").array, case.labels.array)


def test_cli_incompatible_grid_is_a_one_line_error(files, tmp_path, capsys):
    case, image, _, _, _ = files
    far = Geometry(case.image.geometry.shape_zyx, case.image.geometry.spacing_zyx_mm, (500.0, 500.0, 500.0))
    labels = write_volume(case.labels.array, far, tmp_path / "in/far.nii.gz")
    rc = main(["export", "--format", "nifti", "--image", str(image), "--labels", str(labels), str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "cannot be matched to the image" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_cli_argument_errors(files, tmp_path, capsys):
    _, image, labels, _, _ = files
    assert main(["export", "--format", "csv", str(tmp_path / "o")]) == 2
    assert (
        main(
            [
                "export",
                "--format",
                "csv",
                "--image",
                str(image),
                "--labels",
                str(labels),
                "--labels",
                str(labels),
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert main(["export", "--format", "csv", "--image", str(image), "--status", "bogus", str(tmp_path / "o")]) == 2
    assert "unknown bogus" in capsys.readouterr().err


def test_resample_identity_and_shift():
    g = Geometry((3, 4, 5), (2.0, 1.0, 1.0))
    arr = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    same, outside = resample_labels_nearest(arr, g, g)
    assert np.array_equal(same, arr) and outside == 0.0
    shifted = Geometry((3, 4, 5), (2.0, 1.0, 1.0), (1.0, 0.0, 0.0))  # one column to the left in LPS x
    out, outside = resample_labels_nearest(arr, shifted, g)
    assert np.array_equal(out[:, :, 1:], arr[:, :, :-1]) and (out[:, :, 0] == 0).all()
    assert outside == pytest.approx(12 / 59, abs=1e-6)
