"""NIfTI, NRRD, MHA (and .seg.nrrd labelmaps) through SimpleITK, with LPS geometry.

ITK keeps origin and direction in LPS internally and converts NIfTI's RAS on read and write, so
``Geometry`` values coming out of here are LPS like DICOM's. SimpleITK objects never leave this
module. Any thread may call these functions.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from analysis._sitk import run_filter, to_sitk
from analysis._task import NULL_CONTEXT, Cancelled, TaskContext
from app.io.errors import MedwsIOError
from app.model.geometry import Geometry
from app.model.image import ImageVolume

#: Suffixes read and written here, longest first so ".nii.gz" wins over ".gz".
VOLUME_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def volume_suffix(path: str | os.PathLike[str]) -> str | None:
    """Return the recognised suffix of ``path`` (e.g. ".nii.gz") or None."""
    name = Path(path).name.lower()
    return next((s for s in VOLUME_SUFFIXES if name.endswith(s)), None)


def is_volume_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a regular file with a volume suffix."""
    return volume_suffix(path) is not None and Path(path).is_file()


def geometry_from_sitk(image: sitk.Image) -> Geometry:
    """Build a :class:`Geometry` from a 3-D SimpleITK image (ITK xyz order → zyx)."""
    return Geometry(
        tuple(image.GetSize()[::-1]),
        tuple(image.GetSpacing()[::-1]),
        tuple(image.GetOrigin()),
        tuple(image.GetDirection()),
    )


def sitk_from_array(array_zyx: np.ndarray, geometry: Geometry) -> sitk.Image:
    """Wrap a ``(z, y, x)`` array and its geometry as a SimpleITK image (copies the array)."""
    return to_sitk(array_zyx, geometry.spacing_zyx_mm, geometry.origin_lps_mm, geometry.direction)


def _modality_guess(array: np.ndarray, path: Path) -> str:
    name = path.name.lower()
    if any(k in name for k in ("label", "seg", "mask")):
        return "SEG"
    if np.issubdtype(array.dtype, np.integer) and array.size and int(array.min()) <= -900:
        return "CT"
    return "OT"


class _SitkPixels:
    """Owner of a SimpleITK image's pixel buffer, handed to numpy through ``__array_interface__``.

    ``np.asarray(owner)`` shares the buffer and keeps ``owner`` (hence the image) as its base, so the
    voxels live exactly as long as some array uses them. The image comes straight from a reader and
    nothing else references its buffer, so the interface is writable: a labelmap may be edited in
    place, an :class:`ImageVolume` marks its array read-only itself.
    """

    def __init__(self, image: sitk.Image) -> None:
        self._image = image
        interface = dict(sitk.GetArrayViewFromImage(image).__array_interface__)
        interface["data"] = (interface["data"][0], False)
        self.__array_interface__ = interface


def _array_owning(image: sitk.Image) -> np.ndarray:
    """Return the ``(z, y, x)`` voxels of a freshly read image without copying them (any thread).

    ``GetArrayFromImage`` copies the whole volume (~0.3 s and twice the memory for a 300×512×512
    CT); the view shares ITK's buffer and keeps the image alive through the array's base.
    """
    return np.asarray(_SitkPixels(image))


def read_volume(path: str | os.PathLike[str], *, ctx: TaskContext = NULL_CONTEXT) -> ImageVolume:
    """Read a NIfTI / NRRD / MHA file as an :class:`ImageVolume` in LPS.

    Raises
    ------
    MedwsIOError
        One line naming the file: missing, unreadable, not 3-D, multi-component.
    Cancelled
        When ``ctx`` asks to stop.
    """
    path = Path(path)
    if not path.is_file():
        raise MedwsIOError(path, "no such file")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        image = run_filter(reader, ctx, reader.Execute, message="reading")
    except Cancelled:
        raise
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()
        raise MedwsIOError(path, f"cannot read volume ({reason[-1] if reason else 'ITK error'})") from None
    if image.GetDimension() != 3:
        raise MedwsIOError(path, f"expected a 3-D image, got {image.GetDimension()}-D")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise MedwsIOError(
            path, f"multi-component images are not supported ({image.GetNumberOfComponentsPerPixel()} components)"
        )
    array = _array_owning(image)  # (z, y, x), ITK's buffer itself: no copy
    geometry = geometry_from_sitk(image)
    metadata = {"source_path": str(path), "format": volume_suffix(path)}
    return ImageVolume(array, geometry, modality=_modality_guess(array, path), name=path.name, metadata=metadata)


def write_volume(
    array_zyx: np.ndarray, geometry: Geometry, path: str | os.PathLike[str], *, compress: bool = True
) -> Path:
    """Write a ``(z, y, x)`` array with its geometry atomically (temp file + fsync + rename).

    The format follows the suffix (.nii.gz, .nii, .nrrd, .seg.nrrd, .mha). The source array is not
    modified. Returns the final path.
    """
    path = Path(path)
    suffix = volume_suffix(path)
    if suffix is None:
        raise MedwsIOError(path, f"unknown volume suffix; use one of {', '.join(VOLUME_SUFFIXES)}")
    if tuple(array_zyx.shape) != geometry.shape_zyx:
        raise MedwsIOError(path, f"array shape {array_zyx.shape} does not match geometry {geometry.shape_zyx}")
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk_from_array(array_zyx, geometry)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    try:
        sitk.WriteImage(image, tmp, useCompression=compress)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except RuntimeError as exc:
        raise MedwsIOError(path, f"cannot write volume ({str(exc).strip().splitlines()[-1]})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_image(image: ImageVolume, path: str | os.PathLike[str], *, compress: bool = True) -> Path:
    """Write an :class:`ImageVolume` (see :func:`write_volume`)."""
    return write_volume(image.array, image.geometry, path, compress=compress)
