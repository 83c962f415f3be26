"""Fast start (issue #3): the first slice frame first, everything else right after it.

``medws view`` starts reading its inputs in a background :class:`~app.controllers.jobs.Job` before
the main window is even imported, builds the window with ``defer_extras=True`` (viewports, menus,
toolbar, the layer list) and shows it. :class:`StartupWatcher` then waits for a slice view's
first *rendered* frame that shows the loaded image and its segmentations — a VTK ``EndEvent`` of
the real render window, nothing drawn specially — and only then calls
:meth:`MainWindow.finish_startup <ui.main_window.MainWindow.finish_startup>`: study index and
browser, Segment Editor, W/L histogram, measurements, analysis menu, session folder, PACS and
export actions, and the 3D volume rendering. The user ends up with the same window, sooner.

Only the first slice view of the layout gets its OpenGL context before that frame (the others are
built *dormant*, :meth:`ui.viewport.VtkViewport.wake`; each context costs ~75 ms in software GL)
and the others are woken as soon as it has been drawn. Uncompressed NIfTI inputs are read with
``np.fromfile`` (:func:`app.io.volume_files.read_volume`), which releases the GIL, so the read
does not stall the window being built meanwhile.

GUI thread only.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from render.orientation import ViewKind
from ui.timers import single_shot_timer

if TYPE_CHECKING:
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)

#: After the load, the longest wait for a slice frame showing it before the rest is installed anyway.
FALLBACK_MS = 3000


class StartupWatcher(QObject):
    """Detect the first frame of a fast-started window, then finish its start-up.

    Parameters
    ----------
    window
        A window built with ``defer_extras=True``.
    expect_image
        True when the command line opens something: the first frame is the one that shows it (or,
        if the load fails, the window as it is once the load has ended).

    Signals
    -------
    first_frame(float)
        Wall-clock time (``time.time()``, s) when that frame's ``Render()`` returned.
    ready(float)
        Wall-clock time when :meth:`~ui.main_window.MainWindow.finish_startup` returned.
    """

    first_frame = Signal(float)
    ready = Signal(float)

    def __init__(self, window: MainWindow, *, expect_image: bool) -> None:
        super().__init__(window)
        self.window = window
        self.expect_image = expect_image
        self.first_frame_time: float | None = None
        self.ready_time: float | None = None
        self._started = time.time()
        self._observers = [(view, view.GetRenderWindow().AddObserver("EndEvent", self._on_render_end))
                           for view in window.grid.slice_views.values()]
        # a frame that never comes (e.g. no slice view shown) must not block the rest
        self._fallback = single_shot_timer(self, self._frame_done, FALLBACK_MS)
        window.loader.finished.connect(self._on_loader_finished)

    def shows_loaded_data(self, kind: ViewKind = ViewKind.AXIAL) -> bool:
        """True when slice view ``kind`` shows the session's active image and all its segmentations."""
        window = self.window
        view = window.grid.slice_views[kind]
        image = window.state.image
        if image is None or view.scene.image is not image or window.session.active_image is None:
            return False
        shown = {id(visual.labels) for visual in view.label_visuals}
        return all(id(labels) in shown for labels in window.session.segmentations)

    def _on_render_end(self, caller: object, _event: str) -> None:  # VTK observer, inside Render(), GUI thread
        if self.first_frame_time is not None:
            return
        if self.expect_image:
            kind = next((v.kind for v, _ in self._observers if v.GetRenderWindow() is caller), None)
            if self.window.loader.busy or kind is None or not self.shows_loaded_data(kind):
                return
        self._frame_done()

    def _on_loader_finished(self) -> None:
        if self.first_frame_time is not None:
            return
        visible = set(self.window.grid.visible_kinds())
        if self.window.state.image is None or not visible & set(self.window.grid.slice_views):
            self._frame_done()  # a failed load or no slice view on screen: finish with the window as it is
        else:
            self._fallback.start()

    def _frame_done(self) -> None:
        if self.first_frame_time is not None:
            return
        self.first_frame_time = time.time()
        self._fallback.stop()
        for view, observer in self._observers:
            view.GetRenderWindow().RemoveObserver(observer)
        self.window.loader.finished.disconnect(self._on_loader_finished)
        log.info("first frame %.2f s after the window was built", self.first_frame_time - self._started)
        self.first_frame.emit(self.first_frame_time)
        self.window.grid.wake_all()  # the other views' GL contexts, then their first frames
        QTimer.singleShot(0, self._finish)  # after the other slice views' pending renders

    def _finish(self) -> None:
        self.window.finish_startup()
        self.ready_time = time.time()
        log.info("start-up finished %.2f s after the window was built", self.ready_time - self._started)
        self.ready.emit(self.ready_time)
