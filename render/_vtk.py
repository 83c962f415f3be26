"""The only place MedWS imports VTK: limited imports from ``vtkmodules.<kit>``.

Importing this module also registers the OpenGL2 rendering back-ends (the ``vtkRenderingOpenGL2``,
``vtkRenderingFreeType`` and ``vtkInteractionStyle`` factory overrides; ``vtkRenderingVolumeOpenGL2``
with the first volume mapper) and selects the STDThread SMP back-end, so multi-threaded VTK filters (reslice, the
fixed-point ray caster) use every core without TBB/OpenMP. Any thread may import it; VTK objects
attached to a window are used on the GUI thread only.

Kits the first slice frame does not need (volume rendering, surfaces, the orientation widget, PNG
writing) load on first use of one of their names (``render._vtk.vtkSmartVolumeMapper``): modules
that use them refer to ``_vtk.<name>`` at call time, not in a module-level ``from`` import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loaded on first use, see _LATE
    from vtkmodules.vtkFiltersCore import vtkSurfaceNets3D, vtkSurfaceNetsAtlas, vtkTriangleMeshPointNormals
    from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
    from vtkmodules.vtkIOImage import vtkPNGWriter
    from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
    from vtkmodules.vtkRenderingVolume import vtkFixedPointVolumeRayCastMapper
    from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

# Factory overrides: without these imports the abstract classes below cannot be instantiated.
import vtkmodules.vtkInteractionStyle  # noqa: F401
import vtkmodules.vtkRenderingFreeType  # noqa: F401
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import (
    vtkCommand,
    vtkFloatArray,
    vtkLookupTable,
    vtkObject,
    vtkPoints,
    vtkSMPTools,
)
from vtkmodules.vtkCommonDataModel import (
    vtkCellArray,
    vtkImageData,
    vtkPiecewiseFunction,
    vtkPolyData,
)
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera, vtkInteractorStyleUser
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkActor2D,
    vtkCamera,
    vtkColorTransferFunction,
    vtkCoordinate,
    vtkImageProperty,
    vtkImageSlice,
    vtkPolyDataMapper,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkRenderWindow,
    vtkTextActor,
    vtkTextProperty,
    vtkTextRenderer,
    vtkTexture,
    vtkTexturedActor2D,
    vtkVolume,
    vtkVolumeProperty,
    vtkWindowToImageFilter,
)
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper

#: Names from kits the first slice frame does not need: imported on first use (``__getattr__``),
#: ~10 ms of library loading each. Volume rendering also registers its OpenGL2 overrides then.
_LATE = {
    "vtkSurfaceNets3D": "vtkFiltersCore",
    "vtkSurfaceNetsAtlas": "vtkFiltersCore",
    "vtkTriangleMeshPointNormals": "vtkFiltersCore",
    "vtkOrientationMarkerWidget": "vtkInteractionWidgets",
    "vtkPNGWriter": "vtkIOImage",
    "vtkAnnotatedCubeActor": "vtkRenderingAnnotation",
    "vtkFixedPointVolumeRayCastMapper": "vtkRenderingVolume",
    "vtkSmartVolumeMapper": "vtkRenderingVolumeOpenGL2",
}


def __getattr__(name: str):
    kit = _LATE.get(name)
    if kit is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if kit.startswith("vtkRenderingVolume"):
        importlib.import_module("vtkmodules.vtkRenderingVolumeOpenGL2")  # GPU mapper overrides
    value = getattr(importlib.import_module(f"vtkmodules.{kit}"), name)
    globals()[name] = value
    return value


vtkSMPTools.SetBackend("STDThread")


def new_render_window(windowing_system: str) -> vtkRenderWindow:
    """A render window for a widget of the given Qt platform (``QGuiApplication.platformName()``).

    On ``"xcb"`` (X11) the GLX window class is made directly: that is what ``vtkRenderWindow()``
    returns there, but VTK's factory probes for a working OpenGL back-end (X, EGL, OSMesa) on every
    call, measured here 9–11 ms per window and 32–46 ms for the first, against 0.01–1 ms direct: four
    viewports' worth of start-up. Other platforms (and a VTK without X support) go through the
    factory. GUI thread.
    """
    if windowing_system == "xcb":
        try:
            from vtkmodules.vtkRenderingOpenGL2 import vtkXOpenGLRenderWindow
        except ImportError:  # a VTK built without X
            pass
        else:
            return vtkXOpenGLRenderWindow()
    return vtkRenderWindow()

__all__ = [
    "new_render_window",
    "numpy_to_vtk",
    "vtk_to_numpy",
    "vtkActor",
    "vtkActor2D",
    "vtkAnnotatedCubeActor",
    "vtkCamera",
    "vtkCellArray",
    "vtkColorTransferFunction",
    "vtkCommand",
    "vtkCoordinate",
    "vtkFixedPointVolumeRayCastMapper",
    "vtkFloatArray",
    "vtkImageData",
    "vtkImageProperty",
    "vtkImageResliceMapper",
    "vtkImageSlice",
    "vtkInteractorStyleTrackballCamera",
    "vtkInteractorStyleUser",
    "vtkLookupTable",
    "vtkMatrix4x4",
    "vtkObject",
    "vtkOrientationMarkerWidget",
    "vtkPiecewiseFunction",
    "vtkPNGWriter",
    "vtkPoints",
    "vtkPolyData",
    "vtkPolyDataMapper",
    "vtkPolyDataMapper2D",
    "vtkRenderer",
    "vtkRenderWindow",
    "vtkSMPTools",
    "vtkSmartVolumeMapper",
    "vtkSurfaceNets3D",
    "vtkSurfaceNetsAtlas",
    "vtkTextActor",
    "vtkTextProperty",
    "vtkTextRenderer",
    "vtkTexture",
    "vtkTexturedActor2D",
    "vtkTriangleMeshPointNormals",
    "vtkVolume",
    "vtkVolumeProperty",
    "vtkWindowToImageFilter",
]
