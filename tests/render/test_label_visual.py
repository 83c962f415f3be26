"""LabelSliceVisual over a SliceScene in a standalone offscreen vtkRenderWindow (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from app.model.labels import LabelTable, LabelVolume, Segment
from render.capture import capture_rgb
from render.label_visual import LabelSliceVisual, label_lookup_table, outline_2d
from render.orientation import ViewKind
from render.slice_scene import SliceScene
from tests.render.conftest import SCENE_SIZE

SIZE = SCENE_SIZE
RED = (255, 0, 0)
GREEN = (0, 255, 0)


def _table() -> LabelTable:
    return LabelTable([Segment(1, "red", RED), Segment(2, "green", GREEN), Segment(7, "blue", (0, 0, 255))])


@pytest.fixture
def make_view(make_scene):
    """``make(volume, labels, kind) -> (window, scene, visual, renders)`` on the shared offscreen scene."""
    made = []

    def make(volume, labels: LabelVolume, kind: ViewKind = ViewKind.AXIAL):
        scene = make_scene(volume, kind)
        renders = []
        visual = LabelSliceVisual(scene.renderer, lambda: renders.append(1))
        visual.set_labels(labels)
        made.append(visual)
        return scene.renderer.GetRenderWindow(), scene, visual, renders

    yield make
    for visual in made:
        visual.close()


def _labels(volume) -> LabelVolume:
    labels = LabelVolume(volume.geometry, _table())
    with labels.transaction("setup"):
        labels.paint((slice(10, 30), slice(20, 44), slice(10, 30)), None, 1)
        labels.paint((slice(10, 30), slice(20, 44), slice(45, 70)), None, 2)
    return labels


def _color(lut, value) -> tuple[float, float, float]:
    rgb = [0.0, 0.0, 0.0]
    lut.GetColor(float(value), rgb)
    return tuple(rgb)


def _pixel_of(scene: SliceScene, zyx) -> tuple[int, int]:
    x, y = scene.lps_to_display(scene.image.image.geometry.index_zyx_to_lps(np.asarray(zyx, float)))
    return SIZE - 1 - int(round(y)), int(round(x))  # capture rows are top-first


def test_lookup_table_maps_ids_to_table_colours_and_hides_background():
    table = _table()
    table.update(7, visible=False)
    lut = label_lookup_table(table, 256)
    assert lut.GetNumberOfTableValues() == 256
    rgba = [0.0] * 4
    lut.GetTableValue(0, rgba)
    assert rgba[3] == 0.0
    assert _color(lut, 1) == pytest.approx((1.0, 0.0, 0.0))
    assert _color(lut, 2) == pytest.approx((0.0, 1.0, 0.0))
    assert lut.GetOpacity(1) == 1.0 and lut.GetOpacity(2) == 1.0
    assert lut.GetOpacity(7) == 0.0  # hidden segment
    assert lut.GetOpacity(3) == 0.0  # id not in the table
    assert lut.GetOpacity(255) == 0.0


def test_fill_shares_memory_and_geometry_with_the_label_volume(make_view, volume):
    labels = _labels(volume)
    _, _, visual, _ = make_view(volume, labels)
    assert np.shares_memory(visual._flat, labels.array)
    assert visual.data.GetDimensions() == volume.geometry.shape_zyx[::-1]
    assert visual.data.GetSpacing() == pytest.approx(volume.geometry.spacing_zyx_mm[::-1])
    assert visual.data.GetOrigin() == pytest.approx(volume.geometry.origin_lps_mm)
    assert visual.fill_mapper.GetInput() is visual.data
    assert visual.fill_property.GetInterpolationType() == 0  # nearest: label ids are never blended
    assert visual.fill_property.GetUseLookupTableScalarRange()
    # before the first render the displayed index plane is unknown: the resliced fill stands in
    assert visual.fill_actor.GetVisibility() and not visual.plane.actor.GetVisibility()


def test_labels_draw_over_the_image_in_segment_colours(make_view, volume):
    labels = _labels(volume)
    window, scene, visual, _ = make_view(volume, labels)
    visual.set_fill(True, 1.0)
    visual.set_outline(False)
    scene.set_slice_index(20)
    rgb = capture_rgb(window)
    r, c = _pixel_of(scene, (20, 32, 20))
    assert tuple(rgb[r, c]) == RED
    r, c = _pixel_of(scene, (20, 32, 57))
    assert tuple(rgb[r, c]) == GREEN
    r, c = _pixel_of(scene, (20, 32, 38))  # gap between the segments: the image shows through
    assert rgb[r, c, 0] == rgb[r, c, 1] == rgb[r, c, 2]
    scene.set_slice_index(35)  # above both segments
    rgb = capture_rgb(window)
    r, c = _pixel_of(scene, (35, 32, 20))
    assert rgb[r, c, 0] == rgb[r, c, 1] == rgb[r, c, 2]


def test_index_plane_labels_draw_without_a_translucent_pass(make_view, volume):
    """The label quad is blended in the opaque pass: a prop with translucent geometry would make the
    renderer run order-independent translucency on every frame (a third of a slice view's frame)."""
    window, scene, visual, _ = make_view(volume, _labels(volume))
    scene.set_slice_index(20)
    capture_rgb(window)
    props = scene.renderer.GetViewProps()
    drawn = [props.GetItemAsObject(i) for i in range(props.GetNumberOfItems())]
    drawn = [p for p in drawn if p.GetVisibility()]
    assert visual.plane.actor in drawn
    assert not [p for p in drawn if p.HasTranslucentPolygonalGeometry()]


def test_a_later_segmentation_is_drawn_over_an_earlier_one(make_view, volume):
    labels = _labels(volume)
    window, scene, visual, _ = make_view(volume, labels)
    other = LabelVolume(volume.geometry, LabelTable([Segment(3, "blue", (0, 0, 255))]))
    with other.transaction("setup"):
        other.paint((slice(10, 30), slice(20, 44), slice(10, 20)), None, 3)
    second = LabelSliceVisual(scene.renderer, lambda: None)
    try:
        second.set_labels(other)
        for v in (visual, second):
            v.set_fill(True, 1.0)
            v.set_outline(False)
        scene.set_slice_index(20)
        rgb = capture_rgb(window)
        r, c = _pixel_of(scene, (20, 32, 15))  # both segmentations: the later one on top
        assert tuple(rgb[r, c]) == (0, 0, 255)
        r, c = _pixel_of(scene, (20, 32, 25))  # only the first
        assert tuple(rgb[r, c]) == RED
    finally:
        second.close()


def test_segment_visibility_and_fill_opacity(make_view, volume):
    labels = _labels(volume)
    window, scene, visual, renders = make_view(volume, labels)
    visual.set_outline(False)
    scene.set_slice_index(20)
    visual.set_fill(True, 0.5)
    rgb = capture_rgb(window)
    r, c = _pixel_of(scene, (20, 32, 20))
    red, green, blue = (int(v) for v in rgb[r, c])
    assert 100 < red < 255 and green == blue  # half-blended with the grey image
    visual.set_visible(False)
    grey = int(capture_rgb(window)[r, c, 0])
    visual.set_visible(True)
    assert abs(red - (255 + grey) / 2) <= 1.5 and abs(green - grey / 2) <= 1.5  # source-alpha over
    n = len(renders)
    labels.table.update(1, visible=False)
    assert len(renders) == n + 1
    assert visual.lut.GetOpacity(1) == 0.0
    rgb = capture_rgb(window)
    assert rgb[r, c, 0] == rgb[r, c, 1] == rgb[r, c, 2]
    labels.table.update(1, visible=True, color_rgb=(0, 0, 255))
    visual.set_fill(True, 1.0)
    rgb = capture_rgb(window)
    assert tuple(rgb[r, c]) == (0, 0, 255)
    visual.set_visible(False)
    assert not visual.drawn


def test_outline_2d_marks_the_boundary_pixels_only():
    s = np.zeros((8, 10), np.uint8)
    s[2:6, 2:7] = 3
    s[0:3, 8:10] = 4  # touches the slice edge
    out = np.zeros_like(s)
    outline_2d(s, out)
    assert out[2, 2] == 3 and out[5, 6] == 3 and out[3, 3] == 0  # ring, hollow inside
    assert (out[2:6, 2:7] > 0).sum() == 4 * 5 - 2 * 3
    assert out[0, 9] == 4 and out[1, 9] == 4  # slice edge counts as a boundary
    assert (out[s == 0] == 0).all()
    # a windowed recompute after an edit equals a full recompute
    s[3:5, 3:4] = 0
    partial = out.copy()
    outline_2d(s, partial, (slice(3, 5), slice(3, 4)))
    full = np.zeros_like(s)
    outline_2d(s, full)
    assert np.array_equal(partial, full)


@pytest.mark.parametrize("kind", [ViewKind.AXIAL, ViewKind.CORONAL, ViewKind.SAGITTAL])
def test_outline_follows_the_displayed_plane(make_view, volume, kind):
    labels = _labels(volume)
    window, scene, visual, _ = make_view(volume, labels, kind)
    visual.set_fill(False)
    visual.set_outline(True, 1.0)
    scene.set_slice_through(volume.geometry.index_zyx_to_lps(np.array([20, 32, 20])))
    rgb = capture_rgb(window)
    axis = scene.axes.slice_axis_zyx
    assert visual._plane_key == (axis, 20 if axis == 0 else 32 if axis == 1 else 20)
    assert visual.on_index_plane and visual.plane.actor.GetVisibility() and not visual.fill_actor.GetVisibility()
    dims = list(volume.geometry.shape_zyx)
    del dims[axis]
    assert visual.plane.ids.shape == tuple(dims)  # one slice, not the volume
    # an axial slice (80 uint8 ids per row) is uploaded from the labelmap itself; the others are copied
    assert np.shares_memory(visual.plane.ids, labels.array) == (axis == 0)
    corner = [10, 20, 10]  # a boundary voxel of segment 1 in every orientation
    corner[axis] = [20, 32, 20][axis]
    r, c = _pixel_of(scene, corner)
    assert tuple(rgb[r, c]) == RED
    r, c = _pixel_of(scene, (20, 32, 20))  # inside: not outlined, fill is off
    assert rgb[r, c, 0] == rgb[r, c, 1] == rgb[r, c, 2]


def test_shader_outline_matches_outline_2d_voxel_for_voxel(make_view, volume):
    """The fragment shader's outline is the numpy reference :func:`outline_2d`, at every voxel centre."""
    labels = _labels(volume)
    with labels.transaction("shapes"):
        labels.paint((slice(20, 21), slice(0, 6), slice(60, 80)), None, 7)  # touches the slice edge
        labels.paint((slice(20, 21), slice(26, 30), slice(14, 18)), None, 0)  # a hole inside segment 1
    labels.table.update(7, visible=True)
    window, scene, visual, _ = make_view(volume, labels)
    visual.set_fill(False)
    visual.set_outline(True, 1.0)
    scene.set_slice_index(20)
    scene.crosshair.set_visible(False)  # only image and labels on screen
    scene.annotation.close()
    rgb = capture_rgb(window)
    expected = np.zeros_like(labels.array[20])
    outline_2d(labels.array[20], expected)
    colours = {1: RED, 2: GREEN, 7: (0, 0, 255)}
    checked = 0
    for y in range(0, 64):
        for x in range(0, 80):
            r, c = _pixel_of(scene, (20, y, x))
            px = tuple(int(v) for v in rgb[r, c])
            if expected[y, x]:
                assert px == colours[int(expected[y, x])], (y, x)
            else:
                assert px[0] == px[1] == px[2], (y, x)
            checked += 1
    assert checked == 64 * 80 and (expected > 0).sum() > 100


def test_paint_updates_only_the_changed_box(make_view, volume):
    labels = _labels(volume)
    window, scene, visual, renders = make_view(volume, labels)
    visual.set_fill(True, 1.0)
    scene.set_slice_index(20)
    capture_rgb(window)
    data, flat, ids = visual.data, visual._flat, visual.plane.ids
    mtime = data.GetPointData().GetScalars().GetMTime()
    n = len(renders)
    with labels.transaction("dab"):
        labels.paint((slice(18, 23), slice(50, 56), slice(50, 56)), None, 7)
    assert len(renders) == n + 1
    # same VTK objects and buffers: nothing re-wrapped or copied, only marked modified
    assert visual.data is data and visual._flat is flat
    assert visual.plane.ids.__array_interface__["data"] == ids.__array_interface__["data"]  # the same slice bytes
    assert data.GetPointData().GetScalars().GetMTime() > mtime
    assert visual._plane_dirty == [(slice(50, 56), slice(50, 56))]
    rgb = capture_rgb(window)
    assert visual._plane_dirty == []
    r, c = _pixel_of(scene, (20, 53, 53))
    assert tuple(rgb[r, c]) == (0, 0, 255)
    assert ids[53, 53] == 7 and ids[50, 50] == 7
    labels.undo()
    rgb = capture_rgb(window)
    assert rgb[r, c, 0] == rgb[r, c, 1] == rgb[r, c, 2]
    assert ids[50, 50] == 0
    # an edit on another slice leaves the layer alone and requests no render of this view
    n = len(renders)
    with labels.transaction("far"):
        labels.paint((slice(2, 4), slice(50, 56), slice(50, 56)), None, 1)
    assert visual._plane_dirty == []
    assert len(renders) == n, "a change that misses the displayed plane must not redraw the view"
    assert data.GetPointData().GetScalars().GetMTime() > mtime  # still marked modified for later slices


def test_uint16_promotion_rewraps_and_close_disconnects(make_view, volume):
    labels = _labels(volume)
    window, scene, visual, renders = make_view(volume, labels)
    visual.set_fill(True, 1.0)
    visual.set_outline(False)
    scene.set_slice_index(20)
    capture_rgb(window)
    labels.table.add(Segment(300, "big", (10, 20, 30)))
    with labels.transaction("big"):
        labels.paint((slice(18, 23), slice(50, 56), slice(50, 56)), None, 300)
    assert labels.array.dtype == np.uint16
    assert np.shares_memory(visual._flat, labels.array)
    assert visual.lut.GetNumberOfTableValues() == 301
    assert _color(visual.lut, 300) == pytest.approx((10 / 255, 20 / 255, 30 / 255))
    rgb = capture_rgb(window)  # a 16-bit id texture and a two-row colour table on the GL side
    assert visual.plane.ids.dtype == np.uint16 and visual.plane.colors.shape[0] == 2
    r, c = _pixel_of(scene, (20, 53, 53))
    assert tuple(rgb[r, c]) == (10, 20, 30)
    r, c = _pixel_of(scene, (20, 32, 20))
    assert tuple(rgb[r, c]) == RED
    visual.close()
    n = len(renders)
    with labels.transaction("after close"):
        labels.paint((slice(0, 2), slice(0, 2), slice(0, 2)), None, 1)
    labels.table.update(1, visible=False)
    assert len(renders) == n


def test_hidden_layer_is_not_maintained_and_comes_back_current(make_view, volume):
    labels = _labels(volume)
    window, scene, visual, _ = make_view(volume, labels)
    scene.set_slice_index(20)
    capture_rgb(window)
    assert visual._plane_key == (0, 20)
    visual.set_visible(False)
    with labels.transaction("hidden"):
        labels.paint((slice(18, 23), slice(50, 56), slice(50, 56)), None, 7)
    capture_rgb(window)
    assert visual._plane_key is None and not visual.drawn
    visual.set_visible(True)
    capture_rgb(window)
    assert visual._plane_key == (0, 20) and visual.plane.actor.GetVisibility()
    assert visual.plane.ids[50, 50] == 7


def test_outline_switch_changes_pixels_not_the_layer(make_view, volume):
    labels = _labels(volume)
    window, scene, visual, _ = make_view(volume, labels)
    visual.set_fill(True, 0.5)
    scene.set_slice_index(20)
    r, c = _pixel_of(scene, (20, 20, 10))  # on segment 1's boundary
    outlined = tuple(int(v) for v in capture_rgb(window)[r, c])
    assert outlined == RED
    visual.set_outline(False)
    filled = tuple(int(v) for v in capture_rgb(window)[r, c])
    assert filled != RED and 100 < filled[0] < 255 and filled[1] == filled[2]  # half-blended fill only
    assert visual.plane.actor.GetVisibility()
    visual.set_fill(False)
    capture_rgb(window)
    assert not visual.drawn  # neither fill nor outline: nothing drawn


def test_labels_on_a_coarser_grid_stay_over_the_image_on_every_slice(make_view, volume):
    """A segmentation with twice the image's slice thickness shows its nearest slice on every image slice."""
    from app.model.geometry import Geometry

    g = volume.geometry
    coarse = Geometry((g.shape_zyx[0] // 2, *g.shape_zyx[1:]), (2 * g.spacing_zyx_mm[0], *g.spacing_zyx_mm[1:]),
                      tuple(g.index_zyx_to_lps(np.array([0.5, 0.0, 0.0]))), g.direction)
    labels = LabelVolume(coarse, _table())
    with labels.transaction("setup"):
        labels.paint((slice(5, 15), slice(20, 44), slice(10, 30)), None, 1)  # image slices 10..29
    window, scene, visual, _ = make_view(volume, labels)
    visual.set_fill(True, 1.0)
    for z in range(10, 30):
        scene.set_slice_index(z)
        rgb = capture_rgb(window)
        r, c = _pixel_of(scene, (z, 25, 20))
        assert tuple(rgb[r, c]) == RED, z
        assert visual._plane_key == (0, int(np.rint(coarse.lps_to_index_zyx(scene.focal_lps)[0])))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_packed_ids_on_an_odd_sized_slice_match_numpy(make_view, make_volume, dtype):
    """Ids packed 4 (uint8) or 2 (uint16) per texel on 61 × 77 slices: every voxel's colour is right."""
    volume = make_volume(shape_zyx=(12, 61, 77))
    segments = [Segment(1, "red", RED), Segment(2, "green", GREEN)]
    if dtype == np.uint16:
        segments.append(Segment(300, "blue", (0, 0, 255)))
    labels = LabelVolume(volume.geometry, LabelTable(segments))
    rng = np.random.default_rng(7)
    blocks = rng.choice([0, 1, 2, 300] if dtype == np.uint16 else [0, 1, 2], size=(13, 16))
    slice_ids = np.kron(blocks, np.ones((5, 5), int))[:61, :77]  # 5-voxel blocks: every colour many times
    with labels.transaction("setup"):
        labels.write((slice(6, 7), slice(0, 61), slice(0, 77)), None, slice_ids[None])
    assert labels.array.dtype == dtype
    window, scene, visual, _ = make_view(volume, labels)
    visual.set_fill(True, 1.0)
    visual.set_outline(False)
    scene.set_slice_index(6)
    scene.crosshair.set_visible(False)
    scene.annotation.close()
    rgb = capture_rgb(window)
    colours = {1: RED, 2: GREEN, 300: (0, 0, 255)}
    for y in range(61):
        for x in range(77):
            r, c = _pixel_of(scene, (6, y, x))
            px = tuple(int(v) for v in rgb[r, c])
            if slice_ids[y, x]:
                assert px == colours[int(slice_ids[y, x])], (y, x)
            else:
                assert px[0] == px[1] == px[2], (y, x)
