"""Every format on the real lung1 CT + tumour mask (pyradiomics sample), geometry checked in LPS.

The samples are fetched once per machine by the session fixture ``real_samples`` (network).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import highdicom as hd
import numpy as np
import pydicom
import pytest

from app.io.export import export
from app.io.export._common import ExportOptions
from app.io.export.inputs import load_plain_case
from app.io.seg_nrrd import read_seg_nrrd
from app.io.volume_files import read_volume

pytestmark = [pytest.mark.network, pytest.mark.usefixtures("real_samples")]


def _sample(name):
    from app.io.samples import get_sample

    info = get_sample(name)
    assert info.available, f"sample {name} missing after fetch"
    return info


def _centroid_lps(array, geometry):
    return geometry.index_zyx_to_lps(np.argwhere(array > 0).mean(axis=0))


@pytest.fixture(scope="module")
def lung1():
    info = _sample("lung1")
    case, warnings = load_plain_case(info.path, info.mask_path)
    mask = read_volume(info.mask_path)
    assert case.labels.array.any()
    return case, mask


def test_lung1_dicom_seg_places_the_tumour_where_the_mask_is(tmp_path):
    info = _sample("lung1-dicom")
    case, _ = load_plain_case(info.path, info.mask_path)
    mask = read_volume(info.mask_path)
    assert case.source_files and len(case.source_files) == case.image.geometry.shape_zyx[0]
    export("dicom-seg", [case], tmp_path / "out")
    seg = hd.seg.segread(tmp_path / "out/lung1-dicom/seg/SEG00001.dcm")
    volume = seg.get_volume(combine_segments=True)
    idx = np.argwhere(volume.array > 0).astype(float)
    lps = np.c_[idx, np.ones(len(idx))] @ volume.affine.T
    tumour_lps = lps[:, :3].mean(axis=0)
    assert np.allclose(tumour_lps, _centroid_lps(mask.array, mask.geometry), atol=0.5)
    assert len(idx) == int((mask.array > 0).sum())
    uids = [pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in case.source_files]
    px = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, combine_segments=True)
    assert np.array_equal(px > 0, case.labels.array > 0)
    if shutil.which("dciodvfy"):
        run = subprocess.run(
            ["dciodvfy", str(tmp_path / "out/lung1-dicom/seg/SEG00001.dcm")], capture_output=True, text=True
        )
        assert not [line for line in run.stderr.splitlines() if line.startswith("Error")]


def test_lung1_volume_formats_keep_lps_geometry(lung1, tmp_path):
    case, mask = lung1
    expected = _centroid_lps(mask.array, mask.geometry)
    export("seg-nrrd", [case], tmp_path / "s")
    seg = read_seg_nrrd(tmp_path / "s/lung1_image/segmentation.seg.nrrd")
    assert seg.geometry.same_grid(mask.geometry)
    assert np.allclose(_centroid_lps(seg.layers[0], seg.geometry), expected)
    export("nifti", [case], tmp_path / "n")
    nii = read_volume(tmp_path / "n/lung1_image/labels.nii.gz")
    assert nii.geometry.same_grid(mask.geometry) and np.array_equal(nii.array > 0, mask.array > 0)
    export("nnunet", [case], tmp_path / "raw")
    ds = json.loads((tmp_path / "raw/Dataset001_MedWS/dataset.json").read_text())
    assert ds["labels"] == {"background": 0, "label_1": 1} and ds["channel_names"] == {"0": "CT"}
    lab = read_volume(tmp_path / "raw/Dataset001_MedWS/labelsTr/lung1_image.nii.gz")
    assert np.allclose(_centroid_lps(lab.array, lab.geometry), expected)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools on numpy 2
def test_lung1_coco_loads_in_pycocotools(lung1, tmp_path):
    case, mask = lung1
    export("coco", [case], tmp_path / "c", options=ExportOptions(window=(1500.0, -600.0)))
    doc = json.loads((tmp_path / "c/annotations.json").read_text())
    assert len(doc["images"]) == int((mask.array > 0).any(axis=(1, 2)).sum())
    coco_mod = pytest.importorskip("pycocotools.coco", reason="pycocotools is not installed (optional check)")
    coco = coco_mod.COCO(str(tmp_path / "c/annotations.json"))
    total = sum(int(coco.annToMask(a).sum()) for a in coco.loadAnns(coco.getAnnIds()))
    assert total == int((mask.array > 0).sum())
