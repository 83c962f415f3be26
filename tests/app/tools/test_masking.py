from __future__ import annotations

import numpy as np

from app.model.masking import EditableArea, EditOptions, Overwrite, clip_box, restrict
from app.tools.paint import PaintParams, PaintTool
from tests.app.tools._helpers import make_view

BOX = (slice(10, 11), slice(0, 40), slice(0, 40))


def _paint_slice(view, value=1):
    """Paint the whole slice z=10 with ``value`` through the masking path (as every tool does)."""
    tool = PaintTool()
    with view.labels.transaction("t"):
        tool.paint_masked(view, BOX, np.ones((1, 40, 40), bool), value)


def _setup(view):
    a = view.labels.array
    a[10, 0:10] = 2  # rows 0-9: segment 2
    a[10, 10:20] = 3  # rows 10-19: segment 3
    return a


def test_locked_segment_is_never_overwritten():
    view = make_view()
    a = _setup(view)
    view.labels.table.update(2, locked=True)
    _paint_slice(view)
    assert (a[10, 0:10] == 2).all()
    assert (a[10, 10:40] == 1).all()


def test_locked_active_segment_cannot_be_edited():
    view = make_view()
    view.labels.table.update(1, locked=True)
    _paint_slice(view)
    assert not view.labels.array.any()
    assert not view.labels.history.can_undo


def test_overwrite_visible_only_protects_hidden_segments():
    view = make_view()
    a = _setup(view)
    view.labels.table.update(3, visible=False)
    view.options.overwrite = Overwrite.VISIBLE
    _paint_slice(view)
    assert (a[10, 0:10] == 1).all()
    assert (a[10, 10:20] == 3).all()
    assert (a[10, 20:] == 1).all()


def test_overwrite_none_paints_background_only():
    view = make_view()
    a = _setup(view)
    view.options.overwrite = Overwrite.NONE
    _paint_slice(view)
    assert (a[10, 0:10] == 2).all() and (a[10, 10:20] == 3).all() and (a[10, 20:] == 1).all()


def test_intensity_range_limits_paint():
    image = np.zeros((20, 40, 40), np.int16)
    image[:, :, 20:] = 100
    view = make_view(image=image)
    view.options.intensity_enabled = True
    view.options.intensity_min, view.options.intensity_max = 50, 150
    _paint_slice(view)
    assert (view.labels.array[10, :, 20:] == 1).all()
    assert not view.labels.array[10, :, :20].any()


def test_editable_area_inside_and_outside():
    view = make_view()
    a = _setup(view)
    view.options.area = EditableArea.INSIDE_SEGMENT
    view.options.area_segment = 3
    _paint_slice(view)
    assert (a[10, 10:20] == 1).all() and (a[10, 0:10] == 2).all() and not a[10, 20:].any()
    view.labels.undo()
    view.options.area = EditableArea.OUTSIDE_ALL
    _paint_slice(view)
    assert (a[10, 0:10] == 2).all() and (a[10, 10:20] == 3).all() and (a[10, 20:] == 1).all()
    view.labels.undo()
    view.options.area = EditableArea.INSIDE_ALL
    _paint_slice(view)
    assert (a[10, 0:20] == 1).all() and not a[10, 20:].any()


def test_inside_visible_area():
    view = make_view()
    a = _setup(view)
    view.labels.table.update(2, visible=False)
    view.options.area = EditableArea.INSIDE_VISIBLE
    _paint_slice(view)
    assert (a[10, 0:10] == 2).all() and (a[10, 10:20] == 1).all() and not a[10, 20:].any()


def test_options_are_evented_and_trivial_detection():
    opts = EditOptions()
    seen = []
    opts.events.overwrite.connect(seen.append)
    opts.overwrite = Overwrite.NONE
    assert seen == [Overwrite.NONE]
    view = make_view()
    assert EditOptions().is_trivial(view.labels.table)
    view.labels.table.update(2, locked=True)
    assert not EditOptions().is_trivial(view.labels.table)


def test_restrict_clips_to_volume_and_returns_none_outside():
    view = make_view((5, 5, 5))
    assert restrict(view.labels, None, (slice(-3, -1), slice(0, 2), slice(0, 2)), None, 1, EditOptions()) is None
    box, mask = restrict(view.labels, None, (slice(-1, 2), slice(0, 2), slice(4, 7)),
                         np.ones((3, 2, 3), bool), 1, EditOptions())
    assert box == (slice(0, 2), slice(0, 2), slice(4, 5)) and mask.shape == (2, 2, 1)
    assert clip_box((slice(0, 9), slice(0, 1), slice(0, 1)), None, (5, 5, 5))[0][0] == slice(0, 5)


def test_masking_applies_to_brush_strokes():
    view = make_view()
    view.labels.array[10, :, :20] = 2
    view.labels.table.update(2, locked=True)
    tool = PaintTool(PaintParams(radius_mm=5.0))
    tool.press(view, (10, 20, 10))
    tool.drag(view, (10, 20, 30))
    tool.release(view, (10, 20, 30))
    assert (view.labels.array[10, :, :20] == 2).all()
    assert (view.labels.array[10, 20, 20:31] == 1).all()
