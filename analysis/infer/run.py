"""Run any registered model on an image: dispatch to the manifest's runner.

``manifest.runner`` is an import string inside ``analysis.infer`` (``"analysis.infer.deepbet:brain_mask"``);
the default for segmentation models is :func:`analysis.infer.segment.segment`. Runners share one
signature: ``(manifest, image_zyx, spacing_zyx_mm, direction, *, device, ctx) -> labels_zyx``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np

from analysis._task import NULL_CONTEXT, TaskContext
from analysis.infer.manifest import ModelManifest

DEFAULT_RUNNERS = {"segmentation": "analysis.infer.segment:segment"}


def run_model(manifest: ModelManifest, image_zyx: np.ndarray, spacing_zyx_mm: Sequence[float],
              direction: Sequence[float], *, device: str = "cpu", ctx: TaskContext = NULL_CONTEXT) -> np.ndarray:
    """Run ``manifest``'s model and return its output on the image grid (labels for segmentation)."""
    target = manifest.runner or DEFAULT_RUNNERS.get(manifest.task)
    if target is None:
        raise ValueError(f"{manifest.id}: no runner for task {manifest.task!r}")
    module_name, _, func_name = target.partition(":")
    if not module_name.startswith("analysis.infer."):
        raise ValueError(f"{manifest.id}: runner {target!r} is outside analysis.infer")
    runner = getattr(importlib.import_module(module_name), func_name)
    return runner(manifest, image_zyx, spacing_zyx_mm, direction, device=device, ctx=ctx)
