"""Write segment surfaces as STL, OBJ or PLY, in LPS or RAS, with the space stated in the file.

MedWS meshes are in LPS mm (DICOM patient space). Many mesh tools assume RAS (3D Slicer's internal
space, NIfTI); the user picks. RAS is LPS with x and y negated, a 180° rotation about S, so the
triangle winding (outward normals) is kept.

The coordinate system is written where each format keeps free text, in 3D Slicer's spelling, so
Slicer ≥ 4.11 reads the file in the right space:

* STL (binary): the 80-byte header starts ``SPACE=LPS`` (or ``SPACE=RAS``);
* OBJ: a first comment line ``# SPACE=LPS``;
* PLY (binary): a ``comment SPACE=LPS`` header line; vertices also carry the segment colour.

Every file is written to a temporary name in the target folder and renamed into place, so a
failed or interrupted export never leaves a half-written file under the final name.

Threads: any thread for detached meshes (the result of
:func:`render.surface_visual.build_surfaces`); the GUI thread for meshes already attached to a
view (``SegmentSurfaces.polydata``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

# Mesh writers are not yet re-exported by render/_vtk.py (owned by the viewer engineer).
from vtkmodules.vtkIOGeometry import vtkOBJWriter, vtkSTLWriter
from vtkmodules.vtkIOPLY import vtkPLYWriter

from render._vtk import numpy_to_vtk, vtk_to_numpy, vtkPolyData

if TYPE_CHECKING:
    from app.model.labels import LabelTable

SPACES = ("LPS", "RAS")
FORMATS = ("stl", "obj", "ply")
_LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])


class SurfaceExportError(OSError):
    """A surface file could not be written."""


def to_space(poly: vtkPolyData, space: str) -> vtkPolyData:
    """Return ``poly`` (LPS mm) in ``space``: the same object for LPS, a new mesh for RAS.

    The RAS mesh shares the triangles and has its own points (and normals), x and y negated.
    """
    space = _check_space(space)
    if space == "LPS":
        return poly
    out = vtkPolyData()
    out.ShallowCopy(poly)
    points = vtk_to_numpy(poly.GetPoints().GetData()) * _LPS_TO_RAS.astype(np.float32)
    new_points = out.GetPoints().NewInstance()
    new_points.SetData(numpy_to_vtk(np.ascontiguousarray(points, np.float32), deep=True))
    out.SetPoints(new_points)
    normals = poly.GetPointData().GetNormals()
    if normals is not None:
        flipped = numpy_to_vtk(np.ascontiguousarray(vtk_to_numpy(normals) * _LPS_TO_RAS, np.float32), deep=True)
        flipped.SetName(normals.GetName() or "Normals")
        out.GetPointData().SetNormals(flipped)
    return out


def _check_space(space: str) -> str:
    space = str(space).upper()
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    return space


def _ascii(text: str) -> str:
    return re.sub(r"[^\x20-\x7e]", "_", text)


def write_surface(poly: vtkPolyData, path: str | os.PathLike[str], *, space: str = "LPS", name: str = "",
                  color_rgb: tuple[int, int, int] | None = None) -> Path:
    """Write one mesh (points in LPS mm) to ``path``; the suffix picks STL, OBJ or PLY.

    Parameters
    ----------
    poly
        Triangle mesh in LPS mm (e.g. one value of ``build_surfaces``); not modified.
    path
        Target file, ``.stl``, ``.obj`` or ``.ply``. Written atomically (temporary file + rename).
    space
        ``"LPS"`` or ``"RAS"``: the coordinate system of the written points, stated in the file.
    name
        Segment name, added to the header/comment (ASCII only; other characters become ``_``).
    color_rgb
        0–255 segment colour, stored per vertex in PLY (ignored by STL and OBJ).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        Unknown suffix or space.
    SurfaceExportError
        The writer failed; nothing is left at ``path`` (an older file there is kept).
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"{path.name}: surface format must be one of {FORMATS}")
    space = _check_space(space)
    mesh = to_space(poly, space)
    label = f"SPACE={space}" + (f" MedWS segment {_ascii(name)}" if name else " MedWS")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".{fmt}", dir=path.parent)
    os.close(fd)
    tmp_obj = None
    try:
        if fmt == "stl":
            writer = vtkSTLWriter()
            writer.SetFileTypeToBinary()
            writer.SetHeader(label[:80])
        elif fmt == "ply":
            writer = vtkPLYWriter()
            writer.SetFileTypeToBinary()
            writer.AddComment(label)
            if color_rgb is not None:
                writer.SetColorModeToUniformPointColor()
                writer.SetColor(*(int(c) for c in color_rgb))
            else:
                writer.SetColorModeToOff()
        else:
            writer = vtkOBJWriter()
        writer.SetInputData(mesh)
        writer.SetFileName(tmp)
        ok = writer.Write()
        if not ok or writer.GetErrorCode() or os.path.getsize(tmp) == 0:
            raise SurfaceExportError(f"{path}: cannot write {fmt.upper()} surface")
        if fmt == "obj":  # vtkOBJWriter has no comment API: prepend the space line
            fd, tmp_obj = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".obj", dir=path.parent)
            with os.fdopen(fd, "wb") as dst, open(tmp, "rb") as src:
                dst.write(f"# {label}\n".encode("ascii"))
                shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(tmp_obj, tmp)
            tmp_obj = None
        os.replace(tmp, path)
    except OSError as exc:
        if isinstance(exc, SurfaceExportError):
            raise
        raise SurfaceExportError(f"{path}: {exc}") from exc
    finally:
        for leftover in (tmp, tmp_obj):
            if leftover and os.path.exists(leftover):
                os.unlink(leftover)
    return path


def safe_file_stem(name: str) -> str:
    """Return ``name`` reduced to a portable file stem (letters, digits, ``-``, ``_``, ``.``)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return stem or "segment"


def export_surfaces(surfaces: Mapping[int, vtkPolyData], table: LabelTable, directory: str | os.PathLike[str], *,
                    file_format: str = "stl", space: str = "LPS", prefix: str = "") -> dict[int, Path]:
    """Write one file per segment surface into ``directory``; return label id → path.

    Files are named ``<prefix><segment name>.<format>`` (names made file-safe; the label id is
    appended when two names collide). Segments missing from ``table`` are named ``label_<id>``.

    Parameters
    ----------
    surfaces
        label id → mesh in LPS mm (``build_surfaces`` output or ``SegmentSurfaces.polydata``).
    table
        Names and colours of the segments.
    directory
        Output folder (created if missing).
    file_format
        ``"stl"``, ``"obj"`` or ``"ply"``.
    space
        ``"LPS"`` or ``"RAS"`` (stated in every file).
    prefix
        Prepended to every file name, e.g. ``"case01_"``.
    """
    fmt = file_format.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"surface format must be one of {FORMATS}, got {file_format!r}")
    _check_space(space)
    out: dict[int, Path] = {}
    used: set[str] = set()
    for label_id in sorted(surfaces):
        seg = table[label_id] if label_id in table else None
        name = seg.name if seg is not None else f"label_{label_id}"
        stem = prefix + safe_file_stem(name)
        if stem.lower() in used:
            stem = f"{stem}_{label_id}"
        used.add(stem.lower())
        out[label_id] = write_surface(surfaces[label_id], Path(directory) / f"{stem}.{fmt}", space=space,
                                      name=name, color_rgb=seg.color_rgb if seg is not None else None)
    return out


def read_space(path: str | os.PathLike[str]) -> str | None:
    """Return the ``SPACE=`` value stated in a surface file's header (``"LPS"``/``"RAS"``) or None."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    match = re.search(rb"SPACE=(LPS|RAS)", head)
    return match.group(1).decode() if match else None


def write_segment_surfaces(labels_array, geometry, table: LabelTable, directory: str | os.PathLike[str], *,
                           label_ids=None, file_format: str = "stl", space: str = "LPS") -> list[Path]:
    """Build smoothed SurfaceNets meshes of ``label_ids`` (default: every segment present) and write them.

    The dataset exporter's surface hook (:func:`app.io.export.set_surface_writer`); any thread
    (builds detached polydata, touches no window).
    """
    import numpy as np

    from render.surface_visual import build_surfaces

    present = {int(v) for v in np.unique(labels_array) if v}
    ids = sorted(present if label_ids is None else present & {int(i) for i in label_ids})
    if not ids:
        return []
    surfaces = build_surfaces(labels_array, geometry, ids)
    return list(export_surfaces(surfaces, table, directory, file_format=file_format, space=space).values())
