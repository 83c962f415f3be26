from __future__ import annotations

import numpy as np
import pytest

from analysis._brush import sphere_kernel
from app.tools.erase import EraseParams, EraseTool
from app.tools.paint import PaintParams, PaintTool
from tests.app.tools._helpers import make_view


def _stroke(tool, view, points):
    tool.press(view, points[0])
    for p in points[1:-1]:
        tool.drag(view, p)
    tool.release(view, points[-1])


def test_sphere_paint_radius_is_in_mm_on_anisotropic_grid():
    view = make_view((21, 41, 41), spacing=(2.0, 1.0, 1.0))
    tool = PaintTool(PaintParams(radius_mm=6.0, sphere=True))
    _stroke(tool, view, [(10, 20, 20), (10, 20, 20)])
    painted = view.labels.array == 1
    zz, yy, xx = np.nonzero(painted)
    assert zz.min() == 7 and zz.max() == 13  # ±3 slices of 2 mm
    assert xx.min() == 14 and xx.max() == 26  # ±6 columns of 1 mm
    assert painted.sum() == sphere_kernel(6.0, (2.0, 1.0, 1.0)).sum()
    assert view.labels.history.titles() == ["Paint"]


def test_disc_paint_stays_in_the_view_plane():
    view = make_view(axis=1)
    tool = PaintTool(PaintParams(radius_mm=3.0))
    _stroke(tool, view, [(10, 20, 20), (10, 20, 20)])
    ys = np.unique(np.nonzero(view.labels.array)[1])
    assert list(ys) == [20]
    assert (view.labels.array == 1).sum() == 29


def test_fast_drag_far_between_events_leaves_no_gap():
    view = make_view((10, 20, 200))
    tool = PaintTool(PaintParams(radius_mm=2.0))
    _stroke(tool, view, [(5, 10, 5), (5, 10, 190), (5, 10, 190)])
    row = view.labels.array[5, 10]
    assert row[3:193].all()
    # every voxel within 0.9 r of the segment is painted: the band is solid
    assert view.labels.array[5, 9:12, 5:191].all()
    assert view.labels.history.titles() == ["Paint"]


def test_stroke_undo_redo_is_one_step():
    view = make_view()
    tool = PaintTool(PaintParams(radius_mm=2.0, sphere=True))
    _stroke(tool, view, [(10, 5, 5), (10, 5, 15), (12, 20, 25), (12, 30, 30)])
    after = view.labels.array.copy()
    assert after.any()
    assert len(view.labels.history.titles()) == 1
    assert view.labels.undo()
    assert not view.labels.array.any()
    assert view.labels.redo()
    assert np.array_equal(view.labels.array, after)


def test_stroke_starting_outside_the_volume_is_one_correct_undo_step():
    view = make_view((10, 10, 10))
    view.labels.array[:] = 2
    before = view.labels.array.copy()
    tool = PaintTool(PaintParams(radius_mm=1.0))
    _stroke(tool, view, [(5, 5, -8), (5, 5, -3), (5, 5, 4), (5, 5, 4)])
    assert view.labels.history.titles() == ["Paint"]
    assert (view.labels.array[5, 5, 0:5] == 1).all()
    assert (view.labels.array[5, 4, 0:5] == 1).all()
    assert view.labels.undo()
    assert np.array_equal(view.labels.array, before)
    assert not view.labels.history.can_undo


def test_stroke_entirely_outside_makes_no_step():
    view = make_view((10, 10, 10))
    _stroke(PaintTool(), view, [(5, 5, -50), (5, 5, -30)])
    assert not view.labels.history.can_undo


def test_painting_over_other_segment_undo_restores_it():
    view = make_view()
    view.labels.array[8:12, 15:25, 15:25] = 2
    before = view.labels.array.copy()
    tool = PaintTool(PaintParams(radius_mm=3.0, sphere=True))
    _stroke(tool, view, [(10, 20, 14), (10, 20, 18), (10, 20, 22), (10, 20, 26)])
    assert (view.labels.array == 1).sum() > 0
    view.labels.undo()
    assert np.array_equal(view.labels.array, before)


def test_erase_only_active_segment_by_default():
    view = make_view()
    view.labels.array[10, 10:30, 10:30] = 1
    view.labels.array[10, 10:30, 20:30] = 2
    tool = EraseTool(EraseParams(radius_mm=30.0))
    _stroke(tool, view, [(10, 20, 20), (10, 20, 20)])
    assert not (view.labels.array == 1).any()
    assert (view.labels.array == 2).sum() == 200
    view.labels.undo()
    assert (view.labels.array == 1).sum() == 200
    tool_all = EraseTool(EraseParams(radius_mm=30.0, all_segments=True))
    _stroke(tool_all, view, [(10, 20, 20), (10, 20, 20)])
    assert not view.labels.array.any()


def test_missed_release_does_not_leak_an_open_step():
    view = make_view()
    tool = PaintTool(PaintParams(radius_mm=1.0))
    tool.press(view, (10, 5, 5))
    tool.press(view, (10, 30, 30))  # the viewport lost the release event
    tool.release(view, (10, 30, 30))
    assert view.labels.history.titles() == ["Paint", "Paint"]


@pytest.mark.parametrize("coalesce", [False, True])
def test_transaction_coalesce_gives_same_undo_step(coalesce):
    view = make_view((6, 8, 8))
    lv = view.labels
    lv.array[2, 2, 2] = 3
    with lv.transaction("t", coalesce=coalesce):
        lv.paint((slice(1, 4), slice(1, 4), slice(1, 4)), None, 1)
        lv.paint((slice(2, 5), slice(2, 5), slice(2, 5)), None, 2)
        lv.write((slice(0, 2), slice(0, 2), slice(0, 2)), np.eye(2, dtype=bool)[None].repeat(2, 0),
                 np.full((2, 2, 2), 5, np.uint8))
    after = lv.array.copy()
    assert lv.history.titles() == ["t"]
    lv.undo()
    expected = np.zeros_like(after)
    expected[2, 2, 2] = 3
    assert np.array_equal(lv.array, expected)
    lv.redo()
    assert np.array_equal(lv.array, after)


def test_coalesced_stroke_flushes_in_chunks_and_stays_exact(monkeypatch):
    view = make_view((10, 40, 40))
    monkeypatch.setattr(type(view.labels), "COALESCE_VOXELS", 2000)
    monkeypatch.setattr(type(view.labels), "COALESCE_MARGIN", 2)
    tool = PaintTool(PaintParams(radius_mm=2.0, sphere=True))
    view.labels.array[5, 20, :] = 3
    before = view.labels.array.copy()
    _stroke(tool, view, [(5, 20, 2), (5, 20, 10), (5, 21, 20), (5, 20, 30), (5, 20, 10)])
    assert view.labels.history.titles() == ["Paint"]
    after = view.labels.array.copy()
    view.labels.undo()
    assert np.array_equal(view.labels.array, before)
    view.labels.redo()
    assert np.array_equal(view.labels.array, after)


def test_changed_signal_reports_boxes_inside_the_volume():
    view = make_view((10, 10, 10))
    boxes = []
    view.labels.changed.connect(boxes.append)
    _stroke(PaintTool(PaintParams(radius_mm=2.0)), view, [(5, 5, 0), (5, 5, 9)])
    assert boxes
    for box in boxes:
        assert all(0 <= s.start < s.stop <= 10 for s in box)


def test_label_write_never_modifies_the_callers_mask():
    view = make_view((6, 6, 6))
    view.labels.array[1, 1, 1] = 1
    mask = np.ones((3, 3, 3), bool)
    view.labels.paint((slice(0, 3), slice(0, 3), slice(0, 3)), mask, 1)
    assert mask.all()
    kernel = sphere_kernel(1.0, (1, 1, 1))  # read-only masks are accepted too
    view.labels.paint((slice(2, 5), slice(2, 5), slice(2, 5)), kernel, 2)
    assert (view.labels.array == 2).sum() == 7


def test_uint16_promotion_inside_a_coalesced_stroke_undoes_cleanly():
    view = make_view((6, 6, 6))
    with view.labels.transaction("t", coalesce=True):
        view.labels.paint((slice(0, 2), slice(0, 2), slice(0, 2)), None, 3)
        view.labels.paint((slice(1, 3), slice(1, 3), slice(1, 3)), None, 300)
    assert view.labels.array.dtype == np.uint16 and (view.labels.array == 300).sum() == 8
    view.labels.undo()
    assert not view.labels.array.any()


def test_undo_is_refused_during_a_stroke():
    view = make_view()
    tool = PaintTool(PaintParams(radius_mm=2.0))
    _stroke(tool, view, [(10, 5, 5), (10, 5, 10)])
    tool.press(view, (10, 20, 20))
    assert not view.labels.undo() and not view.labels.redo()
    tool.release(view, (10, 20, 30))
    assert view.labels.history.titles() == ["Paint", "Paint"]
    assert view.labels.undo() and view.labels.undo()
    assert not view.labels.array.any()
