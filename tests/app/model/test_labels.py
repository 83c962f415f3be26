from __future__ import annotations

import numpy as np
import pytest

from app.model import Geometry, ImageVolume, LabelTable, LabelVolume, Segment, Session
from app.model.history import History


def _labels(shape=(20, 30, 40)) -> LabelVolume:
    return LabelVolume(Geometry(shape))


def test_paint_emits_the_changed_region_only():
    lv = _labels()
    boxes = []
    lv.changed.connect(boxes.append)
    mask = np.zeros((3, 4, 5), bool)
    mask[1, 1:3, 2:4] = True
    with lv.transaction("brush"):
        lv.paint((slice(5, 8), slice(10, 14), slice(20, 25)), mask, 2)
    assert boxes == [(slice(6, 7), slice(11, 13), slice(22, 24))]
    assert lv.voxel_counts() == {2: 4}


def test_undo_restores_every_slice_a_3d_edit_touched():
    lv = _labels()
    lv.array[:] = 1
    ball = np.zeros((11, 11, 11), bool)
    zz, yy, xx = np.mgrid[-5:6, -5:6, -5:6]
    ball[zz**2 + yy**2 + xx**2 <= 25] = True
    before = lv.array.copy()
    with lv.transaction("sphere"):
        lv.paint((slice(4, 15), slice(10, 21), slice(10, 21)), ball, 3)
    touched = np.unique(np.nonzero(lv.array != before)[0])
    assert len(touched) == 11
    assert lv.undo()
    assert np.array_equal(lv.array, before)
    assert lv.redo()
    assert (lv.array == 3).sum() == ball.sum()


def test_stroke_starting_outside_the_volume_is_one_correct_step():
    lv = _labels((10, 10, 10))
    with lv.transaction("stroke"):
        for x0 in (-6, -3, 0, 3):  # dabs marching in from outside the volume
            lv.paint((slice(4, 7), slice(4, 7), slice(x0, x0 + 4)), None, 1)
    assert lv.history.titles() == ["stroke"]
    assert lv.array[4:7, 4:7, 0:7].all() and lv.array.sum() == 9 * 7
    lv.undo()
    assert lv.array.sum() == 0
    assert not lv.history.can_undo


def test_box_entirely_outside_changes_nothing():
    lv = _labels((4, 4, 4))
    assert lv.paint((slice(-5, -1), slice(0, 2), slice(0, 2)), None, 1) is None
    assert not lv.history.can_undo


def test_write_with_values_array_and_mask_shape_check():
    lv = _labels((4, 4, 4))
    values = np.arange(8, dtype=np.uint8).reshape(2, 2, 2) + 1
    lv.write((slice(0, 2), slice(0, 2), slice(0, 2)), None, values)
    assert np.array_equal(lv.array[:2, :2, :2], values)
    with pytest.raises(ValueError):
        lv.paint((slice(0, 2), slice(0, 2), slice(0, 2)), np.ones((3, 3, 3), bool), 1)


def test_label_above_255_promotes_to_uint16():
    lv = _labels((2, 2, 2))
    lv.paint((slice(0, 1), slice(0, 1), slice(0, 1)), None, 300)
    assert lv.array.dtype == np.uint16 and lv.array[0, 0, 0] == 300


def test_history_is_bounded_in_bytes_but_keeps_min_steps():
    lv = _labels((10, 64, 64))
    lv.history = History(max_bytes=20_000, min_steps=3)
    for i in range(10):
        with lv.transaction(f"fill {i}"):
            lv.paint((slice(0, 10), slice(0, 64), slice(0, 64)), None, i % 2 + 1)
    assert len(lv.history.titles()) == 3
    assert lv.history.titles()[-1] == "fill 9"
    # a full-volume step stores packed masks and changed values, not full copies of the volume
    assert lv.history.nbytes < 3 * lv.array.nbytes // 4


def test_label_table_ids_colours_and_status():
    table = LabelTable()
    seen = []
    table.changed.connect(seen.append)
    a = table.new_segment()
    b = table.new_segment("lesion")
    assert (a.id, b.id) == (1, 2) and a.color_rgb == (128, 174, 128)
    table.update(2, status="completed")
    assert table[2].status == "completed" and seen == [1, 2, 2]
    with pytest.raises(ValueError):
        table.add(Segment(1, "dup", (1, 2, 3)))
    with pytest.raises(ValueError):
        table.update(1, status="bogus")


def test_image_volume_is_read_only_and_keeps_dtype():
    arr = np.zeros((2, 3, 4), np.int16)
    img = ImageVolume(arr, Geometry((2, 3, 4)), modality="CT", metadata={"window": (400, 40)})
    assert img.dtype == np.int16 and img.units == "HU"
    with pytest.raises(ValueError):
        img.array[0, 0, 0] = 1
    assert img.default_window() == (400.0, 40.0)
    with pytest.raises(ValueError):
        ImageVolume(np.zeros((2, 3)), Geometry((2, 3, 4)))


def test_session_tracks_active_image_and_segmentations():
    s = Session()
    events = []
    s.active_image_changed.connect(events.append)
    img = s.add_image(ImageVolume(np.zeros((2, 3, 4), np.int16), Geometry((2, 3, 4))))
    seg = s.new_segmentation("tumour")
    assert events == [img] and seg.geometry == img.geometry and s.segmentations == [seg]
