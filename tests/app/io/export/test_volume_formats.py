from __future__ import annotations

import csv
import json

import numpy as np

from app.io.export import export
from app.io.export._common import ExportOptions
from app.io.label_tables import read_label_table
from app.io.seg_nrrd import read_seg_nrrd
from app.io.volume_files import read_volume


def test_nifti_export_round_trips_labels_table_and_lps_geometry(cases, tmp_path):
    case = cases.make_case("c1", cases.OBLIQUE)
    result = export("nifti", [case], tmp_path / "out")
    assert sorted(result.files) == ["c1/image.nii.gz", "c1/labels.json", "c1/labels.nii.gz"]
    labels = read_volume(tmp_path / "out/c1/labels.nii.gz")
    image = read_volume(tmp_path / "out/c1/image.nii.gz")
    assert labels.geometry.same_grid(cases.OBLIQUE) and image.geometry.same_grid(cases.OBLIQUE)
    assert np.array_equal(labels.array, case.labels.array) and np.array_equal(image.array, case.image.array)
    table = read_label_table(tmp_path / "out/c1/labels.json")
    assert [(s.id, s.name) for s in table] == [(1, "liver"), (5, "lesion")]
    assert table[1].type.value == "10200004"
    manifest = json.loads((tmp_path / "out/export.json").read_text())
    assert manifest["format"] == "nifti" and manifest["n_cases"] == 1


def test_nrrd_suffix_and_label_filter(cases, tmp_path):
    case = cases.make_case()
    export("nifti", [case], tmp_path / "out", options=ExportOptions(label_suffix=".nrrd", label_ids=frozenset({5})))
    labels = read_volume(tmp_path / "out/study1/labels.nrrd")
    assert set(np.unique(labels.array)) == {0, 5}
    assert [s.id for s in read_label_table(tmp_path / "out/study1/labels.json")] == [5]


def test_seg_nrrd_export_round_trips(cases, tmp_path):
    case = cases.make_case("c1", cases.OBLIQUE)
    export("seg-nrrd", [case], tmp_path / "out")
    seg = read_seg_nrrd(tmp_path / "out/c1/segmentation.seg.nrrd")
    lv = seg.to_label_volume(cases.OBLIQUE)
    assert np.array_equal(lv.array, case.labels.array)
    assert seg.geometry.same_grid(cases.OBLIQUE)
    assert {s.name for s in seg.segments} == {"liver", "lesion"}
    assert read_volume(tmp_path / "out/c1/image.nrrd").geometry.same_grid(cases.OBLIQUE)


def test_hundreds_of_labels_export_as_uint16(cases, tmp_path):
    from app.io.label_tables import default_label_table
    from app.model.labels import LabelVolume

    case = cases.make_case()
    atlas = (np.arange(case.image.geometry.n_voxels) % 150).reshape(case.image.geometry.shape_zyx).astype(np.uint16)
    case.labels = LabelVolume(case.image.geometry, default_label_table(range(1, 150)), array=atlas)
    export("nifti", [case], tmp_path / "n")
    back = read_volume(tmp_path / "n/study1/labels.nii.gz")
    assert np.array_equal(back.array, atlas)
    export("seg-nrrd", [case], tmp_path / "s")
    assert np.array_equal(read_seg_nrrd(tmp_path / "s/study1/segmentation.seg.nrrd").to_label_volume().array, atlas)


def _rows(path):
    return list(csv.DictReader(path.read_text().splitlines()))


def test_csv_boxes_in_lps_and_voxels_and_findings_filtered_by_status_and_reader(cases, tmp_path):
    case = cases.make_case()
    export("csv", [case], tmp_path / "all")
    rows = _rows(tmp_path / "all/boxes.csv")
    assert len(rows) == 2
    first = next(r for r in rows if r["label_id"] == "1")
    assert [int(first[f"index_min_{a}"]) for a in "zyx"] == [1, 3, 4]
    assert [int(first[f"index_max_{a}"]) for a in "zyx"] == [3, 8, 9]
    lps = case.image.geometry.index_zyx_to_lps((1, 3, 4))
    assert np.allclose([float(first[f"lps_min_{a}_mm"]) for a in "xyz"], lps)
    assert first["label_name"] == "liver" and first["status"] == "accepted"
    doc = json.loads((tmp_path / "all/boxes.json").read_text())
    assert doc["space"] == "LPS" and len(doc["boxes"]) == 2
    findings = _rows(tmp_path / "all/findings.csv")
    assert {f["label"] for f in findings} == {"nodule", "emphysema"}

    export("csv", [case], tmp_path / "acc", options=ExportOptions(statuses=frozenset({"accepted", "edited"})))
    assert [r["status"] for r in _rows(tmp_path / "acc/boxes.csv")] == ["accepted"]
    assert [f["label"] for f in _rows(tmp_path / "acc/findings.csv")] == ["nodule"]
    export("csv", [case], tmp_path / "bob", options=ExportOptions(readers=frozenset({"bob"})))
    assert [r["created_by"] for r in _rows(tmp_path / "bob/boxes.csv")] == ["bob"]


def test_anonymized_tables_use_pseudonyms_for_cases_and_readers(cases, tmp_path):
    case = cases.make_case("Doe_Jane")
    export("csv", [case], tmp_path / "a", options=ExportOptions(anonymize=True))
    rows = _rows(tmp_path / "a/boxes.csv")
    assert {r["case"] for r in rows} == {"case_0001"}
    assert {r["created_by"] for r in rows} == {"reader_01", "reader_02"}
    assert "Doe" not in (tmp_path / "a/findings.csv").read_text() + (tmp_path / "a/boxes.json").read_text()
