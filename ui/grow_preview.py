"""Live preview of Grow from seeds in the slice views (Slicer's Initialize → refine → Apply).

:class:`GrowPreview` belongs to :class:`~ui.editor_controller.EditorController`. ``start()``
("Initialize": the first Apply with the tool active) computes the growth in a :class:`Job` and
shows it, in the segments' colours, as a display-only label volume over every slice view. While it
is shown, every seed edit (a seed stroke of the tool, Undo) schedules an update after
``UPDATE_DELAY_MS``; the tool continues its previous GrowCut search from the new seeds, so an
update costs milliseconds on a lesion-sized box. ``apply()`` writes the shown result as one undo
step; ``stop()`` drops it. One job at a time: edits made while a job runs trigger one more update
when it ends. GUI thread only.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject

from app.controllers.jobs import Job
from app.model.labels import LabelTable, LabelVolume
from render.label_visual import LabelSliceVisual
from ui.timers import single_shot_timer

if TYPE_CHECKING:
    from app.tools.base import EditResult
    from ui.editor_controller import EditorController

log = logging.getLogger(__name__)

#: Quiet time after a seed edit before the preview updates (ms).
UPDATE_DELAY_MS = 150
#: Fill opacity of the preview (the seeds themselves are drawn by the segmentation's overlay).
PREVIEW_OPACITY = 0.35


class GrowPreview(QObject):
    """Grow-from-seeds preview of the controller's active segmentation (see module docs)."""

    def __init__(self, controller: EditorController) -> None:
        super().__init__(controller)
        self.controller = controller
        self.volume: LabelVolume | None = None  # display-only, never in the session or its history
        self.visuals: list[LabelSliceVisual] = []
        self.result: EditResult | None = None
        self.last_update_s = 0.0  # wall time of the last update job (s), for the user and tests
        self.updates = 0
        self._labels: LabelVolume | None = None
        self._job: Job | None = None
        self._dirty = False
        self._shown_box: tuple[slice, slice, slice] | None = None
        self._timer = single_shot_timer(self, self._run, UPDATE_DELAY_MS)

    @property
    def active(self) -> bool:
        """True while a preview is shown (or being computed for the first time)."""
        return self._labels is not None

    @property
    def busy(self) -> bool:
        """True while an update job runs."""
        return self._job is not None

    def start(self) -> None:
        """Compute and show the growth from the current seeds ("Initialize")."""
        labels = self.controller.labels
        if labels is None:
            return
        self.stop()
        self._labels = labels
        labels.changed.connect(self._on_seeds_changed)
        self._run()

    def apply(self) -> bool:
        """Write the shown preview as one undo step and stop; False when there was none to write."""
        tool, labels, result = self.controller.tools.get("grow_seeds"), self._labels, self.result
        if tool is None or labels is None or result is None or self.busy:
            return False
        self.stop(keep_tool_state=True)
        tool.preview_result = result
        tool.apply(self.controller._state(self.controller.last_view))
        return True

    def stop(self, *, keep_tool_state: bool = False) -> None:
        """Drop the preview (Cancel, another tool, another segmentation)."""
        self._timer.stop()
        if self._labels is not None:
            self._labels.changed.disconnect(self._on_seeds_changed)
        self._labels = None
        self.result = None
        self._dirty = False
        if self._job is not None:
            self._job.cancel()
            self._job = None
        for visual in self.visuals:
            visual.close()
        self.visuals = []
        self.volume = None
        self._shown_box = None
        tool = self.controller.tools.get("grow_seeds")
        if tool is not None and not keep_tool_state:
            tool.preview_result = None

    # ---------------------------------------------------------------- update
    def _on_seeds_changed(self, _box: object) -> None:
        self._timer.start()

    def _run(self) -> None:
        if self._labels is None:
            return
        if self._job is not None:
            self._dirty = True
            return
        tool = self.controller.tools["grow_seeds"]
        state = self.controller._state(self.controller.last_view)
        if state.image is None:
            self.controller._report("grow from seeds needs the segmentation's image")
            self.stop()
            return
        job = Job(tool.update, state.snapshot())
        t0 = time.perf_counter()
        job.signals.finished.connect(lambda result: self._on_done(job, result, t0))
        job.signals.failed.connect(lambda exc: self._on_failed(job, exc))
        job.signals.cancelled.connect(lambda: None)
        self._job = job
        self.controller._jobs.add(job)
        for sig in (job.signals.finished, job.signals.failed, job.signals.cancelled):
            sig.connect(lambda *_: self.controller._jobs.discard(job))
        job.start()

    def _on_failed(self, job: Job, exc: object) -> None:
        if job is self._job:
            self._job = None
            self.controller._report(exc)

    def _on_done(self, job: Job, result: EditResult | None, t0: float) -> None:
        if job is not self._job:
            return
        self._job = None
        self.last_update_s = time.perf_counter() - t0
        self.updates += 1
        if self._labels is None:
            return
        self.result = result
        self._show(result)
        if self._dirty:
            self._dirty = False
            self._run()

    def _show(self, result: EditResult | None) -> None:
        labels = self._labels
        assert labels is not None
        volume = self.volume
        if volume is None or not volume.geometry.same_grid(labels.geometry):
            volume = LabelVolume(labels.geometry, LabelTable(list(labels.table)), name="grow preview",
                                 array=np.zeros(labels.array.shape, labels.array.dtype))
            self.volume = volume
            for router in self.controller.routers:
                visual = LabelSliceVisual(router.view.renderer, router.view.request_render)
                visual.set_labels(volume)
                visual.set_fill(True, PREVIEW_OPACITY)
                self.visuals.append(visual)
        if self._shown_box is not None:
            volume.array[self._shown_box] = 0
            volume.changed.emit(self._shown_box)
        self._shown_box = result.box if result is not None else None
        if result is not None:
            region = volume.array[result.box]
            values = np.broadcast_to(np.asarray(result.values), region.shape)
            sel = result.mask if result.mask is not None else np.ones(region.shape, bool)
            region[sel] = values[sel]
            volume.changed.emit(result.box)
