"""Intensity normalisation declared in a model manifest, applied window by window.

Statistics (mean/SD, percentiles) are computed once on the whole volume (subsampled), then
:meth:`Normaliser.__call__` converts each window to float32, so the full volume is never copied
as float. Any thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.infer.manifest import Normalisation


@dataclass(frozen=True)
class Normaliser:
    """``out = (x - offset) * scale``, then clipped to [lo, hi] when given."""

    offset: float = 0.0
    scale: float = 1.0
    lo: float | None = None
    hi: float | None = None

    def __call__(self, window: np.ndarray) -> np.ndarray:
        out = (window.astype(np.float32) - np.float32(self.offset)) * np.float32(self.scale)
        if self.lo is not None or self.hi is not None:
            np.clip(out, self.lo, self.hi, out=out)
        return out


def _sample(volume: np.ndarray, n: int = 2_000_000) -> np.ndarray:
    flat = volume.reshape(-1)
    return flat[:: max(1, flat.size // n)]


def fit_normaliser(volume: np.ndarray, spec: Normalisation) -> Normaliser:
    """Return the :class:`Normaliser` for ``spec`` fitted on ``volume``.

    Kinds: ``none``; ``zscore`` (optionally over voxels > ``params['foreground_above']``);
    ``percentile`` (``low``/``high`` percentiles → [0, 1], clipped); ``ct_window``
    (``width``/``level`` HU → [0, 1], clipped); ``minmax`` (→ [0, 1]).
    """
    p = spec.params
    if spec.kind == "none":
        return Normaliser()
    sample = _sample(volume).astype(np.float64)
    if spec.kind == "zscore":
        if "foreground_above" in p:
            sample = sample[sample > float(p["foreground_above"])] if (sample > float(p["foreground_above"])).any() \
                else sample
        sd = float(sample.std())
        return Normaliser(float(sample.mean()), 1.0 / sd if sd > 0 else 1.0)
    if spec.kind == "percentile":
        lo, hi = np.percentile(sample, [float(p.get("low", 0.5)), float(p.get("high", 99.5))])
        return Normaliser(float(lo), 1.0 / max(float(hi - lo), 1e-6), 0.0, 1.0)
    if spec.kind == "ct_window":
        width, level = float(p.get("width", 400.0)), float(p.get("level", 40.0))
        return Normaliser(level - width / 2.0, 1.0 / width, 0.0, 1.0)
    if spec.kind == "minmax":
        lo, hi = float(sample.min()), float(sample.max())
        return Normaliser(lo, 1.0 / max(hi - lo, 1e-6))
    raise ValueError(f"unknown normalisation {spec.kind!r}")
