"""The only place MedWS imports VTK: limited imports from ``vtkmodules.<kit>``.

Importing this module also registers the OpenGL2 rendering back-ends (the ``vtkRenderingOpenGL2``,
``vtkRenderingVolumeOpenGL2``, ``vtkRenderingFreeType`` and ``vtkInteractionStyle`` factory
overrides) and selects the STDThread SMP back-end, so multi-threaded VTK filters (reslice, the
fixed-point ray caster) use every core without TBB/OpenMP. Any thread may import it; VTK objects
attached to a window are used on the GUI thread only.
"""

from __future__ import annotations

# Factory overrides: without these imports the abstract classes below cannot be instantiated.
import vtkmodules.vtkInteractionStyle  # noqa: F401
import vtkmodules.vtkRenderingFreeType  # noqa: F401
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401
import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: F401
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkCommand, vtkFloatArray, vtkLookupTable, vtkObject, vtkPoints, vtkSMPTools
from vtkmodules.vtkCommonDataModel import (
    vtkCellArray,
    vtkImageData,
    vtkPiecewiseFunction,
    vtkPolyData,
)
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkFiltersCore import vtkSurfaceNets3D, vtkSurfaceNetsAtlas, vtkTriangleMeshPointNormals
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera, vtkInteractorStyleUser
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkIOImage import vtkPNGWriter
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
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
    vtkTexture,
    vtkVolume,
    vtkVolumeProperty,
    vtkWindowToImageFilter,
)
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper
from vtkmodules.vtkRenderingVolume import vtkFixedPointVolumeRayCastMapper
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

vtkSMPTools.SetBackend("STDThread")

__all__ = [
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
    "vtkTexture",
    "vtkTriangleMeshPointNormals",
    "vtkVolume",
    "vtkVolumeProperty",
    "vtkWindowToImageFilter",
]
