"""Shared builders for the tool tests."""

from __future__ import annotations

import numpy as np

from app.model import Geometry, ImageVolume, LabelTable, LabelVolume, Segment
from app.tools.base import ViewState


def make_view(shape=(20, 40, 40), spacing=(1.0, 1.0, 1.0), image=None, n_segments=3, axis=0) -> ViewState:
    geometry = Geometry(shape, spacing)
    table = LabelTable([Segment(i, f"s{i}", (10 * i, 0, 0)) for i in range(1, n_segments + 1)])
    labels = LabelVolume(geometry, table)
    img = None
    if image is not None:
        img = ImageVolume(np.asarray(image), geometry, "CT")
    return ViewState(labels, img, label_id=1, axis=axis, slice_index=shape[axis] // 2)


