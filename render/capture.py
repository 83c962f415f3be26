"""Read rendered pixels back and write composed PNGs (no Qt).

``QWidget.grab()`` returns black for VTK widgets, so screenshots go through
``vtkWindowToImageFilter``. GUI thread only for :func:`capture_rgb`; the rest is pure numpy.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from render import _vtk
from render._vtk import numpy_to_vtk, vtk_to_numpy, vtkImageData, vtkWindowToImageFilter

if TYPE_CHECKING:
    from render._vtk import vtkRenderWindow


def capture_rgb(window: vtkRenderWindow) -> np.ndarray:
    """Render ``window`` and return its pixels as an ``(rows, cols, 3)`` uint8 array, top row first."""
    window.Render()
    grabber = vtkWindowToImageFilter()
    grabber.SetInput(window)
    grabber.SetInputBufferTypeToRGB()
    grabber.ReadFrontBufferOff()
    grabber.ShouldRerenderOff()
    grabber.Update()
    out = grabber.GetOutput()
    cols, rows, _ = out.GetDimensions()
    pixels = vtk_to_numpy(out.GetPointData().GetScalars()).reshape(rows, cols, -1)[..., :3]
    return np.ascontiguousarray(pixels[::-1])  # VTK rows are bottom-up


def compose(tiles: list[tuple[np.ndarray, int, int]], size_wh: tuple[int, int],
            background: tuple[int, int, int] = (30, 30, 30)) -> np.ndarray:
    """Paste ``(rgb, left_px, top_px)`` tiles on a canvas of ``size_wh`` (clipped at its edges)."""
    width, height = size_wh
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = background
    for rgb, left, top in tiles:
        h = max(0, min(rgb.shape[0], height - top))
        w = max(0, min(rgb.shape[1], width - left))
        canvas[top:top + h, left:left + w] = rgb[:h, :w]
    return canvas


def write_png(rgb: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write an ``(rows, cols, 3)`` uint8 array (top row first) as PNG, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows, cols, _ = rgb.shape
    image = vtkImageData()
    image.SetDimensions(cols, rows, 1)
    flat = np.ascontiguousarray(rgb[::-1]).reshape(-1, 3)
    scalars = numpy_to_vtk(flat, deep=True)
    image.GetPointData().SetScalars(scalars)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        writer = _vtk.vtkPNGWriter()
        writer.SetFileName(tmp)
        writer.SetInputData(image)
        writer.Write()
        if writer.GetErrorCode() or os.path.getsize(tmp) == 0:
            raise OSError(f"{path}: cannot write PNG")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
