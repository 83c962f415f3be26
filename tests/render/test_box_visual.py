"""BoxSliceVisual / BoxWireframeVisual over real scenes in standalone offscreen render windows (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from app.model import box_geometry as bg
from app.model.annotations import Box, BoxSet, Provenance
from render._vtk import vtkRenderer, vtkRenderWindow
from render.box_visual import SELECTED_RGB, BoxSliceVisual, BoxWireframeVisual, _dashes
from render.capture import capture_rgb
from render.orientation import ViewKind
from tests.render.conftest import SCENE_SIZE

SIZE = SCENE_SIZE


@pytest.fixture
def make_view(make_scene):
    made = []

    def make(volume, kind: ViewKind = ViewKind.AXIAL):
        scene = make_scene(volume, kind)
        renders = []
        visual = BoxSliceVisual(scene.renderer, lambda: renders.append(1))
        visual.set_geometry(volume.geometry)
        made.append(visual)
        return scene.renderer.GetRenderWindow(), scene, visual, renders

    yield make
    for visual in made:
        visual.close()


def _sync(scene, visual):
    visual.set_plane(scene.kind.value, scene.axes.slice_axis_zyx, scene.slice_index)


@pytest.mark.parametrize("direction", [None, "rot"], ids=["axis-aligned", "oblique"])
def test_boxes_show_on_exactly_their_slices_in_every_view(make_view, make_volume, rotation_about_z, direction):
    volume = make_volume(direction=None if direction is None else rotation_about_z(25.0))
    g = volume.geometry
    boxes = BoxSet()
    box3 = boxes.add(Box(*bg.box_from_index(g, (10, 20, 30), (16, 30, 45))))
    box2 = boxes.add(Box(*bg.box_from_index(g, (20, 25, 35), (20, 35, 50)), kind="2d", orientation="axial"))
    for kind in (ViewKind.AXIAL, ViewKind.CORONAL, ViewKind.SAGITTAL):
        window, scene, visual, _ = make_view(volume, kind)
        visual.set_boxes(boxes)
        axis = scene.axes.slice_axis_zyx
        expected3 = set(bg.slices_of(box3, g, axis))
        assert expected3, kind
        for k in range(scene.n_slices):
            scene.set_slice_index(k)
            _sync(scene, visual)
            assert (box3.id in visual.shown) == (k in expected3), (kind, k)
            assert (box2.id in visual.shown) == (kind == ViewKind.AXIAL and k == 20), (kind, k)
            if box3.id in visual.shown:
                poly = visual.shown[box3.id]
                assert np.allclose(g.lps_to_index_zyx(poly)[:, axis], k, atol=1e-6)


def test_outline_pixels_colours_and_styles(make_view, volume):
    g = volume.geometry
    window, scene, visual, renders = make_view(volume)
    boxes = BoxSet()
    visual.set_labels(color_of=lambda label_id: (0.0, 1.0, 0.0))
    box = boxes.add(Box(*bg.box_from_index(g, (15, 10, 10), (25, 50, 40))))
    visual.set_boxes(boxes)
    scene.set_slice_index(20)
    _sync(scene, visual)
    img = capture_rgb(window)
    # the box's left edge (min x) is drawn in pure green, the inside is not
    x0, y0 = scene.lps_to_display(g.index_zyx_to_lps((20, 30, 10)))
    inside = scene.lps_to_display(g.index_zyx_to_lps((20, 30, 25)))
    px = img[SIZE - 1 - int(round(y0)), int(round(x0))]
    assert tuple(px) == (0, 255, 0)
    assert tuple(img[SIZE - 1 - int(round(inside[1])), int(round(inside[0]))]) != (0, 255, 0)
    solid_cells = visual.lines.polydata.GetNumberOfCells()
    assert solid_cells == 1
    # a proposal is dashed: many short segments
    boxes.update(box.id, provenance=Provenance(source="det@1", status="proposed"))
    assert visual.lines.polydata.GetNumberOfCells() > 8
    # rejected: dimmed, or hidden by the toggle
    boxes.update(box.id, provenance=Provenance(source="det@1", status="rejected"))
    colors = np.array([visual.lines.polydata.GetCellData().GetScalars().GetTuple3(i)
                       for i in range(visual.lines.polydata.GetNumberOfCells())])
    assert np.all(colors[:, 1] < 130)
    visual.set_show_rejected(False)
    assert box.id not in visual.shown and visual.lines.polydata.GetNumberOfCells() == 0
    visual.set_show_rejected(True)
    # selection: thick yellow outline + 8 handles (4 corners, 4 edge midpoints)
    visual.set_selected(box.id)
    assert visual.handles.polydata.GetNumberOfCells() == 8
    assert visual.selected_lines.polydata.GetNumberOfCells() > 0
    img = capture_rgb(window)
    expected = tuple(round(c * 255) for c in SELECTED_RGB)
    assert np.any(np.all(img == expected, axis=-1))
    assert renders


def test_dashes_cover_about_the_dash_fraction():
    square = np.array([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]], float)
    segs = _dashes(square, 1.4, 1.0, closed=True)
    drawn = sum(float(np.linalg.norm(np.diff(s, axis=0), axis=1).sum()) for s in segs)
    assert drawn == pytest.approx(40 * 1.4 / 2.4, rel=0.05)


def test_wireframe_draws_twelve_edges_per_box_and_follows_the_set():
    window = vtkRenderWindow()
    window.SetOffScreenRendering(1)
    renderer = vtkRenderer()
    window.AddRenderer(renderer)
    boxes = BoxSet()
    visual = BoxWireframeVisual(renderer, lambda: None)
    visual.set_boxes(boxes)
    a = boxes.add(Box((0, 0, 0), (10, 10, 10)))
    boxes.add(Box((20, 0, 0), (30, 10, 10), provenance=Provenance(source="m", status="rejected")))
    assert visual.lines.polydata.GetNumberOfCells() == 24
    visual.set_show_rejected(False)
    assert visual.lines.polydata.GetNumberOfCells() == 12
    visual.set_selected(a.id)
    assert visual.lines.polydata.GetNumberOfCells() == 0 and visual.selected_lines.polydata.GetNumberOfCells() == 12
    boxes.remove(a.id)
    assert visual.selected_lines.polydata.GetNumberOfCells() == 0
    visual.close()
    window.Finalize()
