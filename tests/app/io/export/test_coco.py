from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from app.io.export import export
from app.io.export._common import ExportOptions
from app.io.export.coco import box_on_slices, rle_decode, rle_encode, rle_from_string, rle_to_string
from app.model.annotations import Box


@pytest.mark.parametrize("seed", range(6))
def test_rle_round_trips_and_is_column_major(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((7 + seed, 5 + 2 * seed)) > 0.6
    if seed == 0:
        mask[0, 0] = True  # starts with foreground: leading zero count
    rle = rle_encode(mask)
    assert rle["size"] == list(mask.shape)
    assert sum(rle["counts"]) == mask.size
    assert np.array_equal(rle_decode(rle), mask)
    assert rle_from_string(rle_to_string(rle["counts"])) == rle["counts"]
    assert np.array_equal(rle_decode({"size": rle["size"], "counts": rle_to_string(rle["counts"])}), mask)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools on numpy 2
def test_rle_matches_pycocotools():
    mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools is not installed (optional check)")
    rng = np.random.default_rng(1)
    for shape in ((1, 1), (4, 9), (33, 17), (64, 64)):
        mask = rng.random(shape) > 0.5
        theirs = mask_api.encode(np.asfortranarray(mask.astype(np.uint8)))
        ours = rle_encode(mask)
        assert rle_to_string(ours["counts"]) == theirs["counts"].decode()
        assert np.array_equal(
            mask_api.decode({"size": ours["size"], "counts": rle_to_string(ours["counts"]).encode()}), mask
        )
        assert int(mask_api.area(theirs)) == int(mask.sum())


def test_box_projection_uses_pixel_edges(cases):
    g = cases.GEOMETRY
    box = Box(tuple(g.index_zyx_to_lps((1, 3, 4))), tuple(g.index_zyx_to_lps((3, 8, 9))))
    assert box_on_slices(box, g) == (1, 3, [4.5, 3.5, 5.0, 5.0])
    outside = Box(tuple(g.index_zyx_to_lps((-5, 0, 0))), tuple(g.index_zyx_to_lps((-3, 1, 1))))
    assert box_on_slices(outside, g) is None


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools on numpy 2
def test_coco_export_is_loadable_and_masks_match(cases, tmp_path):
    case = cases.make_case()
    export("coco", [case], tmp_path / "out", options=ExportOptions(window=(400.0, 40.0)))
    doc = json.loads((tmp_path / "out/annotations.json").read_text())
    assert {c["name"] for c in doc["categories"]} == {"liver", "lesion"}
    assert [im["slice_index_z"] for im in doc["images"]] == [1, 2, 3, 4]
    for im in doc["images"]:
        png = Image.open(tmp_path / "out" / im["file_name"])
        assert png.mode == "L" and png.size == (im["width"], im["height"])
        z = im["slice_index_z"]
        expected = np.clip((case.image.array[z] - (40 - 200)) / 400 * 255, 0, 255)
        assert np.abs(np.asarray(png, float) - expected).max() <= 0.5 + 1e-6
        for ann in (a for a in doc["annotations"] if a["image_id"] == im["id"] and a["source"] == "mask"):
            mask = rle_decode(ann["segmentation"])
            assert np.array_equal(mask, case.labels.array[z] == ann["category_id"])
            assert ann["area"] == int(mask.sum())
    boxes = [a for a in doc["annotations"] if a["source"] == "box"]
    assert len(boxes) == 3 + 3  # box 1 spans slices 1-3, box 2 slices 2-4
    coco_mod = pytest.importorskip("pycocotools.coco", reason="pycocotools is not installed (optional check)")
    coco = coco_mod.COCO(str(tmp_path / "out/annotations.json"))
    ann = coco.loadAnns(coco.getAnnIds(catIds=[1]))[0]
    assert coco.annToMask(ann).sum() > 0


def test_coco_status_filter_drops_proposed_boxes(cases, tmp_path):
    export("coco", [cases.make_case()], tmp_path / "out", options=ExportOptions(statuses=frozenset({"accepted"})))
    doc = json.loads((tmp_path / "out/annotations.json").read_text())
    assert {a["status"] for a in doc["annotations"] if a["source"] == "box"} == {"accepted"}
