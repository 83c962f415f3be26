"""SimpleITK boundary helpers: numpy ↔ sitk.Image and progress/cancel for ITK filters.

Any thread may call these. SimpleITK images never leave ``analysis`` / ``app.io``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import SimpleITK as sitk

from analysis._task import Cancelled, TaskContext

T = TypeVar("T")

IDENTITY_DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def to_sitk(array_zyx: np.ndarray, spacing_zyx_mm: Sequence[float],
            origin_lps_mm: Sequence[float] = (0.0, 0.0, 0.0),
            direction: Sequence[float] = IDENTITY_DIRECTION) -> sitk.Image:
    """Wrap a ``(z, y, x)`` array as a SimpleITK image (copies; ITK order is x, y, z)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(array_zyx))
    image.SetSpacing(tuple(float(s) for s in spacing_zyx_mm[::-1]))
    image.SetOrigin(tuple(float(o) for o in origin_lps_mm))
    image.SetDirection(tuple(float(d) for d in direction))
    return image


def from_sitk(image: sitk.Image) -> np.ndarray:
    """Return the ``(z, y, x)`` numpy array of a SimpleITK image (a copy the caller owns)."""
    return sitk.GetArrayFromImage(image)


def run_filter(process: sitk.ProcessObject, ctx: TaskContext, run: Callable[[], T],
               start: float = 0.0, stop: float = 1.0, message: str = "") -> T:
    """Run ``run()`` (which executes ``process``) with progress mapped into [start, stop].

    Cancellation calls ``process.Abort()``; ITK then raises ``RuntimeError`` which becomes
    :class:`Cancelled`.
    """

    def on_progress() -> None:
        if ctx.is_cancelled():
            process.Abort()
        else:
            ctx.report(start + (stop - start) * process.GetProgress(), message)

    ctx.check()
    process.AddCommand(sitk.sitkProgressEvent, on_progress)
    try:
        return run()
    except RuntimeError:
        if ctx.is_cancelled():
            raise Cancelled from None
        raise
    finally:
        process.RemoveAllCommands()
