"""``ImageSliceVisual``: one image volume shown in a slice view, following its camera.

On a native index plane (every slice view unless its crosshair was rotated) an
:class:`~render.image_plane.ImagePlaneLayer` draws the slice: at the start of each render the
visual finds the displayed plane from the camera and, when it changed, copies that one slice of
the shared array and uploads it; window/level and interpolation are shader uniforms. On an oblique
plane the shared :class:`~render.image_data.VtkImage` is resliced by a ``vtkImageResliceMapper``
that follows the camera (slice plane through the focal point, normal to the view direction).
Either way a slice change is a camera move and no per-view copy of the volume is made.
GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from render._vtk import vtkCommand, vtkImageProperty, vtkImageResliceMapper, vtkImageSlice
from render.image_plane import ImagePlaneLayer, value_mapping
from render.index_plane import PlaneCorners, PlaneFinder

if TYPE_CHECKING:
    from render._vtk import vtkRenderer
    from render.image_data import VtkImage


class ImageSliceVisual:
    """Grey-scale slice of a :class:`VtkImage` with window/level.

    Parameters
    ----------
    renderer
        The slice view's renderer; the visual adds one ``vtkImageSlice`` prop to it.
    request_render
        Called after every change; the widget coalesces calls into one ``Render()``.
    """

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None]) -> None:
        self._renderer = renderer
        self._request_render = request_render
        self.mapper = vtkImageResliceMapper()
        self.mapper.SliceFacesCameraOn()
        self.mapper.SliceAtFocalPointOn()
        self.mapper.JumpToNearestSliceOn()  # native voxels when the plane is an index plane
        self.mapper.BorderOn()  # show edge voxels whole (±half a voxel), not cut at their centres
        # One slice is a few hundred thousand pixels: spawning and joining reslice threads per frame
        # (vtkMultiThreader) cost more than they save, most of all when the cores are busy.
        self.mapper.SetNumberOfThreads(1)
        self.property = vtkImageProperty()
        self.property.SetInterpolationTypeToLinear()
        self.property.SetColorWindow(400.0)
        self.property.SetColorLevel(40.0)
        self.actor = vtkImageSlice()
        self.actor.SetMapper(self.mapper)
        self.actor.SetProperty(self.property)
        self.actor.VisibilityOff()
        self.image: VtkImage | None = None
        renderer.AddViewProp(self.actor)
        self.plane = ImagePlaneLayer(renderer)
        self.plane_key: tuple[int, int] | None = None  # (slice axis zyx, index) the plane layer shows
        self._finder: PlaneFinder | None = None
        self._planes: PlaneCorners | None = None
        self._checked_for = -1  # camera MTime of the last plane check
        self._observer = renderer.AddObserver(vtkCommand.StartEvent, self._on_renderer_start)

    def set_image(self, image: VtkImage | None) -> None:
        """Show ``image`` (shared, not copied) or nothing when None."""
        self.image = image
        self.plane_key = None
        self._checked_for = -1  # camera MTime of the last plane check
        self.plane.release()  # the texture may read the previous image's slice in place
        if image is None:
            self.actor.VisibilityOff()
            self.plane.actor.VisibilityOff()
        else:
            self.mapper.SetInputData(image.data)
            self._finder = PlaneFinder(image.image.geometry)
            self._planes = PlaneCorners(image.image.geometry)
            self.plane.set_value_mapping(value_mapping(image.image.array), image.image.array.dtype)
            self.actor.VisibilityOn()
        self._request_render()

    def _on_renderer_start(self, _caller: object, _event: str) -> None:
        """Show the displayed index plane with the plane layer, an oblique one resliced (renderer StartEvent)."""
        if self.image is None or self._finder is None:
            return
        camera = self._renderer.GetActiveCamera()
        mtime = camera.GetMTime()
        if mtime == self._checked_for:
            return  # a redraw with the camera where it was (W/L, overlays): the same plane
        self._checked_for = mtime
        key = self._finder(camera.GetDirectionOfProjection(), camera.GetFocalPoint())
        if key is not None and key != self.plane_key:
            self.plane.show_plane(self.image.image.array, key[0], key[1], self._planes)
        self.plane_key = key
        self.plane.actor.SetVisibility(key is not None)
        self.actor.SetVisibility(key is None)

    @property
    def window_level(self) -> tuple[float, float]:
        """Current (width, level) in the image's units (HU for CT)."""
        return float(self.property.GetColorWindow()), float(self.property.GetColorLevel())

    def set_window_level(self, width: float, level: float) -> None:
        """Map ``level ± width / 2`` to black…white (width is clamped to ≥ 1e-3)."""
        self.property.SetColorWindow(max(float(width), 1e-3))
        self.property.SetColorLevel(float(level))
        self.plane.set_window_level(width, level)
        self._request_render()

    def set_interpolation(self, linear: bool) -> None:
        """Linear (smooth) or nearest-neighbour (voxels visible as blocks) in-plane sampling."""
        if linear:
            self.property.SetInterpolationTypeToLinear()
        else:
            self.property.SetInterpolationTypeToNearest()
        self.plane.set_interpolation(linear)
        self._request_render()

    def close(self) -> None:
        """Remove the props and the render observer, drop the image reference."""
        self._renderer.RemoveObserver(self._observer)
        self._renderer.RemoveViewProp(self.actor)
        self.plane.close()
        self.mapper.RemoveAllInputConnections(0)
        self.image = None
