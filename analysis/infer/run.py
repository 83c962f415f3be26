"""Run any registered model on an image: dispatch to the manifest's runner.

``manifest.runner`` is an import string inside ``analysis.infer`` (``"analysis.infer.deepbet:brain_mask"``);
the defaults per task are in :data:`DEFAULT_RUNNERS`. Runners share one signature,
``(manifest, image_zyx, spacing_zyx_mm, direction, *, device, ctx)``; what they return depends on
the task:

* segmentation: a label array on the input grid (:func:`analysis.infer.segment.segment`);
* detection: a list of :class:`analysis.infer.detect.Detection` — voxel boxes ``[start, stop)``
  in (z, y, x) of the input grid with a score and a label id, best first
  (:func:`analysis.infer.detect.detect`);
* classification: ``{label name: probability}`` for the whole volume
  (:func:`analysis.infer.classify.classify`).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from analysis._task import NULL_CONTEXT, TaskContext
from analysis.infer.manifest import ModelManifest

DEFAULT_RUNNERS = {
    "segmentation": "analysis.infer.segment:segment",
    "detection": "analysis.infer.detect:detect",
    "classification": "analysis.infer.classify:classify",
}


def run_model(manifest: ModelManifest, image_zyx: np.ndarray, spacing_zyx_mm: Sequence[float],
              direction: Sequence[float], *, device: str = "cpu", ctx: TaskContext = NULL_CONTEXT) -> Any:
    """Run ``manifest``'s model on the image.

    Returns
    -------
    numpy.ndarray or list of analysis.infer.detect.Detection or dict of str to float
        Segmentation: labels on the image grid. Detection: boxes in voxel (z, y, x) of the image,
        best first. Classification: ``{label name: probability}``.
    """
    target = manifest.runner or DEFAULT_RUNNERS.get(manifest.task)
    if target is None:
        raise ValueError(f"{manifest.id}: no runner for task {manifest.task!r}")
    module_name, _, func_name = target.partition(":")
    if not module_name.startswith("analysis.infer."):
        raise ValueError(f"{manifest.id}: runner {target!r} is outside analysis.infer")
    runner = getattr(importlib.import_module(module_name), func_name)
    return runner(manifest, image_zyx, spacing_zyx_mm, direction, device=device, ctx=ctx)
