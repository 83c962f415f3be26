"""Headless CLI twins of the GUI on the real samples: info, convert, preprocess, segment."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from app.io.samples import get_sample
from app.io.volume_files import read_volume

pytestmark = pytest.mark.network


def medws(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ui.main", *args], capture_output=True, text=True, timeout=600)


def test_info_on_the_lung1_dicom_series(real_samples):
    proc = medws("info", str(get_sample("lung1-dicom").path), "--json")
    assert proc.returncode == 0, proc.stderr
    (record,) = json.loads(proc.stdout)
    assert record["modality"] == "CT" and record["shape_zyx"] == [48, 512, 512]
    assert record["dtype"] == "int16" and record["n_files"] == 48 and record["errors"] == []
    assert len(record["direction"]) == 9 and len(record["origin_lps_mm"]) == 3


def test_info_exit_code_2_with_one_line_when_nothing_loads(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    proc = medws("info", str(tmp_path))
    assert proc.returncode == 2
    assert "no loadable image series" in proc.stderr


def test_convert_dicom_to_nifti_keeps_geometry_and_values(real_samples, tmp_path):
    out = tmp_path / "lung1.nii.gz"
    proc = medws("convert", str(get_sample("lung1-dicom").path), str(out))
    assert proc.returncode == 0, proc.stderr
    converted, original = read_volume(out), read_volume(get_sample("lung1").path)
    assert converted.geometry.same_grid(original.geometry, tol_mm=1e-3)
    assert converted.dtype == np.int16 and np.array_equal(converted.array, original.array)


def test_preprocess_resample_changes_spacing_and_reports_bad_params(real_samples, tmp_path):
    out = tmp_path / "lung1_2mm.nrrd"
    proc = medws("preprocess", "resample", str(get_sample("lung1").path), str(out),
                 "--param", "new_spacing_zyx_mm=5,2,2")
    assert proc.returncode == 0, proc.stderr
    img = read_volume(out)
    assert img.geometry.spacing_zyx_mm == (5.0, 2.0, 2.0) and img.array.shape == (48, 146, 146)
    bad = medws("preprocess", "gaussian", str(get_sample("lung1").path), str(out), "--param", "sigma=2")
    assert bad.returncode == 2 and "no parameter(s) sigma" in bad.stderr
    unknown = medws("preprocess", "sharpen", str(get_sample("lung1").path), str(out))
    assert unknown.returncode == 2 and "unknown op" in unknown.stderr


def test_segment_lung_lesions_writes_labels_and_scored_boxes(real_samples, tmp_path):
    out = tmp_path / "lesions.nii.gz"
    proc = medws("segment", "lung-lesions", str(get_sample("lung1").path), str(out))
    assert proc.returncode == 0, proc.stderr
    boxes = json.loads((tmp_path / "lesions.boxes.json").read_text())["boxes"]
    tumour = read_volume(get_sample("lung1").mask_path).array > 0
    best = boxes[0]
    box = tuple(slice(a, b) for a, b in zip(best["start_zyx"], best["stop_zyx"], strict=True))
    assert tumour[box].any(), "the top-scored candidate is the tumour"
    assert all(b["lps_min_mm"][i] <= b["lps_max_mm"][i] for b in boxes for i in range(3))
    assert read_volume(out).array.max() == 1


def test_infer_batch_over_a_folder_keeps_going_past_a_bad_case(real_samples, tmp_path):
    import shutil

    folder = tmp_path / "cases"
    folder.mkdir()
    for name in ("brain1", "brain2"):
        shutil.copy(get_sample(name).path, folder / f"{name}.nrrd")
    (folder / "broken.nii.gz").write_bytes(b"not a volume")
    proc = medws("infer", "--batch", "scan-type-demo", str(folder), str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    outputs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outputs == ["brain1.json", "brain2.json"]
    assert "broken.nii.gz" in proc.stderr and "2/3 case(s) done" in proc.stderr
    assert json.loads((tmp_path / "out" / "brain1.json").read_text())["top_label"]
