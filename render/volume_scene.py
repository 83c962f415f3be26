"""``VolumeScene``: the 3D view — volume rendering, slice-plane outlines, orientation cube.

World coordinates are LPS mm. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from render import _vtk
from render._vtk import (
    vtkActor,
    vtkCellArray,
    vtkPoints,
    vtkPolyData,
    vtkPolyDataMapper,
)
from render.orientation import SLICE_KINDS, VIEW_COLORS, ViewKind
from render.volume_visual import VolumeRenderVisual

if TYPE_CHECKING:
    from render._vtk import vtkAnnotatedCubeActor, vtkOrientationMarkerWidget, vtkRenderer
    from render.image_data import VtkImage


class SlicePlanesVisual:
    """Coloured outlines of the three displayed slice planes inside the volume."""

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None]) -> None:
        self._renderer = renderer
        self._request_render = request_render
        self.actors: dict[ViewKind, vtkActor] = {}
        self._points: dict[ViewKind, vtkPoints] = {}
        self._polys: dict[ViewKind, vtkPolyData] = {}
        for kind in SLICE_KINDS:
            points = vtkPoints()
            points.SetNumberOfPoints(4)
            loop = vtkCellArray()
            loop.InsertNextCell(5, [0, 1, 2, 3, 0])
            poly = vtkPolyData()
            poly.SetPoints(points)
            poly.SetLines(loop)
            self._polys[kind] = poly
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(poly)
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.GetProperty().SetColor(*VIEW_COLORS[kind])
            actor.GetProperty().SetLineWidth(2.0)
            actor.GetProperty().LightingOff()
            actor.VisibilityOff()
            renderer.AddActor(actor)
            self.actors[kind] = actor
            self._points[kind] = points

    def set_plane(self, kind: ViewKind, image: VtkImage, slice_axis_zyx: int, index: int) -> None:
        """Outline slice ``index`` along ``slice_axis_zyx`` of ``image``."""
        shape = np.array(image.image.geometry.shape_zyx, dtype=float)
        others = [a for a in range(3) if a != slice_axis_zyx]
        corners = []
        for s0, s1 in ((0, 0), (1, 0), (1, 1), (0, 1)):
            zyx = np.zeros(3)
            zyx[slice_axis_zyx] = index
            zyx[others[0]] = -0.5 + s0 * shape[others[0]]
            zyx[others[1]] = -0.5 + s1 * shape[others[1]]
            corners.append(zyx)
        self.set_polygon(kind, image.image.geometry.index_zyx_to_lps(np.array(corners)))

    def set_polygon(self, kind: ViewKind, points_lps: np.ndarray) -> None:
        """Outline an arbitrary (e.g. oblique) plane by its closed ``(k, 3)`` LPS polygon; k < 3 hides it."""
        pts = np.asarray(points_lps, dtype=float).reshape(-1, 3)
        if len(pts) < 3:
            self.actors[kind].VisibilityOff()
            self._request_render()
            return
        points = self._points[kind]
        points.SetNumberOfPoints(len(pts))
        for i, p in enumerate(pts):
            points.SetPoint(i, *p)
        points.Modified()
        loop = vtkCellArray()
        loop.InsertNextCell(len(pts) + 1, [*range(len(pts)), 0])
        self._polys[kind].SetLines(loop)
        self._polys[kind].Modified()
        self.actors[kind].VisibilityOn()
        self._request_render()

    def set_visible(self, visible: bool) -> None:
        """Show or hide every outline."""
        for actor in self.actors.values():
            actor.SetVisibility(bool(visible))
        self._request_render()

    def close(self) -> None:
        """Remove the outlines from the renderer."""
        for actor in self.actors.values():
            self._renderer.RemoveActor(actor)


def make_orientation_cube() -> vtkAnnotatedCubeActor:
    """Return a cube labelled with LPS patient directions (+x = L, +y = P, +z = S)."""
    cube = _vtk.vtkAnnotatedCubeActor()
    cube.SetXPlusFaceText("L")
    cube.SetXMinusFaceText("R")
    cube.SetYPlusFaceText("P")
    cube.SetYMinusFaceText("A")
    cube.SetZPlusFaceText("S")
    cube.SetZMinusFaceText("I")
    cube.SetFaceTextScale(0.65)
    cube.GetCubeProperty().SetColor(0.25, 0.3, 0.4)
    cube.GetTextEdgesProperty().SetColor(0.8, 0.8, 0.8)
    for prop, rgb in ((cube.GetXPlusFaceProperty(), VIEW_COLORS[ViewKind.SAGITTAL]),
                      (cube.GetXMinusFaceProperty(), VIEW_COLORS[ViewKind.SAGITTAL]),
                      (cube.GetYPlusFaceProperty(), VIEW_COLORS[ViewKind.CORONAL]),
                      (cube.GetYMinusFaceProperty(), VIEW_COLORS[ViewKind.CORONAL]),
                      (cube.GetZPlusFaceProperty(), VIEW_COLORS[ViewKind.AXIAL]),
                      (cube.GetZMinusFaceProperty(), VIEW_COLORS[ViewKind.AXIAL])):
        prop.SetColor(*rgb)
    return cube


class VolumeScene:
    """The 3D view of the shared image.

    Parameters
    ----------
    renderer, request_render
        The 3D view's renderer and its coalescing render request.
    mapper_kind
        Passed to :class:`VolumeRenderVisual` ("cpu", "gpu" or None = auto).
    """

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None],
                 mapper_kind: str | None = None) -> None:
        self.renderer = renderer
        self._request_render = request_render
        renderer.SetBackground(0.08, 0.08, 0.1)
        renderer.SetBackground2(0.25, 0.27, 0.33)
        renderer.GradientBackgroundOn()
        self.volume = VolumeRenderVisual(renderer, request_render, mapper_kind)
        self.planes = SlicePlanesVisual(renderer, request_render)
        self.image: VtkImage | None = None
        self._marker: vtkOrientationMarkerWidget | None = None

    @property
    def orientation_cube(self) -> vtkOrientationMarkerWidget | None:
        """The orientation cube widget, or None before :meth:`attach_orientation_cube`."""
        return self._marker

    def set_image(self, image: VtkImage | None, default_window: tuple[float, float] | None = None) -> None:
        """Show ``image`` from the front (anterior view, superior up) or nothing."""
        self.image = image
        if image is not None:  # CT presets are in HU: keep them for CT only
            is_ct = image.image.modality == "CT"
            if not is_ct and self.volume.preset_name.startswith("ct_"):
                self.volume.preset_name = "mr_default"
            elif is_ct and self.volume.preset_name == "mr_default":
                self.volume.preset_name = "ct_bone"
        self.volume.set_image(image, default_window)
        if image is None:
            self.planes.set_visible(False)
        else:
            self.reset_view()

    def reset_view(self) -> None:
        """Look at the whole volume from the front, superior up."""
        camera = self.renderer.GetActiveCamera()
        if self.image is not None:
            lo, hi = self.image.image.geometry.bounds_lps_mm()
            center = (lo + hi) / 2
            camera.SetFocalPoint(*center)
            camera.SetPosition(*(center - np.array([0.0, 1.0, 0.0]) * 1000.0))  # anterior: -P
            camera.SetViewUp(0.0, 0.0, 1.0)
            self.renderer.ResetCamera(*np.ravel(np.column_stack([lo, hi])))
            camera.Zoom(1.2)
        self._request_render()

    def attach_orientation_cube(self, interactor) -> vtkOrientationMarkerWidget:
        """Show the L/R/A/P/S/I cube in the lower-left corner, following the camera.

        ``interactor`` is the view's ``vtkRenderWindowInteractor`` (it must stay alive until
        :meth:`close`). Attached once: later calls return the same widget.
        """
        if self._marker is not None:
            return self._marker
        widget = _vtk.vtkOrientationMarkerWidget()
        widget.SetOrientationMarker(make_orientation_cube())
        widget.SetInteractor(interactor)
        widget.SetCurrentRenderer(self.renderer)
        widget.SetViewport(0.0, 0.0, 0.18, 0.18)
        widget.SetEnabled(1)
        widget.InteractiveOff()
        self._marker = widget
        return widget

    def close(self) -> None:
        """Remove every visual and disable the orientation cube."""
        if self._marker is not None:
            self._marker.SetEnabled(0)
            self._marker.SetInteractor(None)
            self._marker = None
        self.volume.close()
        self.planes.close()
        self.image = None
