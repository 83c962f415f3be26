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


#: NIfTI-1 ``datatype`` codes → numpy types (no complex, RGB or 128-bit types).
_NIFTI_DTYPES = {2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 64: np.float64, 256: np.int8,
                 512: np.uint16, 768: np.uint32, 1024: np.int64, 1280: np.uint64}
_SITK_IDS = {np.dtype(t): getattr(sitk, name) for t, name in (
    (np.uint8, "sitkUInt8"), (np.int8, "sitkInt8"), (np.int16, "sitkInt16"), (np.uint16, "sitkUInt16"),
    (np.int32, "sitkInt32"), (np.uint32, "sitkUInt32"), (np.int64, "sitkInt64"), (np.uint64, "sitkUInt64"),
    (np.float32, "sitkFloat32"), (np.float64, "sitkFloat64"))}


def _raw_nifti_voxels(path: Path, reader: sitk.ImageFileReader, *, map_file: bool = False) -> np.ndarray | None:
    """The voxels of an uncompressed single-file NIfTI-1 read straight from the file, or None.

    ``np.fromfile`` reads into the array with the GIL released (ITK's reader holds it and copies
    once more), so a start-up that reads while it builds its window is not slowed down. Only files
    whose voxels ITK would return unchanged take this path: 3-D, no intensity scaling
    (``scl_slope`` 0 or 1 with ``scl_inter`` 0), a plain numeric datatype, and ITK's own header
    read agreeing on size and pixel type; everything else (and any doubt) returns None for ITK.
    A file shorter than its header says raises :class:`MedwsIOError` (ITK pads it silently).
    ``map_file``: map the voxels (read-only, see :mod:`app.io.mapped_voxels`) where possible instead
    of reading them; the caller detaches them from the file later.
    ``reader`` has run ``ReadImageInformation()``; any thread.
    """
    try:
        with open(path, "rb") as f:
            header = f.read(348)
            if len(header) < 348 or header[344:348] != b"n+1\0":
                return None
            order = "<" if int.from_bytes(header[:4], "little") == 348 else ">"
            if int.from_bytes(header[:4], "little" if order == "<" else "big") != 348:
                return None
            dim = np.frombuffer(header, f"{order}i2", 8, 40)
            datatype = int(np.frombuffer(header, f"{order}i2", 1, 70)[0])
            vox_offset, slope, inter = (float(v) for v in np.frombuffer(header, f"{order}f4", 3, 108))
            if dim[0] != 3 or datatype not in _NIFTI_DTYPES or slope not in (0.0, 1.0) or inter != 0.0:
                return None
            dtype = np.dtype(_NIFTI_DTYPES[datatype]).newbyteorder(order)
            nx, ny, nz = (int(v) for v in dim[1:4])
            if (reader.GetSize() != (nx, ny, nz) or reader.GetPixelID() != _SITK_IDS[dtype.newbyteorder("=")]
                    or reader.GetNumberOfComponents() != 1 or vox_offset < 348 or vox_offset != int(vox_offset)):
                return None
            count = nx * ny * nz
            if map_file:
                from app.io.mapped_voxels import map_file_voxels

                array = map_file_voxels(f.fileno(), int(vox_offset), dtype, (nz, ny, nx))
                if array is not None:
                    return array
            array = np.fromfile(f, dtype=dtype, count=count, offset=int(vox_offset) - 348)
    except (OSError, ValueError):
        return None
    if array.size != count:  # ITK's reader would hand back the missing voxels as garbage
        raise MedwsIOError(path, f"truncated: {array.size} of {count} voxels present")
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    return array.reshape(nz, ny, nx)


def read_volume(path: str | os.PathLike[str], *, ctx: TaskContext = NULL_CONTEXT,
                map_file: bool = False) -> ImageVolume:
    """Read a NIfTI / NRRD / MHA file as an :class:`ImageVolume` in LPS.

    ``map_file``: an uncompressed NIfTI's voxels are mapped rather than read (the viewer's loader,
    which shows them at once and then calls :func:`app.io.mapped_voxels.detach_from_file`); other
    files are read as usual.

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
    array = None
    if volume_suffix(path) == ".nii":
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            pass  # the full read below reports the problem
        else:
            array = _raw_nifti_voxels(path, reader, map_file=map_file)
    if array is not None:
        ctx.check()
        geometry = Geometry(tuple(array.shape), tuple(reader.GetSpacing()[::-1]), tuple(reader.GetOrigin()),
                            tuple(reader.GetDirection()))
    else:
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
