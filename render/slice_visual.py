"""``ImageSliceVisual``: one image volume resliced by the camera of a slice view.

The visual reslices the shared :class:`~render.image_data.VtkImage` with a
``vtkImageResliceMapper`` that follows the camera (slice plane through the focal point, normal to
the view direction), so a slice change is a camera move and no per-view copy of the volume is made.
GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from render._vtk import vtkImageProperty, vtkImageResliceMapper, vtkImageSlice

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

    def set_image(self, image: VtkImage | None) -> None:
        """Show ``image`` (shared, not copied) or nothing when None."""
        self.image = image
        if image is None:
            self.actor.VisibilityOff()
        else:
            self.mapper.SetInputData(image.data)
            self.actor.VisibilityOn()
        self._request_render()

    @property
    def window_level(self) -> tuple[float, float]:
        """Current (width, level) in the image's units (HU for CT)."""
        return float(self.property.GetColorWindow()), float(self.property.GetColorLevel())

    def set_window_level(self, width: float, level: float) -> None:
        """Map ``level ± width / 2`` to black…white (width is clamped to ≥ 1e-3)."""
        self.property.SetColorWindow(max(float(width), 1e-3))
        self.property.SetColorLevel(float(level))
        self._request_render()

    def set_interpolation(self, linear: bool) -> None:
        """Linear (smooth) or nearest-neighbour (voxels visible as blocks) in-plane sampling."""
        if linear:
            self.property.SetInterpolationTypeToLinear()
        else:
            self.property.SetInterpolationTypeToNearest()
        self._request_render()

    def close(self) -> None:
        """Remove the prop from the renderer and drop the image reference."""
        self._renderer.RemoveViewProp(self.actor)
        self.mapper.RemoveAllInputConnections(0)
        self.image = None
