"""Live tool previews of the Segment Editor (a mixin of :class:`~ui.editor_controller.EditorController`).

Threshold shows the thresholded displayed slices, recomputed when its range or a slice changes;
level tracing shows the region a click would add under the resting mouse. The preview is a
display-only label volume drawn by every :class:`~ui.tool_routing.SliceToolRouter`, never part of
the session or its undo history. GUI thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from app.model.labels import LabelTable, LabelVolume, Segment
from app.tools import ViewState
from ui.tool_routing import HOVER_PREVIEW_TOOLS, PREVIEW_TOOLS, ZYX

if TYPE_CHECKING:
    from ui.tool_routing import SliceToolRouter


class ToolPreviewMixin:
    """Preview methods of :class:`~ui.editor_controller.EditorController` (uses its state and routers)."""

    def _on_preview_params_changed(self, *_: object) -> None:
        self.update_preview()

    def _ensure_preview(self) -> LabelVolume | None:
        """Return the preview volume on the active image's grid (created as needed), tinted like the segment."""
        image = self.session.active_image
        if image is None:
            self._drop_preview()
            return None
        preview = self._preview
        if preview is None or not preview.geometry.same_grid(image.geometry):
            self._drop_preview()
            preview = LabelVolume(image.geometry, LabelTable([Segment(1, "preview", (255, 255, 0))]),
                                  name="preview")
            self._preview = preview
            for router in self.routers:
                router.show_preview(preview)
        if self.labels is not None and self.label_id in self.labels.table:
            # lighter than the segment itself, so the preview stands apart from what is already painted
            color = tuple((int(v) + 255) // 2 for v in self.labels.table[self.label_id].color_rgb)
            if preview.table[1].color_rgb != color:
                preview.table.update(1, color_rgb=color)
        return preview

    def _show_preview_regions(self, regions: list[tuple[tuple[slice, slice, slice], np.ndarray]]) -> None:
        """Replace what the preview shows by ``regions`` (absolute ``zyx`` box, mask of its shape)."""
        preview = self._preview
        if preview is None:
            return
        old, self._preview_boxes = self._preview_boxes, []
        for box in old:
            preview.array[box] = 0
        for box, mask in regions:
            preview.array[box] = mask
            self._preview_boxes.append(box)
        for box in old + self._preview_boxes:
            preview.changed.emit(box)

    def update_preview(self) -> None:
        """Show the active tool's live preview on the displayed slices, or drop it.

        Threshold: the thresholded displayed slices, recomputed when the range or a slice changes.
        Level tracing: the region a click would add, under the resting mouse (see
        :meth:`request_hover_preview`). Computed on the GUI thread (milliseconds per slice); the
        preview is a display-only label volume, never part of the session or its undo history.
        """
        tool = self.active_tool
        if tool is None or tool.id not in PREVIEW_TOOLS + HOVER_PREVIEW_TOOLS:
            self._drop_preview()
            return
        preview = self._ensure_preview()
        if preview is None or tool.id in HOVER_PREVIEW_TOOLS:
            self._show_preview_regions([])
            return
        image = self.session.active_image
        regions = []
        try:
            for router in self.routers:
                scene = router.view.scene
                if scene.image is None or scene.axes is None or scene.oblique:
                    continue
                state = ViewState(preview, image, 1, scene.axes.slice_axis_zyx, scene.slice_index)
                regions.append((state.slice_box(), tool.preview(state, scene.slice_index)))  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - a preview error must not break the event loop
            self._report(exc)
        self._show_preview_regions(regions)

    def request_hover_preview(self, router: SliceToolRouter | None, zyx: ZYX | None = None) -> None:
        """Preview the active hover tool at ``zyx`` of ``router``'s view once the mouse rests (None clears)."""
        self._hover = (router, zyx) if router is not None and zyx is not None else None
        if self._hover is None:
            self._hover_timer.stop()
            self._show_preview_regions([])
        else:
            self._hover_timer.start()

    def _on_hover_timer_timeout(self) -> None:
        tool, hover = self.active_tool, self._hover
        if tool is None or tool.id not in HOVER_PREVIEW_TOOLS or hover is None:
            return
        preview = self._ensure_preview()
        router, zyx = hover
        scene = router.view.scene
        if preview is None or scene.axes is None or scene.oblique:
            return
        state = ViewState(preview, self.session.active_image, 1, scene.axes.slice_axis_zyx, scene.slice_index)
        try:
            region = tool.preview(state, zyx)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - as above
            self._report(exc)
            region = None
        self._show_preview_regions([region] if region is not None else [])

    def _drop_preview(self) -> None:
        if self._preview is None:
            return
        self._preview = None
        self._preview_boxes = []
        for router in self.routers:
            router.show_preview(None)

