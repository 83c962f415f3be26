"""``AnalysisController``: preprocessing, classical segmentation and AI models off the GUI thread.

Each run snapshots its inputs on the GUI thread, computes in a :class:`~app.controllers.jobs.Job`
(CPU work on the global pool; models on their own single-thread pool, so at most one runs at a
time, each in a child process — :mod:`analysis.infer.isolated` — so torch never loads into the
GUI process), and applies the result on the GUI thread as ONE undo step / one new object:

* segmentation → a new ``LabelVolume`` whose segments carry ``Provenance(status="proposed")``;
* detection models and lesion candidates → proposed ``Box`` objects with confidence;
* classification models → a study-level ``Finding`` with the class probabilities in its provenance;
* preprocessing → a derived ``ImageVolume`` added to the session.

Every run has a *channel* (e.g. ``"model:deepbet"``) and a generation number: starting a new run
on a channel supersedes the old one, whose result is dropped even if it arrives later. Failures
reach the user through :attr:`failed` (title, one-line message). GUI thread only, except the
functions handed to jobs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThreadPool, Signal

from analysis.infer.manifest import ModelManifest
from app.controllers.jobs import Job
from app.model.annotations import Box, Finding, Provenance
from app.model.image import ImageVolume
from app.model.labels import GENERIC_ANATOMY_COLORS, LabelVolume, Segment
from app.model.review import record_segment_proposals
from app.model.session import Session

log = logging.getLogger(__name__)

CLASSICAL_SOURCE = "medws-classical@0.1"


def _model_job(manifest: ModelManifest, array: np.ndarray, spacing, direction, *, ctx):
    """Worker thread: run a model in its own process, leaving one CPU core free for the GUI."""
    from analysis.infer.isolated import run_model_isolated

    return run_model_isolated(manifest, array, spacing, direction, threads=max(1, (os.cpu_count() or 2) - 1),
                              ctx=ctx)


class AnalysisController(QObject):
    """Run analysis jobs for a :class:`Session` and turn results into proposals.

    Signals
    -------
    started(channel, title), progress(channel, fraction, message), finished(channel, result_object),
    failed(channel, title, message), cancelled(channel).
    """

    started = Signal(str, str)
    progress = Signal(str, float, str)
    finished = Signal(str, object)
    failed = Signal(str, str, str)
    cancelled = Signal(str)

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.torch_pool = QThreadPool(self)
        self.torch_pool.setMaxThreadCount(1)
        self._generation: dict[str, int] = {}
        self._jobs: dict[str, Job] = {}

    # ------------------------------------------------------------------ plumbing
    def _start(self, channel: str, title: str, func: Callable[..., Any], args: tuple,
               apply: Callable[[Any], Any], *, pool: QThreadPool | None = None) -> Job:
        old = self._jobs.get(channel)
        if old is not None and not old.done:
            old.cancel()
        gen = self._generation.get(channel, 0) + 1
        self._generation[channel] = gen
        job = Job(func, *args)
        job.signals.progress.connect(lambda f, m: self.progress.emit(channel, f, m))
        job.signals.finished.connect(lambda result: self._on_finished(channel, gen, title, apply, result))
        job.signals.failed.connect(lambda exc: self._on_failed(channel, gen, title, exc))
        job.signals.cancelled.connect(lambda: self._on_cancelled(channel, gen))
        self._jobs[channel] = job
        self.started.emit(channel, title)
        return job.start(pool)

    def _current(self, channel: str, gen: int) -> bool:
        return self._generation.get(channel) == gen

    def _on_finished(self, channel: str, gen: int, title: str, apply: Callable[[Any], Any], result: Any) -> None:
        if not self._current(channel, gen):
            log.info("%s: dropped a stale result", channel)
            return
        try:
            obj = apply(result)
        except Exception as exc:  # noqa: BLE001 - shown to the user, never swallowed silently
            log.exception("%s: applying the result failed", channel)
            self.failed.emit(channel, title, f"{type(exc).__name__}: {exc}")
            return
        self.finished.emit(channel, obj)

    def _on_failed(self, channel: str, gen: int, title: str, exc: BaseException) -> None:
        if self._current(channel, gen):
            self.failed.emit(channel, title, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    def _on_cancelled(self, channel: str, gen: int) -> None:
        if self._current(channel, gen):
            self.cancelled.emit(channel)

    def cancel(self, channel: str | None = None) -> None:
        """Cancel one channel's job, or all jobs."""
        for name, job in list(self._jobs.items()):
            if channel is None or name == channel:
                job.cancel()

    def shutdown(self, wait_ms: int = 2000) -> bool:
        """Cancel everything and wait for both pools (call on quit). True when idle."""
        self.cancel()
        return self.torch_pool.waitForDone(wait_ms) and QThreadPool.globalInstance().waitForDone(wait_ms)

    def _image(self, image: ImageVolume | None) -> ImageVolume:
        image = image or self.session.active_image
        if image is None:
            raise ValueError("no image open")
        return image

    # ----------------------------------------------------------------- results
    def _add_proposed_segmentation(self, image: ImageVolume, labels: np.ndarray, names: dict[int, str],
                                   name: str, provenance: Provenance) -> LabelVolume:
        seg = self.session.new_segmentation(name, reference=image)
        with seg.transaction(name):  # the rows and the voxels: one undo step
            for label_id, label_name in sorted(names.items()):
                color = GENERIC_ANATOMY_COLORS[(label_id - 1) % len(GENERIC_ANATOMY_COLORS)][1]
                seg.table.add(Segment(label_id, label_name, color, provenance=provenance))
            seg.write(tuple(slice(0, n) for n in labels.shape), labels != 0, labels)  # type: ignore[arg-type]
        record_segment_proposals(self.session, seg)  # keep the original voxels for edit metrics
        return seg

    # -------------------------------------------------------------------- runs
    def run_model(self, manifest: ModelManifest, image: ImageVolume | None = None) -> Job:
        """Run a model in a child process; its output becomes proposals by task.

        segmentation → a new proposed segmentation; detection → proposed boxes (with confidence);
        classification → a study-level finding with the most probable class.
        """
        image = self._image(image)
        if manifest.task not in ("segmentation", "detection", "classification"):
            raise ValueError(f"{manifest.id}: unknown task {manifest.task!r}")
        g = image.geometry
        provenance = Provenance(source=manifest.id, status="proposed",
                                parameters={"task": manifest.task, "licence": manifest.licence})
        title = f"AI: {manifest.name}"

        def apply(result):
            if manifest.task == "segmentation":
                return self._add_proposed_segmentation(image, result, manifest.labels, title, provenance)
            if manifest.task == "detection":
                return self._add_detections(image, manifest, result, provenance)
            return self._add_classification(manifest, result, provenance)

        return self._start(f"model:{manifest.name}", title, _model_job,
                           (manifest, image.array, g.spacing_zyx_mm, g.direction), apply, pool=self.torch_pool)

    def _add_detections(self, image: ImageVolume, manifest: ModelManifest, detections, provenance: Provenance
                        ) -> list[Box]:
        boxes = []
        for det in detections:
            corners = image.geometry.index_zyx_to_lps(np.array([det.start_zyx, np.array(det.stop_zyx) - 1], float))
            boxes.append(self.session.boxes.add(Box(
                tuple(corners.min(axis=0)), tuple(corners.max(axis=0)), label_id=int(det.label_id),
                confidence=round(float(det.score), 4), label=manifest.labels.get(int(det.label_id), ""),
                provenance=provenance)))
        return boxes

    def _add_classification(self, manifest: ModelManifest, probabilities, provenance: Provenance) -> list[Finding]:
        probs = {str(k): float(v) for k, v in dict(probabilities).items()}
        best = max(probs, key=probs.get)
        prov = replace(provenance, parameters={**provenance.parameters,
                                               "probabilities": {k: round(v, 4) for k, v in probs.items()}})
        return [self.session.findings.add(Finding(best, level="study", value=manifest.name,
                                                  confidence=round(probs[best], 4), provenance=prov))]

    def run_ct_tissues(self, image: ImageVolume | None = None) -> Job:
        """Classical CT tissue labels (lungs, airways, bone, fat, soft tissue) as a proposal."""
        from analysis.classical import CT_TISSUE_LABELS, ct_tissue_labels

        image = self._image(image)
        provenance = Provenance(source=CLASSICAL_SOURCE, status="proposed", parameters={"method": "ct-tissues"})
        return self._start(
            "classical:ct-tissues", "CT tissues", ct_tissue_labels, (image.array, image.geometry.spacing_zyx_mm),
            lambda labels: self._add_proposed_segmentation(image, labels, CT_TISSUE_LABELS, "CT tissues",
                                                           provenance),
        )

    def run_lung_lesions(self, image: ImageVolume | None = None, label_id: int = 1) -> Job:
        """Lung lesion candidates as proposed 3-D boxes with a confidence."""
        image = self._image(image)

        def compute(array, spacing, *, ctx):
            from analysis.classical import lung_lesion_candidates, lung_masks

            lungs = lung_masks(array, spacing, ctx=ctx).lungs
            return lung_lesion_candidates(array, spacing, lungs, ctx=ctx)

        def apply(candidates) -> list[Box]:
            boxes = []
            for c in candidates:
                corners = image.geometry.index_zyx_to_lps(np.array([c.start_zyx, np.array(c.stop_zyx) - 1], float))
                prov = Provenance(source=CLASSICAL_SOURCE, status="proposed",
                                  parameters={"method": "lung-lesions", "diameter_mm": round(c.diameter_mm, 1)})
                boxes.append(self.session.boxes.add(Box(tuple(corners.min(axis=0)), tuple(corners.max(axis=0)),
                                                        label_id=label_id, label="lung lesion candidate",
                                                        confidence=round(c.score, 4), provenance=prov)))
            return boxes

        return self._start("classical:lung-lesions", "Lung lesion candidates", compute,
                           (image.array, image.geometry.spacing_zyx_mm), apply)

    def run_preprocess(self, op_name: str, image: ImageVolume | None = None, **params: Any) -> Job:
        """Apply a preprocessing op; the derived volume is added to the session (not activated)."""
        from analysis.preprocess import OPS
        from app.model.geometry import Geometry

        image = self._image(image)
        op = OPS[op_name]
        unknown = set(params) - set(op.defaults)
        if unknown:
            raise ValueError(f"{op_name}: unknown parameter(s) {', '.join(sorted(unknown))}")
        merged = {**op.defaults, **params}

        def apply(result) -> ImageVolume:
            geometry = image.geometry
            array = result
            if op.changes_grid:
                array, spacing = result
                geometry = Geometry(array.shape, spacing, geometry.origin_lps_mm, geometry.direction)
            meta = {"derived_from": image.metadata.get("series_uid") or image.name, "op": op_name,
                    "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in merged.items()}}
            if "units" in image.metadata or image.modality == "CT":
                meta["units"] = image.units
            derived = ImageVolume(np.ascontiguousarray(array), geometry, modality=image.modality,
                                  name=f"{image.name} · {op_name}", metadata=meta)
            return self.session.add_image(derived, activate=False)

        return self._start(f"preprocess:{op_name}", op_name,
                           lambda arr, sp, *, ctx: op.func(arr, sp, ctx=ctx, **merged),
                           (image.array, image.geometry.spacing_zyx_mm), apply)
