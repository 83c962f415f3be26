"""BoxTool on real BoxSets and grids: draw, move, resize, nudge, copy, delete, numeric entry, undo."""

from __future__ import annotations

import numpy as np
import pytest

from app.model import box_geometry as bg
from app.model.annotation_history import AnnotationHistory
from app.model.annotations import Box, BoxSet, FindingSet, Provenance
from app.model.geometry import Geometry
from app.tools.box import BoxPlane, BoxTool

G = Geometry((30, 50, 60), (2.0, 1.0, 1.0), (-20.0, 15.0, 40.0))
AXIAL = BoxPlane("axial", 0, 12)
CORONAL = BoxPlane("coronal", 1, 20)


def _lps(z, y, x, g=G):
    return g.index_zyx_to_lps((z, y, x))


def _tool(g=G):
    boxes = BoxSet()
    history = AnnotationHistory(boxes, FindingSet())
    return BoxTool(boxes, g, history), boxes, history


def _drag(tool, plane, a, b, steps=4):
    tool.press(plane, a)
    for t in np.linspace(0, 1, steps)[1:]:
        tool.drag(plane, a + t * (b - a))
    return tool.release(plane, b)


def test_drag_draws_a_3d_box_with_default_depth_as_one_undo_step():
    tool, boxes, history = _tool()
    box = _drag(tool, AXIAL, _lps(12, 10, 10), _lps(12, 17, 20))  # 8 × 11 voxels of 1 mm
    assert len(boxes) == 1 and tool.selected_id == box.id and box.kind == "3d"
    zyx = G.lps_to_index_zyx(bg.corners_lps(box.lps_min, box.lps_max))
    assert np.allclose(zyx.min(axis=0)[1:], (10, 10)) and np.allclose(zyx.max(axis=0)[1:], (17, 20))
    # depth: the smaller side, 8 mm = 4 slices of 2 mm, centred on slice 12
    assert np.allclose([zyx[:, 0].min(), zyx[:, 0].max()], [11, 14])
    assert list(bg.slices_of(box, G, 0)) == [11, 12, 13, 14]
    assert history.titles() == ["Draw box"]
    history.undo()
    assert len(boxes) == 0


def test_click_on_nothing_only_clears_the_selection():
    tool, boxes, history = _tool()
    box = _drag(tool, AXIAL, _lps(12, 10, 10), _lps(12, 17, 20))
    assert _drag(tool, AXIAL, _lps(12, 40, 50), _lps(12, 40, 50)) is None
    assert tool.selected_id is None and len(boxes) == 1 and history.titles() == ["Draw box"]
    assert tool.hit(AXIAL, _lps(12, 13, 15), 1.0) == (box.id, None)


def test_move_resize_and_orthogonal_depth_edit():
    tool, boxes, history = _tool()
    box = _drag(tool, AXIAL, _lps(12, 10, 10), _lps(12, 17, 20))
    moved = _drag(tool, AXIAL, _lps(12, 13, 15), _lps(12, 16, 18))  # inside: move by (3, 3) voxels
    assert np.allclose(np.subtract(moved.lps_min, box.lps_min), [3.0, 3.0, 0.0])
    # drag the right (max L = max x) edge midpoint 5 voxels further
    right_mid = _lps(12, 16.5, 23)
    resized = _drag(tool, AXIAL, right_mid, _lps(12, 16.5, 28))
    assert resized.lps_max[0] == pytest.approx(moved.lps_max[0] + 5) and resized.lps_min == moved.lps_min
    # in the coronal view (through the box) drag the top edge (max S) up two slices
    coronal = BoxPlane("coronal", 1, 16)
    top = _lps(14, 16, 20)
    assert tool.hit(coronal, top, 1.0)[1] == frozenset({(2, 1)})
    deeper = _drag(tool, coronal, top, _lps(16, 16, 20))
    assert deeper.lps_max[2] == pytest.approx(resized.lps_max[2] + 4.0)
    assert history.titles() == ["Draw box", "Move box", "Resize box", "Resize box"]
    for expected in (resized, moved, box):
        history.undo()
        assert boxes[box.id] == expected


def test_nudge_delete_and_numeric_entry():
    tool, boxes, history = _tool()
    box = _drag(tool, AXIAL, _lps(12, 10, 10), _lps(12, 17, 20))
    tool.nudge((1.0, 0.0, 0.0), 1)  # screen right on an axial view = +L = +x
    tool.nudge((0.0, -1.0, 0.0), 10)  # screen up = anterior = -P = -y
    now = boxes[box.id]
    assert np.allclose(np.subtract(now.lps_min, box.lps_min), [1.0, -10.0, 0.0])
    tool.set_bounds((0, 0, 0), (10, 20, 30))
    assert boxes[box.id].lps_max == (10.0, 20.0, 30.0)
    with pytest.raises(ValueError, match="finite"):
        tool.set_bounds((0, 0, float("nan")), (1, 1, 1))
    assert tool.delete() and box.id not in boxes and not tool.delete()
    assert history.titles() == ["Draw box", "Edit box", "Edit box", "Edit box", "Delete box"]
    history.undo()
    assert boxes[box.id].lps_max == (10.0, 20.0, 30.0)


def test_2d_box_is_flat_and_copies_to_adjacent_slices():
    tool, boxes, _ = _tool()
    tool.kind = "2d"
    box = _drag(tool, AXIAL, _lps(12, 10, 10), _lps(12, 17, 20))
    assert box.kind == "2d" and box.orientation == "axial" and box.size_mm[2] == 0
    assert list(bg.slices_of(box, G, 0, "axial")) == [12]
    up = tool.copy_to_slice(AXIAL, +1)
    assert list(bg.slices_of(up, G, 0, "axial")) == [13] and tool.selected_id == up.id and len(boxes) == 2
    with pytest.raises(ValueError, match="coronal|axial"):
        tool.copy_to_slice(CORONAL, 1)
    tool.kind = "3d"
    cube = _drag(tool, AXIAL, _lps(12, 30, 30), _lps(12, 35, 35))
    with pytest.raises(ValueError, match="3D"):
        tool.copy_to_slice(AXIAL, 1, cube.id)


def test_editing_a_proposal_stamps_it_edited_and_undo_restores_it():
    tool, boxes, history = _tool()
    lps_min, lps_max = bg.box_from_index(G, (10, 10, 10), (14, 17, 20))
    prop = boxes.add(Box(lps_min, lps_max, confidence=0.8, provenance=Provenance(source="det@1", status="proposed")))
    tool.reader = "dr_who"
    _drag(tool, AXIAL, _lps(12, 13, 15), _lps(12, 14, 15))
    prov = boxes[prop.id].provenance
    assert prov.status == "edited" and prov.edited_by == "dr_who" and prov.edited_at is not None
    assert prov.source == "det@1" and prov.created_at == prop.provenance.created_at
    history.undo()
    assert boxes[prop.id] == prop


def test_cancel_puts_the_box_back():
    tool, boxes, history = _tool()
    box = _drag(tool, AXIAL, _lps(12, 10, 10), _lps(12, 17, 20))
    tool.press(AXIAL, _lps(12, 13, 15))
    tool.drag(AXIAL, _lps(12, 20, 25))
    tool.cancel()
    assert boxes[box.id] == box and history.titles() == ["Draw box"]


def test_oblique_grid_draws_the_lps_hull_of_the_dragged_voxels():
    c, s = np.cos(np.radians(25)), np.sin(np.radians(25))
    g = Geometry((30, 50, 60), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), (c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0))
    tool, boxes, _ = _tool(g)
    box = _drag(tool, AXIAL, _lps(12, 10, 10, g), _lps(12, 17, 20, g))
    corners = g.index_zyx_to_lps(np.array([[z, y, x] for z in (11, 14) for y in (10, 17) for x in (10, 20)], float))
    assert np.allclose(box.lps_min, corners.min(axis=0)) and np.allclose(box.lps_max, corners.max(axis=0))
    assert list(bg.slices_of(box, g, 0)) == [11, 12, 13, 14]
