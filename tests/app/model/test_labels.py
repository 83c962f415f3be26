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


# ------------------------------------------------------- label-table undo
def _two_segments() -> LabelVolume:
    lv = LabelVolume(Geometry((6, 8, 8)), LabelTable([Segment(1, "liver", (200, 0, 0)),
                                                      Segment(2, "spleen", (0, 200, 0))]))
    with lv.transaction("paint"):
        lv.paint((slice(1, 3), slice(1, 4), slice(1, 4)), None, 1)
        lv.paint((slice(3, 5), slice(4, 7), slice(4, 7)), None, 2)
    return lv


def test_undo_of_remove_segment_brings_back_its_voxels_and_row():
    lv = _two_segments()
    before = lv.array.copy()
    lv.remove_segment(1)
    assert 1 not in lv.table and not (lv.array == 1).any()
    assert lv.history.titles()[-1] == "Remove segment liver"
    assert lv.undo()
    assert lv.table[1] == Segment(1, "liver", (200, 0, 0))
    assert np.array_equal(lv.array, before)
    assert lv.redo()
    assert 1 not in lv.table and (lv.array == 1).sum() == 0 and (lv.array == 2).sum() == 18
    assert lv.undo() and [s.id for s in lv.table] == [1, 2]


def test_add_rename_recolour_status_are_steps_in_the_voxel_history():
    lv = _two_segments()
    seqs = [lv.history.last_step_seq]
    lv.table.new_segment("kidney")
    lv.table.update(1, name="hepar")
    lv.table.update(1, color_rgb=(1, 2, 3))
    lv.table.update(2, status="flagged")
    assert lv.history.titles()[-4:] == ["Add segment kidney", "Rename segment liver", "Recolour segment hepar",
                                        "Status of segment spleen"]
    seqs.append(lv.history.last_step_seq)
    assert seqs[1] > seqs[0]
    seen = []
    lv.table.changed.connect(seen.append)
    for _ in range(4):
        assert lv.undo()
    assert seen == [2, 1, 1, 3]
    assert [s.name for s in lv.table] == ["liver", "spleen"] and lv.table[2].status == "in_progress"
    assert lv.table[1].color_rgb == (200, 0, 0)
    assert lv.undo()  # the paint step comes next: table and voxel edits share one history
    assert not lv.array.any()
    for _ in range(5):
        assert lv.redo()
    assert lv.table[3].name == "kidney" and lv.table[1].name == "hepar" and lv.table[2].status == "flagged"
    assert not lv.redo()


def test_visibility_and_lock_are_not_undo_steps_and_survive_undo_of_a_rename():
    lv = _two_segments()
    n = len(lv.history.titles())
    lv.table.update(1, name="hepar")
    lv.table.update(1, visible=False, locked=True)
    lv.table.update(1, name="hepar")  # no change: no step
    assert len(lv.history.titles()) == n + 1
    lv.undo()
    assert lv.table[1].name == "liver" and not lv.table[1].visible and lv.table[1].locked


def test_table_edits_inside_a_transaction_join_its_step_and_new_edit_clears_redo():
    lv = _two_segments()
    with lv.transaction("split"):
        lv.table.add(Segment(5, "island", (1, 1, 1)))
        lv.paint((slice(0, 1), slice(0, 2), slice(0, 2)), None, 5)
    assert lv.history.titles()[-1] == "split"
    lv.undo()
    assert 5 not in lv.table and not (lv.array == 5).any()
    assert lv.history.can_redo
    lv.table.update(2, name="milt")
    assert not lv.history.can_redo


def test_history_sequence_orders_steps_across_histories():
    a, b = _two_segments(), _two_segments()
    b.table.update(1, name="x")
    assert b.history.last_undo_seq > a.history.last_undo_seq > 0
    b.undo()
    a.undo()
    assert a.history.last_redo_seq > b.history.last_redo_seq > 0  # redo the last undone first
    assert a.history.last_undo_seq == 0
    changed = []
    a.history.changed.connect(lambda: changed.append(1))
    a.redo()
    assert changed == [1] and a.history.last_undo_seq > b.history.last_redo_seq


def test_snapshot_and_loaded_tables_record_nothing():
    table = LabelTable([Segment(1, "a", (1, 2, 3))])
    table.update(1, name="b")  # no owning volume: nothing to record into
    lv = LabelVolume(Geometry((2, 2, 2)), table)
    assert not lv.history.can_undo
