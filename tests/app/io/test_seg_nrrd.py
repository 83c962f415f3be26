from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from app.io.errors import MedwsIOError
from app.io.seg_nrrd import (
    parse_terminology_entry,
    read_seg_nrrd,
    terminology_entry,
    write_seg_nrrd,
    write_seg_nrrd_masks,
)
from app.model.geometry import Geometry
from app.model.labels import Code, LabelTable, Segment

OBLIQUE = Geometry(
    (6, 7, 8), (2.5, 0.8, 0.7), (10.0, -20.0, 30.0), tuple(np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, -1]]).ravel())
)
MASS = Code("SCT", "4147007", "Mass")
ALTERED = Code("SCT", "49755003", "Morphologically Altered Structure")


def _labels() -> tuple[np.ndarray, LabelTable]:
    arr = np.zeros(OBLIQUE.shape_zyx, np.uint8)
    arr[1:3, 2:5, 3:6] = 1
    arr[4, 1, 1] = 2
    table = LabelTable(
        [
            Segment(1, "tumour", (144, 238, 144), ALTERED, MASS, status="completed"),
            Segment(2, "node", (10, 20, 30)),
            Segment(3, "empty", (1, 1, 1)),
        ]
    )
    return arr, table


def test_terminology_entry_has_seven_parts_and_parses_back():
    entry = terminology_entry(ALTERED, MASS)
    assert len(entry.split("~")) == 7
    assert entry.startswith("Segmentation category and type - 3D Slicer General Anatomy list~SCT^49755003^")
    assert parse_terminology_entry(entry) == (ALTERED, MASS)


def test_labelmap_round_trip_keeps_voxels_lps_geometry_and_fields(tmp_path):
    arr, table = _labels()
    path = write_seg_nrrd(tmp_path / "s.seg.nrrd", arr, OBLIQUE, table)
    seg = read_seg_nrrd(path)
    assert seg.layers.shape == (1, *OBLIQUE.shape_zyx)
    assert seg.geometry.same_grid(OBLIQUE, tol_mm=1e-9)
    names = {s.name: s for s in seg.segments}
    assert names["tumour"].category == ALTERED and names["tumour"].type == MASS
    assert names["tumour"].status == "completed" and names["node"].status == "in_progress"
    assert names["tumour"].extent_ijk == (3, 5, 2, 4, 1, 2)
    assert names["empty"].extent_ijk is None
    assert seg.header["Segment0_ID"] == "Segment_1"
    assert seg.header["Segment0_Tags"].startswith("Segmentation.Status:completed|TerminologyEntry:")
    lv = seg.to_label_volume()
    assert np.array_equal(lv.array, arr)
    assert [(s.id, s.name, s.color_rgb) for s in lv.table] == [(s.id, s.name, s.color_rgb) for s in table]
    # ITK (and so Slicer's reader) sees the same grid and the Slicer fields
    img = sitk.ReadImage(str(path))
    assert np.allclose(img.GetOrigin(), OBLIQUE.origin_lps_mm) and np.allclose(img.GetDirection(), OBLIQUE.direction)
    assert img.GetMetaData("Segment1_Name") == "node"
    assert np.array_equal(sitk.GetArrayFromImage(img), arr)


def test_cropped_extent_pads_back_into_the_reference(tmp_path):
    arr, table = _labels()
    seg = read_seg_nrrd(write_seg_nrrd(tmp_path / "c.seg.nrrd", arr, OBLIQUE, table, crop_to_extent=True))
    assert seg.layers.shape == (1, 4, 4, 5) and seg.extent_offset_ijk == (1, 1, 1)
    assert np.allclose(seg.geometry.origin_lps_mm, OBLIQUE.index_zyx_to_lps((1, 1, 1)))
    assert np.array_equal(seg.to_label_volume(OBLIQUE).array, arr)
    with pytest.raises(ValueError):
        seg.to_label_volume(OBLIQUE.cropped((0, 0, 1), OBLIQUE.shape_zyx))  # off by one column


def test_overlapping_segments_go_to_layers(tmp_path):
    a = np.zeros(OBLIQUE.shape_zyx, bool)
    a[0:3] = True
    b = np.zeros_like(a)
    b[2:5] = True  # overlaps a on slice 2
    c = np.zeros_like(a)
    c[5] = True  # fits in layer 0
    table = LabelTable([Segment(1, "a", (1, 2, 3)), Segment(2, "b", (4, 5, 6)), Segment(3, "c", (7, 8, 9))])
    path = write_seg_nrrd_masks(tmp_path / "o.seg.nrrd", {1: a, 2: b, 3: c}, OBLIQUE, table)
    text = path.read_bytes()[:400].decode("latin-1")
    assert "dimension: 4" in text and "kinds: list domain domain domain" in text and "space directions: none (" in text
    seg = read_seg_nrrd(path)
    assert seg.layers.shape[0] == 2
    assert seg.geometry.same_grid(OBLIQUE, tol_mm=1e-9)
    by_name = {s.name: s for s in seg.segments}
    assert by_name["a"].layer == 0 and by_name["b"].layer == 1 and by_name["c"].layer == 0
    for name, mask in (("a", a), ("b", b), ("c", c)):
        assert np.array_equal(seg.mask(by_name[name]), mask)


def test_hundreds_of_labels_use_uint16(tmp_path):
    arr = (np.arange(OBLIQUE.n_voxels) % 300).reshape(OBLIQUE.shape_zyx).astype(np.uint16)
    path = write_seg_nrrd(tmp_path / "atlas.seg.nrrd", arr, OBLIQUE, LabelTable())
    assert b"type: unsigned short" in path.read_bytes()[:200]
    seg = read_seg_nrrd(path)
    assert len(seg.segments) == 299
    lv = seg.to_label_volume()
    assert lv.array.dtype == np.uint16 and np.array_equal(lv.array, arr)


def test_reads_ras_space_and_raw_encoding(tmp_path):
    path = tmp_path / "ras.seg.nrrd"
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    header = (
        "NRRD0004\ntype: uchar\ndimension: 3\nspace: right-anterior-superior\nsizes: 4 3 2\n"
        "space directions: (-1,0,0) (0,-2,0) (0,0,3)\nkinds: domain domain domain\nendian: little\n"
        "encoding: raw\nspace origin: (-5,-6,7)\nSegment0_ID:=S\nSegment0_Name:=x\nSegment0_LabelValue:=5\n\n"
    )
    path.write_bytes(header.encode() + data.tobytes())
    seg = read_seg_nrrd(path)
    assert seg.geometry.same_grid(Geometry((2, 3, 4), (3, 2, 1), (5, 6, 7)))
    assert np.array_equal(seg.layers[0], data)


def test_garbage_gives_one_line_error(tmp_path):
    bad = tmp_path / "bad.seg.nrrd"
    bad.write_bytes(b"hello")
    with pytest.raises(MedwsIOError, match="not a NRRD"):
        read_seg_nrrd(bad)


def test_slicerio_reads_our_files_like_slicer(tmp_path):
    """slicerio is Slicer's standalone .seg.nrrd reader (not a project dependency: skipped if absent)."""
    slicerio = pytest.importorskip("slicerio")
    arr, table = _labels()
    info = slicerio.read_segmentation(
        str(write_seg_nrrd(tmp_path / "s.seg.nrrd", arr, OBLIQUE, table, crop_to_extent=True))
    )
    assert info["referenceImageExtentOffset"] == [1, 1, 1]
    ijk_to_lps = np.asarray(info["ijkToLPS"])
    assert np.allclose(ijk_to_lps[:3, 3], OBLIQUE.index_zyx_to_lps((1, 1, 1)))
    tumour = next(s for s in info["segments"] if s["name"] == "tumour")
    assert tumour["terminology"]["type"] == ["SCT", "4147007", "Mass"] and tumour["status"] == "completed"
    assert tumour["extent"] == [3, 5, 2, 4, 1, 2] and tumour["labelValue"] == 1


def test_reads_old_slicer_files_with_one_layer_per_segment(tmp_path):
    import gzip

    data = np.zeros((2, 3, 4, 2), np.uint8)  # (z, y, x, segment): list axis fastest
    data[0, :, :, 0] = 1
    data[:, 1, 1, 1] = 1  # overlaps segment 0 at z=0
    header = (
        "NRRD0004\ntype: unsigned char\ndimension: 4\nspace: left-posterior-superior\nsizes: 2 4 3 2\n"
        "space directions: none (1,0,0) (0,1,0) (0,0,1)\nkinds: list domain domain domain\n"
        "endian: little\nencoding: gzip\nspace origin: (0,0,0)\n"
        "Segment0_ID:=a\nSegment0_Name:=a\nSegment1_ID:=b\nSegment1_Name:=b\n\n"
    )
    path = tmp_path / "old.seg.nrrd"
    path.write_bytes(header.encode() + gzip.compress(data.tobytes()))
    seg = read_seg_nrrd(path)
    a, b = seg.segments
    assert (a.layer, a.label_value, b.layer, b.label_value) == (0, 1, 1, 1)
    assert np.array_equal(seg.mask(a), data[..., 0] == 1) and np.array_equal(seg.mask(b), data[..., 1] == 1)
