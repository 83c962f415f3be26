"""``VolumeRenderVisual``: direct volume rendering of the shared image, with presets.

The mapper is chosen at run time: the multi-threaded CPU ray caster
(``vtkFixedPointVolumeRayCastMapper``) when OpenGL is a software rasteriser (llvmpipe, softpipe,
swrast), where it measured ~0.04–0.17 s/frame against ~1.8 s for the GPU ray caster, and
``vtkSmartVolumeMapper`` (GPU) otherwise. ``MEDWS_VOLUME_MAPPER=cpu|gpu`` overrides the choice.
Both mappers adapt their sample distances while the user drags (interactive level of detail).
GUI thread only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from app.model.geometry import Geometry
from app.model.image import ImageVolume
from render import _vtk
from render._vtk import (
    vtkColorTransferFunction,
    vtkPiecewiseFunction,
    vtkVolume,
    vtkVolumeProperty,
)
from render.image_data import VtkImage

if TYPE_CHECKING:
    from render._vtk import vtkFixedPointVolumeRayCastMapper, vtkRenderer, vtkRenderWindow, vtkSmartVolumeMapper

log = logging.getLogger(__name__)

_SOFTWARE_GL = ("llvmpipe", "softpipe", "software", "swrast", "swiftshader")

#: Above this many voxels the CPU ray caster renders a strided copy (its first frame computes
#: gradients for every voxel: 4.5 s for 512×512×300 on 2 cores, 0.6 s at stride 2).
CPU_MAX_VOXELS = 16_000_000


def cpu_proxy(image: VtkImage, max_voxels: int = CPU_MAX_VOXELS) -> VtkImage:
    """Return ``image`` or, when larger than ``max_voxels``, a strided copy on a coarser grid.

    The copy keeps voxel (0, 0, 0), the direction and the physical extent (spacing × step), so it
    lies where the full image lies. Slice views always show the full-resolution image.
    """
    volume = image.image
    n = volume.geometry.n_voxels
    if n <= max_voxels:
        return image
    step = 2
    while n / step**3 > max_voxels:
        step += 1
    g = volume.geometry
    array = np.ascontiguousarray(volume.array[::step, ::step, ::step])
    geometry = Geometry(array.shape, tuple(sp * step for sp in g.spacing_zyx_mm), g.origin_lps_mm, g.direction)
    log.info("3D view: CPU ray casting a 1/%d strided copy %s of %s", step, array.shape, g.shape_zyx)
    return VtkImage(ImageVolume(array, geometry, modality=volume.modality, name=volume.name))


@dataclass(frozen=True)
class VolumePreset:
    """A transfer function. Values are HU (CT) or, when ``relative``, fractions of the image's
    default window (0 = window bottom, 1 = window top)."""

    title: str
    colors: tuple[tuple[float, float, float, float], ...]  # (value, r, g, b)
    opacities: tuple[tuple[float, float], ...]  # (value, alpha)
    mip: bool = False
    shade: bool = True
    relative: bool = False


VOLUME_PRESETS: dict[str, VolumePreset] = {
    "ct_bone": VolumePreset(
        "CT bone",
        ((-1000, 0, 0, 0), (150, 0.55, 0.25, 0.15), (300, 0.9, 0.82, 0.62), (1000, 1, 1, 0.92),
         (3000, 1, 1, 1)),
        ((-1000, 0), (150, 0), (300, 0.45), (700, 0.8), (3000, 0.9)),
    ),
    "ct_soft_tissue": VolumePreset(
        "CT soft tissue",
        ((-1000, 0, 0, 0), (-200, 0.55, 0.25, 0.15), (40, 0.88, 0.6, 0.5), (200, 1, 0.9, 0.8),
         (1000, 1, 1, 1)),
        ((-1000, 0), (-300, 0), (-100, 0.02), (40, 0.15), (200, 0.4), (1000, 0.8)),
    ),
    "ct_lung": VolumePreset(
        "CT lung",
        ((-1000, 0.3, 0.3, 0.4), (-750, 0.9, 0.6, 0.6), (-500, 1, 0.8, 0.7), (100, 0.9, 0.4, 0.35),
         (3000, 1, 1, 1)),
        ((-1000, 0), (-920, 0), (-780, 0.08), (-600, 0.15), (-450, 0), (3000, 0)),
    ),
    "mip": VolumePreset(
        "MIP", ((0.0, 0, 0, 0), (1.0, 1, 1, 1)), ((0.0, 0), (1.0, 1)), mip=True, shade=False,
        relative=True,
    ),
    "mr_default": VolumePreset(
        "MR default",
        ((0.0, 0, 0, 0), (0.5, 0.8, 0.7, 0.6), (1.0, 1, 1, 1)),
        ((0.0, 0), (0.15, 0), (0.6, 0.3), (1.0, 0.6)), relative=True,
    ),
}


def gl_renderer_string(window: vtkRenderWindow) -> str:
    """Return the OpenGL renderer string of an initialised window ("" when unknown)."""
    try:
        report = window.ReportCapabilities() or ""
    except Exception:  # noqa: BLE001 - a window without a context reports nothing useful
        return ""
    for line in report.splitlines():
        if "renderer string" in line.lower():
            return line.split(":", 1)[-1].strip()
    return ""


def choose_mapper_kind(window: vtkRenderWindow | None) -> str:
    """Return "cpu" for software OpenGL (or ``MEDWS_VOLUME_MAPPER=cpu``), else "gpu"."""
    forced = os.environ.get("MEDWS_VOLUME_MAPPER", "").lower()
    if forced in ("cpu", "gpu"):
        return forced
    renderer = gl_renderer_string(window).lower() if window is not None else ""
    kind = "cpu" if (not renderer or any(s in renderer for s in _SOFTWARE_GL)) else "gpu"
    log.info("OpenGL renderer %r", renderer)
    return kind


class VolumeRenderVisual:
    """Volume rendering of a :class:`VtkImage` in LPS mm.

    Parameters
    ----------
    renderer, request_render
        The 3D view's renderer and its coalescing render request.
    mapper_kind
        "cpu", "gpu" or None to decide from the OpenGL renderer string when an image is set.
    """

    def __init__(self, renderer: vtkRenderer, request_render: Callable[[], None],
                 mapper_kind: str | None = None) -> None:
        self._renderer = renderer
        self._request_render = request_render
        self.mapper_kind = mapper_kind
        self.mapper: vtkFixedPointVolumeRayCastMapper | vtkSmartVolumeMapper | None = None
        self.property = vtkVolumeProperty()
        self.property.SetInterpolationTypeToLinear()
        self.property.SetAmbient(0.25)
        self.property.SetDiffuse(0.75)
        self.property.SetSpecular(0.2)
        self.actor = vtkVolume()
        self.actor.SetProperty(self.property)
        self.actor.VisibilityOff()
        self.image: VtkImage | None = None
        self.rendered_image: VtkImage | None = None  # image, or its strided copy for the CPU mapper
        self.preset_name = "ct_bone"
        self._window: tuple[float, float] = (400.0, 40.0)
        renderer.AddVolume(self.actor)

    def _make_mapper(self) -> None:
        if self.mapper_kind is None:
            self.mapper_kind = choose_mapper_kind(self._renderer.GetRenderWindow())
        if self.mapper_kind == "cpu":
            mapper = _vtk.vtkFixedPointVolumeRayCastMapper()
            mapper.SetNumberOfThreads(os.cpu_count() or 1)
        else:
            mapper = _vtk.vtkSmartVolumeMapper()
            mapper.SetRequestedRenderModeToDefault()
            mapper.SetInteractiveAdjustSampleDistances(True)
        mapper.SetAutoAdjustSampleDistances(True)  # coarser sampling while dragging
        log.info("3D view: %s volume mapper (%s)", self.mapper_kind, type(mapper).__name__)
        self.mapper = mapper
        self.actor.SetMapper(mapper)

    def set_image(self, image: VtkImage | None, default_window: tuple[float, float] | None = None) -> None:
        """Render ``image`` (shared voxels) or nothing; ``default_window`` scales relative presets."""
        self.image = image
        if image is None:
            self.rendered_image = None
            self.actor.VisibilityOff()
            self._request_render()
            return
        if self.mapper is None:
            self._make_mapper()
        assert self.mapper is not None
        self.rendered_image = cpu_proxy(image) if self.mapper_kind == "cpu" else image
        self.mapper.SetInputData(self.rendered_image.volume_data)
        self.actor.SetUserMatrix(self.rendered_image.volume_matrix)
        if default_window is not None:
            self._window = (float(default_window[0]), float(default_window[1]))
        self.set_preset(self.preset_name)
        self.actor.VisibilityOn()

    def set_preset(self, name: str) -> None:
        """Apply a transfer function from :data:`VOLUME_PRESETS`."""
        preset = VOLUME_PRESETS[name]
        self.preset_name = name
        width, level = self._window
        lo = level - width / 2

        def value(v: float) -> float:
            return lo + v * width if preset.relative else v

        colors = vtkColorTransferFunction()
        for v, r, g, b in preset.colors:
            colors.AddRGBPoint(value(v), r, g, b)
        opacity = vtkPiecewiseFunction()
        for v, a in preset.opacities:
            opacity.AddPoint(value(v), a)
        self.property.SetColor(colors)
        self.property.SetScalarOpacity(opacity)
        self.property.SetShade(preset.shade)
        if self.mapper is not None:
            if preset.mip:
                self.mapper.SetBlendModeToMaximumIntensity()
            else:
                self.mapper.SetBlendModeToComposite()
        self._request_render()

    def set_visible(self, visible: bool) -> None:
        """Show or hide the volume."""
        self.actor.SetVisibility(bool(visible) and self.image is not None)
        self._request_render()

    def close(self) -> None:
        """Remove the volume from the renderer and drop the image."""
        self._renderer.RemoveVolume(self.actor)
        if self.mapper is not None:
            self.mapper.RemoveAllInputConnections(0)
        self.image = self.rendered_image = None
