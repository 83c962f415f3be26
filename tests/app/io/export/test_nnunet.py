from __future__ import annotations

import json

import numpy as np

from app.io.export import export
from app.io.export._common import ExportOptions
from app.io.volume_files import read_volume
from app.model.labels import LabelTable, LabelVolume, Segment


def _check_structure(root):
    """nnU-Net v2 structural check: naming, dataset.json fields, contiguous labels, shared geometry."""
    ds = json.loads((root / "dataset.json").read_text())
    assert set(ds) >= {"channel_names", "labels", "numTraining", "file_ending"}
    values = sorted(ds["labels"].values())
    assert ds["labels"]["background"] == 0 and values == list(range(len(values)))
    images = sorted((root / "imagesTr").iterdir())
    labels = sorted((root / "labelsTr").iterdir())
    assert len(images) == len(labels) == ds["numTraining"]
    for img, lab in zip(images, labels, strict=True):
        assert img.name.endswith("_0000" + ds["file_ending"]) and lab.name.endswith(ds["file_ending"])
        assert img.name.replace("_0000", "") == lab.name
        i, label = read_volume(img), read_volume(lab)
        assert i.geometry.same_grid(label.geometry)
        assert set(np.unique(label.array)) <= set(values)
    return ds


def test_nnunet_dataset_from_many_cases_merges_labels_by_name(cases, tmp_path):
    a = cases.make_case("a", seed=1)
    b = cases.make_case("b", cases.OBLIQUE, seed=2)
    # case b calls "lesion" 2 and adds "spleen" 7
    arr = np.zeros(cases.OBLIQUE.shape_zyx, np.uint8)
    arr[0:2, 0:3, 0:3] = 2
    arr[3, 5:8, 5:8] = 7
    table = LabelTable([Segment(2, "lesion", (1, 2, 3)), Segment(7, "spleen", (4, 5, 6))])
    b.labels = LabelVolume(cases.OBLIQUE, table, array=arr)
    result = export("nnunet", [a, b], tmp_path / "raw", options=ExportOptions(dataset_id=7, dataset_name="Lung CT"))
    root = tmp_path / "raw/Dataset007_LungCT"
    ds = _check_structure(root)
    assert ds["labels"] == {"background": 0, "liver": 1, "lesion": 2, "spleen": 3}
    assert ds["channel_names"] == {"0": "CT"} and ds["numTraining"] == 2 and ds["file_ending"] == ".nii.gz"
    la = read_volume(root / "labelsTr/a.nii.gz").array
    assert np.array_equal(la, np.select([a.labels.array == 1, a.labels.array == 5], [1, 2], 0))
    lb = read_volume(root / "labelsTr/b.nii.gz")
    assert lb.geometry.same_grid(cases.OBLIQUE)
    assert np.array_equal(lb.array, np.select([arr == 2, arr == 7], [2, 3], 0))
    datalist = json.loads((root / "datalist.json").read_text())
    assert datalist["training"][1] == {"image": "imagesTr/b_0000.nii.gz", "label": "labelsTr/b.nii.gz"}
    assert "Dataset007_LungCT/dataset.json" in result.files


def test_nnunet_label_filter_keeps_values_contiguous(cases, tmp_path):
    export("nnunet", [cases.make_case()], tmp_path / "raw", options=ExportOptions(label_ids=frozenset({5})))
    ds = _check_structure(tmp_path / "raw/Dataset001_MedWS")
    assert ds["labels"] == {"background": 0, "lesion": 1}


def test_nnunet_anonymized_case_names(cases, tmp_path):
    export("nnunet", [cases.make_case("Doe_Jane")], tmp_path / "raw", options=ExportOptions(anonymize=True))
    assert [p.name for p in (tmp_path / "raw/Dataset001_MedWS/labelsTr").iterdir()] == ["case_0001.nii.gz"]
