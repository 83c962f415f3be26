from __future__ import annotations

import numpy as np
import pytest

from app.model.masking import Overwrite
from app.tools import TOOLS, Tool, load_builtin_tools, register_tool
from app.tools.draw import DrawTool
from app.tools.fill_between import FillBetweenParams, FillBetweenTool
from app.tools.flood_fill import FloodFillParams, FloodFillTool
from app.tools.grow_seeds import GrowSeedsParams, GrowSeedsTool
from app.tools.hollow import HollowParams, HollowTool
from app.tools.islands import IslandOp, IslandsParams, IslandsTool
from app.tools.level_trace import LevelTraceTool
from app.tools.logical import LogicalOp, LogicalParams, LogicalTool
from app.tools.margin import MarginParams, MarginTool
from app.tools.mask_volume import MaskVolumeParams, MaskVolumeTool
from app.tools.scissors import ScissorsExtent, ScissorsOp, ScissorsParams, ScissorsShape, ScissorsTool
from app.tools.smoothing import SmoothingMethod, SmoothingParams, SmoothingTool
from app.tools.threshold import AutoRange, ThresholdParams, ThresholdTool
from tests.app.tools._helpers import make_view


def _check_undo_redo(view, before):
    after = view.labels.array.copy()
    assert not np.array_equal(after, before)
    assert len(view.labels.history.titles()) == 1
    assert view.labels.undo()
    assert np.array_equal(view.labels.array, before)
    assert view.labels.redo()
    assert np.array_equal(view.labels.array, after)


def _blob_image(shape=(20, 40, 40)):
    img = np.zeros(shape, np.int16)
    img[5:15, 10:30, 10:30] = 200
    return img


# ------------------------------------------------------------------ registry
def test_builtin_tools_register_with_unique_ids_and_shortcuts():
    tools = load_builtin_tools()
    assert {"paint", "erase", "draw", "threshold", "level_trace", "flood_fill", "grow_seeds", "fill_between",
            "islands", "smoothing", "margin", "hollow", "logical", "scissors", "mask_volume"} <= set(tools)
    shortcuts = [cls.shortcut for cls in tools.values()]
    assert all(shortcuts) and len(set(shortcuts)) == len(shortcuts)
    for cls in tools.values():
        cls()  # params build with defaults (a panel can be generated from them)


def test_registry_duplicate_id_raises():
    load_builtin_tools()

    class Other(Tool):
        id = "paint"

    with pytest.raises(ValueError, match="already registered"):
        register_tool(Other)
    register_tool(TOOLS["paint"])  # the very same class again is a no-op

    @register_tool
    class Mine(Tool):
        id = "mine_test_tool"

    assert TOOLS["mine_test_tool"] is Mine


# ----------------------------------------------------------------- threshold
def test_threshold_preview_then_apply_and_undo():
    view = make_view(image=_blob_image())
    tool = ThresholdTool(ThresholdParams(lower=100, upper=300))
    preview = tool.preview(view)
    assert preview.sum() == 10 * 20 * 20 and not view.labels.array.any()
    assert tool.preview(view, index=10).shape == (1, 40, 40)
    before = view.labels.array.copy()
    tool.apply(view)
    assert np.array_equal(view.labels.array == 1, preview)
    _check_undo_redo(view, before)


def test_threshold_auto_range_otsu_and_percentile():
    view = make_view(image=_blob_image())
    tool = ThresholdTool()
    lo, hi = tool.auto_range(view)
    assert 0 < lo <= 200 and hi == 200 and tool.params.lower == lo
    tool.params.auto = AutoRange.PERCENTILE
    tool.params.lower_percentile, tool.params.upper_percentile = 0, 100
    assert tool.auto_range(view) == (0, 200)


def test_threshold_replaces_the_segment_and_respects_overwrite():
    view = make_view(image=_blob_image())
    view.labels.array[0, 0, 0] = 1  # old voxel of the segment outside the range: removed
    view.labels.array[10, 20, 20] = 2
    view.options.overwrite = Overwrite.NONE
    ThresholdTool(ThresholdParams(lower=100, upper=300)).apply(view)
    assert view.labels.array[0, 0, 0] == 0
    assert view.labels.array[10, 20, 20] == 2
    assert (view.labels.array == 1).sum() == 4000 - 1


# ------------------------------------------------------ level trace / flood fill
def test_level_trace_click_adds_the_slice_region():
    view = make_view(image=_blob_image())
    before = view.labels.array.copy()
    LevelTraceTool().press(view, (10, 20, 20))
    assert (view.labels.array == 1).sum() == 400
    assert np.unique(np.nonzero(view.labels.array)[0]).tolist() == [10]
    _check_undo_redo(view, before)


def test_flood_fill_2d_and_3d():
    view = make_view(image=_blob_image())
    tool = FloodFillTool(FloodFillParams(tolerance=10))
    before = view.labels.array.copy()
    tool.press(view, (10, 20, 20))
    assert (view.labels.array == 1).sum() == 400
    _check_undo_redo(view, before)
    view.labels.undo()
    tool.params.three_d = True
    tool.press(view, (10, 20, 20))
    assert (view.labels.array == 1).sum() == 4000
    tool.params.use_range = True
    tool.params.lower, tool.params.upper = -10, 10
    view.label_id = 2
    tool.press(view, (0, 0, 0))
    assert (view.labels.array == 2).sum() == 20 * 40 * 40 - 4000


def test_click_outside_volume_does_nothing():
    view = make_view(image=_blob_image())
    FloodFillTool().press(view, (10, 20, 99))
    LevelTraceTool().press(view, (-1, 0, 0))
    assert not view.labels.history.can_undo


# -------------------------------------------------------------- grow from seeds
def test_grow_from_seeds_preview_update_apply():
    img = np.zeros((10, 30, 30), np.int16)
    img[:, :, 15:] = 100
    img[:, :, 22:] = 200
    view = make_view((10, 30, 30), image=img)
    view.labels.array[2:8, 5:25, 5] = 1
    view.labels.array[2:8, 5:25, 25] = 2
    tool = GrowSeedsTool()
    before = view.labels.array.copy()
    preview = tool.update(view)
    assert preview is not None and np.array_equal(view.labels.array, before)  # nothing written
    tool.apply(view)
    a = view.labels.array
    assert (a[3, 10, 6:14] == 1).all() and (a[3, 10, 23:25] == 2).all()
    _check_undo_redo(view, before)
    # more seeds: a third label inside the bright half refines the result
    view.labels.undo()
    view.labels.array[2:8, 5:25, 18] = 3
    tool.update(view)
    tool.apply(view)
    assert (view.labels.array[3, 10, 16:22] == 3).all() and (view.labels.array[3, 10, 23:25] == 2).all()


def _sphere_scene(seed=0):
    """A bright noisy sphere (radius 8) in a darker noisy background: the known answer is the sphere."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices((24, 40, 40))
    sphere = (zz - 12) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2 <= 64
    img = (np.where(sphere, 300, 0) + rng.normal(0, 15, sphere.shape)).astype(np.int16)
    view = make_view((24, 40, 40), image=img)
    view.labels.array[12, 18:23, 18:23] = 1  # a scribble inside
    view.labels.array[(2, 21), 3, 3:37] = 2  # and outside, above and below it
    return view, sphere


def test_grow_from_seeds_finds_a_noisy_sphere_and_refines_incrementally():
    view, sphere = _sphere_scene()
    tool = GrowSeedsTool(GrowSeedsParams(margin_fraction=1.0))
    first = tool.update(view)
    assert not tool.last_incremental
    full = view.labels.array.copy()
    full[first.box][first.mask] = first.values[first.mask]
    box = first.box
    grown = full[box] == 1
    dice = 2 * (grown & sphere[box]).sum() / (grown.sum() + sphere[box].sum())
    assert dice > 0.97
    # add seeds of both labels: the update continues the previous search and equals a fresh one
    view.labels.array[4, 5:35, 36] = 2
    view.labels.array[15, 20, 14:26] = 1
    second = tool.update(view)
    assert tool.last_incremental
    fresh = GrowSeedsTool(GrowSeedsParams(margin_fraction=1.0)).update(view)
    assert not np.any(second.values != fresh.values) and second.box == fresh.box
    # erasing a seed makes the next update start again from scratch
    view.labels.array[2, 3, 3:10] = 0
    tool.update(view)
    assert not tool.last_incremental
    before = view.labels.array.copy()
    tool.apply(view)  # the preview, written as one undo step
    assert view.labels.history.titles() == ["Grow from seeds"]
    assert view.labels.undo() and np.array_equal(view.labels.array, before)


def test_grow_from_seeds_three_labels_and_locked_segment(monkeypatch):
    img = np.zeros((6, 20, 60), np.int16)
    img[:, :, 20:40] = 200
    img[:, :, 40:] = 400
    view = make_view((6, 20, 60), image=img)
    view.labels.array[0, 0, 5] = 1
    view.labels.array[3, 10, 30] = 2
    view.labels.array[5, 19, 55] = 3
    view.labels.table.update(1, locked=True)  # locked: its voxels are kept, and it still seeds
    GrowSeedsTool(GrowSeedsParams(margin_fraction=1.0)).apply(view)
    a = view.labels.array
    assert (a[:, :, :20] == 1).all() and (a[:, :, 20:40] == 2).all() and (a[:, :, 40:] == 3).all()
    # the watershed path of large boxes gives the same answer on this clear-cut image
    view.labels.undo()
    import app.tools.grow_seeds as grow_seeds

    monkeypatch.setattr(grow_seeds, "GROWCUT_MAX_VOXELS", 0)
    tool = GrowSeedsTool(GrowSeedsParams(margin_fraction=1.0))
    tool.apply(view)
    assert (view.labels.array[:, :, :20] == 1).all() and (view.labels.array[:, :, 20:40] == 2).all()
    assert tool._growcut is None and tool._edges is not None


def test_grow_from_seeds_needs_two_labels():
    view = make_view(image=_blob_image())
    view.labels.array[10, 20, 20] = 1
    assert GrowSeedsTool().apply(view) is None


# ----------------------------------------------------------- fill between slices
def test_fill_between_two_discs_gives_interpolated_slices():
    view = make_view((12, 30, 30), spacing=(2.0, 1.0, 1.0))
    disc = (np.indices((30, 30))[0] - 15) ** 2 + (np.indices((30, 30))[1] - 15) ** 2 <= 36
    view.labels.array[2][disc] = 1
    view.labels.array[9][disc] = 1
    view.labels.array[5, 0, 0] = 2  # another segment's voxel is not overwritten
    before = view.labels.array.copy()
    FillBetweenTool(FillBetweenParams(all_segments=False)).apply(view)
    for z in range(2, 10):
        assert np.array_equal(view.labels.array[z] == 1, disc), z
    assert view.labels.array[5, 0, 0] == 2
    _check_undo_redo(view, before)


def test_fill_between_two_different_contours_of_two_segments_in_one_step():
    view = make_view((10, 40, 40))
    yy, xx = np.indices((40, 40))
    square = (abs(yy - 12) <= 6) & (abs(xx - 12) <= 6)
    disc = (yy - 12) ** 2 + (xx - 12) ** 2 <= 16
    view.labels.array[1][square] = 1
    view.labels.array[7][disc] = 1
    view.labels.array[2][(yy - 30) ** 2 + (xx - 30) ** 2 <= 9] = 2  # segment 2 moves diagonally
    view.labels.array[6][(yy - 26) ** 2 + (xx - 26) ** 2 <= 9] = 2
    before = view.labels.array.copy()
    FillBetweenTool(FillBetweenParams(axis=0)).apply(view)
    arr = view.labels.array
    areas = [int((arr[z] == 1).sum()) for z in range(1, 8)]
    assert areas == sorted(areas, reverse=True) and areas[0] == square.sum() and areas[-1] == disc.sum()
    assert all(((arr[z] == 1) & ~square).sum() == 0 and ((arr[z] != 1) & disc).sum() == 0 for z in range(1, 8))
    assert np.argwhere(arr[4] == 2).mean(axis=0) == pytest.approx((28, 28), abs=0.5)
    assert view.labels.history.titles() == ["Fill between slices"]
    _check_undo_redo(view, before)


# ------------------------------------------------------------------- islands
def _islands_view():
    view = make_view()
    a = view.labels.array
    a[2:5, 2:5, 2:5] = 1  # 27
    a[8:14, 10:20, 10:20] = 1  # 600
    a[18, 35, 35] = 1  # 1
    return view


def test_islands_keep_largest():
    view = _islands_view()
    before = view.labels.array.copy()
    IslandsTool().apply(view)
    assert (view.labels.array == 1).sum() == 600
    _check_undo_redo(view, before)


def test_islands_remove_small_keep_and_remove_selected():
    view = _islands_view()
    IslandsTool(IslandsParams(operation=IslandOp.REMOVE_SMALL, min_voxels=10)).apply(view)
    assert (view.labels.array == 1).sum() == 627
    view.labels.undo()
    IslandsTool(IslandsParams(operation=IslandOp.KEEP_SELECTED)).press(view, (3, 3, 3))
    assert (view.labels.array == 1).sum() == 27
    view.labels.undo()
    IslandsTool(IslandsParams(operation=IslandOp.REMOVE_SELECTED)).press(view, (3, 3, 3))
    assert (view.labels.array == 1).sum() == 601
    view.labels.undo()
    IslandsTool(IslandsParams(operation=IslandOp.KEEP_SELECTED)).press(view, (0, 0, 0))  # background click
    assert view.labels.history.titles() == []


def test_islands_split_into_segments():
    view = _islands_view()
    n_before = len(view.labels.table)
    before = view.labels.array.copy()
    IslandsTool(IslandsParams(operation=IslandOp.SPLIT, min_voxels=10)).apply(view)
    counts = view.labels.voxel_counts()
    assert counts[1] == 601 and counts[4] == 27 and 3 not in counts
    assert len(view.labels.table) == n_before + 1 and 4 in view.labels.table
    assert view.labels.array[18, 35, 35] == 1  # below min size: stays
    _check_undo_redo(view, before)


# ---------------------------------------------------- smoothing / margin / hollow
def test_smoothing_methods_and_undo():
    view = make_view()
    a = view.labels.array
    a[5:15, 10:30, 10:30] = 1
    a[10, 20, 30:34] = 1  # spur
    a[10, 20, 20] = 0  # hole
    before = a.copy()
    SmoothingTool(SmoothingParams(method=SmoothingMethod.OPENING, size_mm=2.0)).apply(view)
    assert a[10, 20, 32] == 0
    _check_undo_redo(view, before)
    view.labels.undo()
    SmoothingTool(SmoothingParams(method=SmoothingMethod.CLOSING, size_mm=2.0)).apply(view)
    assert a[10, 20, 20] == 1
    view.labels.undo()
    a[5:15, 10:30, 30:36] = np.where(a[5:15, 10:30, 30:36] == 0, 2, a[5:15, 10:30, 30:36])
    SmoothingTool(SmoothingParams(method=SmoothingMethod.JOINT, size_mm=1.0)).apply(view)
    assert view.labels.history.titles()[-1] == "Smoothing (joint)"


def test_margin_grow_2mm_on_anisotropic_grid_and_shrink():
    view = make_view((9, 15, 15), spacing=(3.0, 1.0, 1.0))
    view.labels.array[4, 7, 7] = 1
    before = view.labels.array.copy()
    MarginTool(MarginParams(distance_mm=2.0)).apply(view)
    grown = view.labels.array == 1
    assert grown[4].sum() == 13 and grown.sum() == 13  # 3 mm slices are out of reach
    _check_undo_redo(view, before)
    view.labels.array[:] = 0
    view.labels.array[2:7, 2:13, 2:13] = 1
    MarginTool(MarginParams(distance_mm=-1.0)).apply(view)
    assert (view.labels.array == 1).sum() == 5 * 9 * 9  # x/y lose 1 voxel per side; 3 mm z slices stay


def test_hollow_shell():
    view = make_view()
    view.labels.array[4:12, 10:18, 10:18] = 1
    before = view.labels.array.copy()
    HollowTool(HollowParams(thickness_mm=1.0)).apply(view)
    assert (view.labels.array == 1).sum() == 8**3 - 6**3
    _check_undo_redo(view, before)


# ------------------------------------------------------------------- logical
def test_logical_operators():
    view = make_view()
    a = view.labels.array
    a[5, 0:10, 0:10] = 1
    a[5, 5:15, 5:15] = np.where(a[5, 5:15, 5:15] == 1, 1, 2)
    a[6, 5:15, 5:15] = 2
    before = a.copy()
    tool = LogicalTool(LogicalParams(operation=LogicalOp.ADD, modifier=2))
    tool.apply(view)
    assert (a == 1).sum() == 100 + 75 + 100 and not (a == 2).any()
    _check_undo_redo(view, before)
    view.labels.undo()
    tool.params.operation = LogicalOp.SUBTRACT  # the modifier does not overlap (one labelmap): no-op
    assert tool.apply(view) is None
    tool.params.operation = LogicalOp.CLEAR
    tool.apply(view)
    assert not (a == 1).any() and (a == 2).sum() == 175
    view.labels.undo()
    tool.params.operation = LogicalOp.INVERT
    view.options.overwrite = Overwrite.NONE
    tool.apply(view)
    assert (a == 1).sum() == a.size - 100 - 175 and (a == 2).sum() == 175
    view.labels.undo()
    tool.params.operation = LogicalOp.COPY
    view.options.overwrite = Overwrite.ALL
    tool.apply(view)
    assert (a == 1).sum() == 175 and not (a == 2).any()
    with pytest.raises(ValueError):
        LogicalTool(LogicalParams(operation=LogicalOp.ADD)).apply(view)


# ---------------------------------------------------------------- scissors / draw
def test_scissors_rectangle_erases_through_volume_and_slice():
    view = make_view()
    view.labels.array[:] = 1
    before = view.labels.array.copy()
    tool = ScissorsTool(ScissorsParams(shape=ScissorsShape.RECTANGLE))
    tool.press(view, (10, 5, 5))
    tool.drag(view, (10, 8, 12))
    tool.release(view, (10, 14, 14))
    a = view.labels.array
    assert not a[:, 5:15, 5:15].any() and (a == 1).sum() == a.size - 20 * 100
    _check_undo_redo(view, before)
    view.labels.undo()
    tool.params.extent = ScissorsExtent.SLICE
    tool.params.operation = ScissorsOp.ERASE_OUTSIDE
    tool.press(view, (10, 5, 5))
    tool.release(view, (10, 14, 14))
    assert (a[10] == 1).sum() == 100 and (a[9] == 1).all()


def test_scissors_freeform_fill_in_sagittal_view():
    view = make_view(axis=2)
    tool = ScissorsTool(ScissorsParams(operation=ScissorsOp.FILL_INSIDE, extent=ScissorsExtent.SLICE))
    tool.press(view, (2, 2, 20))
    for p in [(2, 12, 20), (12, 12, 20), (12, 2, 20)]:
        tool.drag(view, p)
    tool.release(view, (2, 2, 20))
    a = view.labels.array
    assert (a == 1).sum() == 121 and a[2:13, 2:13, 20].all()


def test_draw_polygon_fills_on_apply():
    view = make_view()
    tool = DrawTool()
    for p in [(10, 2, 2), (10, 2, 12), (10, 12, 12), (10, 12, 2), (10, 30, 30)]:
        tool.press(view, p)
    tool.remove_last_point()
    assert not view.labels.array.any()
    before = view.labels.array.copy()
    tool.apply(view)
    assert (view.labels.array[10] == 1).sum() == 121
    assert view.labels.history.titles() == ["Draw"]
    _check_undo_redo(view, before)


# ----------------------------------------------------------------- mask volume
def test_mask_volume_creates_a_derived_volume():
    img = _blob_image()
    view = make_view(image=img)
    view.labels.array[5:15, 10:20, 10:20] = 1
    tool = MaskVolumeTool(MaskVolumeParams(fill_value=-1024))
    seen = []
    tool.volume_created.connect(seen.append)
    out = tool.apply(view)
    assert seen == [out]
    assert out.geometry == view.image.geometry and out.array.dtype == img.dtype
    assert (out.array[5:15, 10:20, 10:20] == 200).all()
    assert (out.array[view.labels.array == 0] == -1024).all()
    assert not out.array.flags.writeable and (view.image.array == img).all()
    assert not view.labels.history.can_undo
    tool.params.blank_inside = True
    inv = tool.apply(view)
    assert (inv.array[5:15, 10:20, 10:20] == -1024).all() and inv.array[5, 25, 25] == 200


# ---------------------------------------------------------------- snapshot / jobs
def test_compute_on_snapshot_then_commit_on_live_labels():
    view = make_view(image=_blob_image())
    view.labels.array[8:10, 18:22, 18:22] = 1
    snap = view.snapshot()
    assert snap.labels.array is not view.labels.array
    result = MarginTool(MarginParams(distance_mm=1.0)).compute(snap)
    assert not snap.labels.history.can_undo
    MarginTool().commit(view, result)
    assert (view.labels.array == 1).sum() > 32 and view.labels.history.titles() == ["Margin"]


def test_scissors_cuts_the_pressed_slice_and_leaves_the_view_alone():
    view = make_view()
    view.labels.array[:] = 1
    view.slice_index = 3
    tool = ScissorsTool(ScissorsParams(shape=ScissorsShape.RECTANGLE, extent=ScissorsExtent.SLICE))
    tool.press(view, (12, 0, 0))
    tool.release(view, (12, 9, 9))
    assert view.slice_index == 3
    assert not view.labels.array[12, 0:10, 0:10].any() and view.labels.array[3].all()


@pytest.mark.parametrize("axis", [1, 2])
def test_click_tools_work_in_coronal_and_sagittal_views(axis):
    view = make_view(image=_blob_image(), axis=axis)
    LevelTraceTool().press(view, (10, 20, 20))
    region = view.labels.array == 1
    assert np.unique(np.nonzero(region)[axis]).tolist() == [20]
    assert region.sum() == 10 * 20
    view.labels.undo()
    FloodFillTool(FloodFillParams(tolerance=10)).press(view, (10, 20, 20))
    assert (view.labels.array == 1).sum() == 10 * 20


def test_param_specs_describe_every_builtin_tool_for_panel_generation():
    from app.tools.base import param_specs

    for cls in load_builtin_tools().values():
        specs = param_specs(cls().params)
        for spec in specs:
            assert spec.kind in {"float", "int", "bool", "choice"} and spec.label
    specs = {s.name: s for s in param_specs(ScissorsTool().params)}
    assert specs["operation"].kind == "choice" and ScissorsOp.FILL_INSIDE in specs["operation"].choices
    margin = param_specs(MarginTool().params)[0]
    assert (margin.kind, margin.units, margin.minimum) == ("float", "mm", -100.0)
    assert {s.name: s.kind for s in param_specs(IslandsTool().params)}["min_voxels"] == "int"


def test_islands_split_past_label_255_promotes_to_uint16():
    view = make_view(n_segments=255)
    view.labels.array[2:5, 2:5, 2:5] = 1
    view.labels.array[8:14, 10:20, 10:20] = 1
    IslandsTool(IslandsParams(operation=IslandOp.SPLIT, min_voxels=1)).apply(view)
    assert view.labels.array.dtype == np.uint16 and (view.labels.array == 256).sum() == 27
    assert 256 in view.labels.table


def test_islands_split_computed_on_a_snapshot_refuses_taken_ids():
    view = _islands_view()
    tool = IslandsTool(IslandsParams(operation=IslandOp.SPLIT, min_voxels=10))
    result = tool.compute(view.snapshot())
    view.labels.table.new_segment("someone else's")  # takes id 4 on the live table
    with pytest.raises(ValueError, match="run the split again"):
        tool.commit(view, result)
    assert (view.labels.array == 1).sum() == 628
    assert view.labels.history.titles() == ["Add segment someone else's"]  # the refused split left no step
