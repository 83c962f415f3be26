"""VTK viewports: the shared ``VtkViewport`` base and ``SliceViewport`` (2-D MPR).

Viewports are ``QVTKRenderWindowInteractor`` widgets that turn Qt input into calls on a render-layer
scene (:class:`~render.slice_scene.SliceScene`, :class:`~render.volume_scene.VolumeScene`) or the
shared :class:`~ui.viewer_state.ViewerState`; they hold no image math. Renders are requested
through a single-shot 0 ms ``QTimer``, so N model events produce one ``Render()``. GUI thread only.

Slice-view mouse and keys (CONVENTIONS §4.1, review mode):

* wheel, ↑/↓ = ±1 slice; PgUp/PgDn = ±10; Home/End = first/last slice
* left-drag = window (horizontal) / level (vertical); right-drag = zoom; middle-drag = pan;
  Ctrl+wheel = zoom; Ctrl+left = zoom, Alt+left = pan (trackpads)
* Shift+move (or Shift+click) = move the linked crosshair in every view
* Ctrl+Alt+left-drag = rotate the crosshair about its centre (3D Slicer's binding): the other two
  views reslice the shared volume on oblique planes through the crosshair point (oblique MPR); the
  3D view's plane outlines follow. On an oblique view label fills follow the plane, while label
  outlines, measurements and the edit tools stay on axis-aligned views (a note in the view says so)
* ``r`` = reset zoom/pan and the crosshair rotation; ``1``–``5`` = W/L presets;
  double-click = maximise/restore (the maximised view is re-fitted)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal as EventSignal
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QGuiApplication
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

from render._vtk import new_render_window, vtkInteractorStyleUser, vtkRenderer
from render.capture import capture_rgb
from render.label_visual import LabelSliceVisual
from render.orientation import ViewKind
from render.slice_scene import SliceScene
from ui.timers import single_shot_timer

if TYPE_CHECKING:
    from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent

    from app.model.labels import LabelVolume
    from ui.viewer_state import ViewerState

_WHEEL_STEP = 120  # one notch of a standard mouse wheel (angleDelta units)


class VtkViewport(QVTKRenderWindowInteractor):
    """Common plumbing: one renderer, MSAA off, coalesced renders, clean close."""

    maximize_requested = Signal()

    def __init__(self, kind: ViewKind, parent=None, *, dormant: bool = False) -> None:
        super().__init__(parent, rw=new_render_window(QGuiApplication.platformName()))
        self.kind = kind
        self.renderer = vtkRenderer()
        window = self.GetRenderWindow()
        # VTK 9.7 defaults to 4× MSAA, which costs ~2.5× per frame in software GL.
        window.SetMultiSamples(0)
        window.AddRenderer(self.renderer)
        self._render_timer = single_shot_timer(self, self._render_now)
        self._render_pending = False  # the timer is armed (a Python flag: asked several times per slice)
        self._closed = False
        self.render_count = 0
        self.dormant = dormant
        if not dormant:
            self.Initialize()

    def wake(self) -> None:
        """Create the OpenGL context of a dormant view (see ``dormant``) and draw it (GUI thread).

        A view built with ``dormant=True`` skips ``Initialize()`` (its GL context, ~75 ms in
        software GL) and draws nothing until woken: fast start builds only the first slice view's
        context before that view's first frame and wakes the others right after it.
        """
        if self.dormant and not self._closed:
            self.dormant = False
            self.Initialize()
            self.request_render()

    def request_render(self) -> None:
        """Schedule one ``Render()`` when control returns to the event loop (GUI thread)."""
        if not self._render_pending and not self._closed:  # asking the timer (or restarting it) is a Qt call
            self._render_pending = True
            self._render_timer.start()

    def _render_now(self) -> None:
        self._render_pending = False
        if self._closed or self.dormant or not self.isVisible():
            return
        self.render_count += 1
        self.GetRenderWindow().Render()

    def capture(self) -> np.ndarray:
        """Render now and return the view's pixels, ``(rows, cols, 3)`` uint8, top row first."""
        self.wake()
        return capture_rgb(self.GetRenderWindow())

    def display_xy(self, position: QPointF) -> tuple[float, float]:
        """Convert a Qt widget position (logical px, y down) to VTK display (device px, y up)."""
        ratio = self.devicePixelRatioF()
        return position.x() * ratio, (self.height() - position.y() - 1) * ratio

    def close_scene(self) -> None:  # overridden
        """Remove the scene's visuals from the renderer."""

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override (see pyvistaqt #762)
        """Stop timers, drop visuals and finalise the render window exactly once."""
        if not self._closed:
            self._closed = True
            self._render_timer.stop()
            self.close_scene()
            self.GetRenderWindow().RemoveRenderer(self.renderer)
            self.Finalize()
        event.accept()


class SliceViewport(VtkViewport):
    """One axial, coronal or sagittal view, linked to the others through ``state``.

    Signals
    -------
    hovered(np.ndarray)
        LPS mm under the mouse (for the status bar).
    slice_changed(str, int, int)
        (view kind, 0-based slice index, number of slices).
    """

    hovered = Signal(object)
    # psygnal, not Qt: emitted on every scrolled slice, to listeners that must run before the frame
    # (boxes, measurements of the new slice); a Qt emission with three Python slots cost ~0.2 ms
    slice_changed = EventSignal(str, int, int)

    def __init__(self, kind: ViewKind, state: ViewerState, parent=None, *, dormant: bool = False) -> None:
        super().__init__(kind, parent, dormant=dormant)
        self.SetInteractorStyle(vtkInteractorStyleUser())  # Qt handles all input below
        self.state = state
        self.scene = SliceScene(self.renderer, self.request_render, kind)
        self.label_visuals: list[LabelSliceVisual] = []
        self._drag_button: Qt.MouseButton | None = None
        self._drag_mode = ""
        self._last_xy = (0.0, 0.0)
        self._emitted_slice: tuple | None = None  # what slice_changed last said (see _emit_slice)
        self._key_axes: object = None  # the scene axes ``_key_direction`` was rounded from
        self._key_direction: tuple = ()
        self._slice_emits = 0
        state.image_changed.connect(self._on_state_image_changed)
        state.cursor_changed.connect(self._on_state_cursor_changed)
        state.window_level_changed.connect(self._on_state_window_level_changed)
        state.rotation_changed.connect(self._on_state_rotation_changed)

    # ----------------------------------------------------------- state → view
    def _on_state_image_changed(self, image) -> None:
        self.scene.set_image(image)
        if image is not None:
            self.scene.set_cursor(self.state.cursor_lps)
        self._show_matching_labels()
        self._emit_slice(force=True)

    def add_labels(self, labels: LabelVolume) -> LabelSliceVisual:
        """Overlay a segmentation (drawn over the image, under the crosshair)."""
        visual = LabelSliceVisual(self.renderer, self.request_render)
        visual.set_labels(labels)
        self.label_visuals.append(visual)
        self._show_matching_labels()
        return visual

    def _show_matching_labels(self) -> None:
        """Show only the segmentations drawn on the displayed image's grid."""
        image = self.state.volume
        for visual in self.label_visuals:
            labels = visual.labels
            visual.set_visible(image is not None and labels is not None
                               and labels.geometry.same_grid(image.geometry))

    def _on_state_cursor_changed(self, lps_mm: np.ndarray) -> None:
        if self.scene.set_cursor(lps_mm):  # the plane may have moved (else the listeners' key is unchanged)
            self._emit_slice()

    def _on_state_window_level_changed(self, width: float, level: float) -> None:
        self.scene.set_window_level(width, level)

    def _on_state_rotation_changed(self, rotations: dict) -> None:
        self.scene.set_cursor(self.state.cursor_lps, move_slice=False)
        self.scene.set_rotations(rotations)
        self._emit_slice(force=True)

    @property
    def oblique(self) -> bool:
        """True when this view shows a rotated (non-index) plane: index-plane tools must not act here."""
        return self.scene.oblique

    def _slice_key(self) -> tuple:
        """What the listeners of ``slice_changed`` depend on: slice, count and the displayed plane."""
        scene = self.scene
        axes = scene.axes
        if axes is None:
            return scene.slice_index, scene.n_slices, None
        if axes is not self._key_axes:  # new axes (image, rotation): their rounded direction once
            self._key_axes, self._key_direction = axes, tuple(np.round(axes.view_direction_lps, 9))
        (fx, fy, fz), (dx, dy, dz) = scene.camera.GetFocalPoint(), scene.view_direction
        return scene.slice_index, scene.n_slices, self._key_direction, round(fx * dx + fy * dy + fz * dz, 6)

    def _emit_slice(self, force: bool = False) -> None:
        """Emit ``slice_changed`` when the displayed plane changed (or ``force``).

        A cursor move that leaves this view's plane where it was (the other views' scrolling) does
        not re-run the listeners (3D plane outline, box and measurement visuals, status bar).
        """
        key = self._slice_key()
        if not force and key == self._emitted_slice:
            return
        self._emitted_slice = key
        self._slice_emits += 1
        # emit_fast: no lock, no emitter context (GUI thread only; no listener asks for the sender):
        # psygnal's emit() cost ~10–20 µs more per scrolled slice
        self.slice_changed.emit_fast(self.kind.value, self.scene.slice_index, self.scene.n_slices)

    # ------------------------------------------------------------ view → state
    def step_slice(self, delta: int) -> int:
        """Move ``delta`` slices (clamped to the volume); return the slice shown."""
        return self.set_slice_index(self.scene.slice_index + int(delta))

    def set_slice_index(self, index: int) -> int:
        """Show slice ``index`` (clamped) and return it.

        The linked cursor moves with the slice (ITK-SNAP behaviour), so the other views' crosshair
        lines and the 3D plane outline follow the scrolled plane.
        """
        emits = self._slice_emits
        index = self.scene.set_slice_index(index)
        if self.scene.image is not None:  # the other views follow after this view's frame
            self.state.set_cursor(self.scene.project_to_plane(self.state.cursor_lps), after_frame=True)
        if self._slice_emits == emits:  # a user action on this view: tell the listeners once, even unchanged
            self._emit_slice(force=True)
        return index

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        """Wheel = slice; Ctrl+wheel = zoom."""
        notches = event.angleDelta().y() / _WHEEL_STEP
        if notches == 0:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.scene.zoom(1.1 ** notches)
        else:
            self.step_slice(int(np.sign(notches) * max(1, round(abs(notches)))))
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Start W/L, zoom or pan dragging; Shift+click moves the crosshair."""
        self.setFocus()
        mods = event.modifiers()
        button = event.button()
        xy = self.display_xy(event.position())
        ctrl_alt = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
        if mods & Qt.KeyboardModifier.ShiftModifier and button == Qt.MouseButton.LeftButton:
            self.state.set_cursor(self.scene.display_to_lps(xy))
            self._drag_mode = "cursor"
        elif button == Qt.MouseButton.LeftButton:
            if (mods & ctrl_alt) == ctrl_alt:
                self._drag_mode = "rotate"
            elif mods & Qt.KeyboardModifier.ControlModifier:
                self._drag_mode = "zoom"
            elif mods & Qt.KeyboardModifier.AltModifier:
                self._drag_mode = "pan"
            else:
                self._drag_mode = "window"
        elif button == Qt.MouseButton.RightButton:
            self._drag_mode = "zoom"
        elif button == Qt.MouseButton.MiddleButton:
            self._drag_mode = "pan"
        else:
            return
        self._drag_button = button
        self._last_xy = xy
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Drag W/L, zoom, pan; Shift+move moves the crosshair; always report the hover point."""
        xy = self.display_xy(event.position())
        dx, dy = xy[0] - self._last_xy[0], xy[1] - self._last_xy[1]
        self._last_xy = xy
        lps = self.scene.display_to_lps(xy) if self.scene.image is not None else None
        if self._drag_mode == "window":
            width, level = self.state.window_level
            lo, hi = self.scene.image.scalar_range if self.scene.image else (0.0, 1.0)
            per_px = max(hi - lo, 1.0) / 1000.0
            self.state.set_window_level(width + dx * per_px * 2, level - dy * per_px)
        elif self._drag_mode == "zoom":
            self.scene.zoom(1.01 ** dy)
        elif self._drag_mode == "pan":
            self.scene.pan(dx, dy)
        elif self._drag_mode == "rotate":
            self.state.rotate_views(self.kind, self._turn_angle(xy[0] - dx, xy[1] - dy, *xy))
        elif lps is not None and (self._drag_mode == "cursor"
                                  or event.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            self.state.set_cursor(lps)
        if lps is not None:
            self.hovered.emit(lps)

    def _turn_angle(self, x0: float, y0: float, x1: float, y1: float) -> float:
        """Counter-clockwise angle (rad) swept about the crosshair centre from display (x0, y0) to (x1, y1)."""
        centre_lps = self.scene.crosshair_center_lps
        if centre_lps is None:
            return 0.0
        cx, cy = self.scene.lps_to_display(centre_lps)
        if min(np.hypot(x0 - cx, y0 - cy), np.hypot(x1 - cx, y1 - cy)) < 3.0:
            return 0.0  # too close to the centre for a stable angle
        turn = np.arctan2(y1 - cy, x1 - cx) - np.arctan2(y0 - cy, x0 - cx)
        return float((turn + np.pi) % (2 * np.pi) - np.pi)

    def rotate_crosshair(self, angle_rad: float) -> None:
        """Turn this view's crosshair by ``angle_rad`` counter-clockwise: the other views' planes follow."""
        self.state.rotate_views(self.kind, angle_rad)

    def reset_view(self) -> None:
        """``r``: fit the slice and undo every crosshair rotation (axis-aligned views again)."""
        self.state.reset_rotation()
        self.scene.reset_view()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """End the drag."""
        if event.button() == self._drag_button:
            self._drag_button = None
            self._drag_mode = ""

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        """Maximise this view or restore the layout."""
        if event.button() == Qt.MouseButton.LeftButton:
            self.maximize_requested.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """Slice keys, ``r`` reset, ``1``–``5`` W/L presets."""
        key = event.key()
        steps = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_PageUp: 10, Qt.Key.Key_PageDown: -10}
        if key in steps:
            self.step_slice(steps[key])
        elif key == Qt.Key.Key_Home:
            self.set_slice_index(0)
        elif key == Qt.Key.Key_End:
            self.set_slice_index(self.scene.n_slices - 1)
        elif key == Qt.Key.Key_R:
            self.reset_view()
        elif not self.state.apply_preset(event.text()):
            event.ignore()
            return
        event.accept()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        """Swallow key releases (no VTK key handling in slice views)."""
        event.ignore()

    def enterEvent(self, event) -> None:  # noqa: N802
        """Nothing to forward to VTK."""

    def leaveEvent(self, event) -> None:  # noqa: N802
        """Nothing to forward to VTK."""

    def resizeEvent(self, event) -> None:  # noqa: N802
        """Resize the render window; a fitted slice stays fitted, a zoomed one keeps its region."""
        super().resizeEvent(event)
        self.scene.viewport_resized()

    def close_scene(self) -> None:
        """Disconnect from the state and remove the visuals."""
        self.state.image_changed.disconnect(self._on_state_image_changed)
        self.state.cursor_changed.disconnect(self._on_state_cursor_changed)
        self.state.window_level_changed.disconnect(self._on_state_window_level_changed)
        self.state.rotation_changed.disconnect(self._on_state_rotation_changed)
        for visual in self.label_visuals:
            visual.close()
        self.label_visuals.clear()
        self.scene.close()
