"""``ViewGrid``: the four viewports in their coloured frames and the layout switching.

Layouts: ``2x2`` (axial, coronal / sagittal, 3D), ``1x3`` (3D on top, the three slice views in a
row below, Slicer's "Conventional"), and one maximised view (``axial``, ``coronal``, ``sagittal``,
``3d``). Double-clicking a view toggles between it maximised and the previous layout. GUI thread
only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QVBoxLayout, QWidget

from render.orientation import SLICE_KINDS, VIEW_COLORS, ViewKind
from ui.viewport import SliceViewport
from ui.volume_viewport import VolumeViewport

if TYPE_CHECKING:
    from ui.viewer_state import ViewerState

LAYOUTS = ("2x2", "1x3", "axial", "coronal", "sagittal", "3d")

# layout → {view: (row, column, row span, column span)}
_PLACES: dict[str, dict[ViewKind, tuple[int, int, int, int]]] = {
    "2x2": {ViewKind.AXIAL: (0, 0, 1, 1), ViewKind.CORONAL: (0, 1, 1, 1),
            ViewKind.SAGITTAL: (1, 0, 1, 1), ViewKind.VOLUME: (1, 1, 1, 1)},
    "1x3": {ViewKind.VOLUME: (0, 0, 2, 3), ViewKind.AXIAL: (2, 0, 1, 1),
            ViewKind.CORONAL: (2, 1, 1, 1), ViewKind.SAGITTAL: (2, 2, 1, 1)},
    **{k.value: {k: (0, 0, 1, 1)} for k in (*SLICE_KINDS, ViewKind.VOLUME)},
}


def _css_rgb(kind: ViewKind) -> str:
    r, g, b = (round(c * 255) for c in VIEW_COLORS[kind])
    return f"rgb({r},{g},{b})"


class ViewFrame(QFrame):
    """A thin border in the view's colour around one viewport."""

    def __init__(self, viewport: QWidget, kind: ViewKind, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.viewport = viewport
        self.setObjectName(f"view_{kind.value}")
        self.setStyleSheet(f"#view_{kind.value} {{ border: 2px solid {_css_rgb(kind)}; }}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(viewport)


class ViewGrid(QWidget):
    """The central widget: three slice viewports and the 3D viewport.

    Signals
    -------
    layout_changed(str)
    """

    layout_changed = Signal(str)

    def __init__(self, state: ViewerState, parent: QWidget | None = None,
                 mapper_kind: str | None = None, *, dormant: bool = False) -> None:
        super().__init__(parent)
        self.slice_views: dict[ViewKind, SliceViewport] = {}
        self.frames: dict[ViewKind, ViewFrame] = {}
        for kind in SLICE_KINDS:
            view = SliceViewport(kind, state, dormant=dormant)
            self.slice_views[kind] = view
            self.frames[kind] = ViewFrame(view, kind, self)
        self.volume_view = VolumeViewport(state, mapper_kind=mapper_kind, dormant=dormant)
        self.frames[ViewKind.VOLUME] = ViewFrame(self.volume_view, ViewKind.VOLUME, self)
        for view in self.slice_views.values():
            view.slice_changed.connect(self.volume_view.on_slice_changed)
        # connected after every viewport: outline the planes once the 3D view has the image too
        self._state = state
        state.image_changed.connect(self._on_state_image_changed)
        for kind, frame in self.frames.items():
            frame.viewport.maximize_requested.connect(lambda k=kind: self.toggle_maximized(k))
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self.layout_name = ""
        self._restore_layout = "2x2"
        self.set_layout("2x2")

    def _on_state_image_changed(self, image) -> None:
        if image is not None:
            for kind, view in self.slice_views.items():
                self.volume_view.on_slice_changed(kind.value, view.scene.slice_index, view.scene.n_slices)

    @property
    def viewports(self) -> dict[ViewKind, SliceViewport | VolumeViewport]:
        """Every viewport by kind."""
        return {kind: frame.viewport for kind, frame in self.frames.items()}

    def visible_kinds(self) -> list[ViewKind]:
        """The views shown in the current layout."""
        return list(_PLACES[self.layout_name])

    def set_layout(self, name: str) -> None:
        """Switch to layout ``name`` (one of :data:`LAYOUTS`)."""
        if name not in _PLACES:
            raise ValueError(f"unknown layout {name!r}; use one of {', '.join(LAYOUTS)}")
        for frame in self.frames.values():
            self._grid.removeWidget(frame)
        for i in range(4):
            self._grid.setRowStretch(i, 0)
            self._grid.setColumnStretch(i, 0)
        places = _PLACES[name]
        for kind, frame in self.frames.items():
            if kind in places:
                row, col, rows, cols = places[kind]
                self._grid.addWidget(frame, row, col, rows, cols)
                for r in range(row, row + rows):
                    self._grid.setRowStretch(r, 1)
                for c in range(col, col + cols):
                    self._grid.setColumnStretch(c, 1)
                frame.show()
            else:
                frame.hide()
        if name not in ("axial", "coronal", "sagittal", "3d"):
            self._restore_layout = name
        self.layout_name = name
        self.wake_first_slice_view()  # fast start: the view whose first frame counts needs its GL context
        self.layout_changed.emit(name)

    def toggle_maximized(self, kind: ViewKind) -> None:
        """Show ``kind`` alone, or go back to the previous multi-view layout."""
        if self.layout_name == kind.value:
            self.set_layout(self._restore_layout)
        else:
            self.set_layout(kind.value)

    def wake_first_slice_view(self) -> None:
        """Wake (see :meth:`VtkViewport.wake`) the first slice view of the layout, or the 3D view if none."""
        shown = self.visible_kinds()
        first = next((k for k in shown if k in self.slice_views), shown[0])
        self.viewports[first].wake()

    def wake_all(self) -> None:
        """Wake every dormant viewport (fast start, after the first frame)."""
        for view in self.viewports.values():
            view.wake()

    def request_render_all(self) -> None:
        """Ask every viewport for one render."""
        for view in self.viewports.values():
            view.request_render()

    def close_views(self) -> None:
        """Close every viewport (stops timers, finalises render windows)."""
        self._state.image_changed.disconnect(self._on_state_image_changed, missing_ok=True)
        for view in self.viewports.values():
            view.close()
