"""Wrap an :class:`~app.model.image.ImageVolume` as VTK image data without copying voxels.

One :class:`VtkImage` per open image is shared by every slice view and the 3D view. GUI thread
only (the wrapped VTK objects are attached to windows); the numpy array stays read-only and is
kept referenced here for as long as VTK points at its memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from render._vtk import numpy_to_vtk, vtkImageData, vtkMatrix4x4

if TYPE_CHECKING:
    from app.model.image import ImageVolume

# dtypes VTK can wrap as they are; anything else (bool, float16, big-endian) is converted once.
_VTK_DTYPES = {np.dtype(t) for t in ("int8", "uint8", "int16", "uint16", "int32", "uint32",
                                      "int64", "uint64", "float32", "float64")}


class VtkImage:
    """The VTK view of one image volume, shared by all views.

    Attributes
    ----------
    image
        The wrapped model object.
    array
        The flat ``x``-fastest array VTK points at. Shares memory with ``image.array`` when that is
        C-contiguous with a VTK dtype (the normal case); otherwise one converted copy made here.
    data
        ``vtkImageData`` in LPS mm: spacing, origin and direction matrix from ``Geometry``. Used by
        the slice mappers (vtkImageResliceMapper honours the direction matrix).
    volume_data
        A second ``vtkImageData`` sharing the *same* scalar array with identity direction and zero
        origin, for volume mappers that ignore the direction matrix (the fixed-point ray caster).
        Place it with ``volume_matrix``.
    volume_matrix
        4×4 ``vtkMatrix4x4`` mapping ``volume_data`` coordinates to LPS mm (direction and origin,
        including gantry-tilt shear).
    """

    def __init__(self, image: ImageVolume) -> None:
        self.image = image
        geometry = image.geometry
        arr = image.array
        if arr.dtype not in _VTK_DTYPES or not arr.dtype.isnative:
            arr = arr.astype(np.float32 if arr.dtype.kind == "f" else np.int32)
        flat = np.ascontiguousarray(arr).ravel()  # a view for C-contiguous input: no copy
        self.array = flat
        scalars = numpy_to_vtk(flat, deep=False)
        scalars.SetName("scalars")
        self._scalars = scalars
        nz, ny, nx = geometry.shape_zyx
        sz, sy, sx = geometry.spacing_zyx_mm

        self.data = vtkImageData()
        self.data.SetDimensions(nx, ny, nz)
        self.data.SetSpacing(sx, sy, sz)
        self.data.SetOrigin(*geometry.origin_lps_mm)
        self.data.SetDirectionMatrix(*geometry.direction)  # row-major 3×3; columns = index axes
        self.data.GetPointData().SetScalars(scalars)

        self.volume_data = vtkImageData()
        self.volume_data.SetDimensions(nx, ny, nz)
        self.volume_data.SetSpacing(sx, sy, sz)
        self.volume_data.GetPointData().SetScalars(scalars)

        self.volume_matrix = vtkMatrix4x4()
        d = geometry.direction_matrix
        for row in range(3):
            for col in range(3):
                self.volume_matrix.SetElement(row, col, float(d[row, col]))
            self.volume_matrix.SetElement(row, 3, float(geometry.origin_lps_mm[row]))

    @property
    def scalar_range(self) -> tuple[float, float]:
        """Return (min, max) of the voxel values."""
        lo, hi = self.data.GetScalarRange()
        return float(lo), float(hi)

    def modified(self) -> None:
        """Tell VTK the shared voxels changed (after an in-place update of the backing array)."""
        self._scalars.Modified()
        self.data.Modified()
        self.volume_data.Modified()
