"""Window/level dock: histogram band and spin boxes two-way bound to ViewerState."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from render.image_data import VtkImage
from ui.viewer_state import WL_PRESETS, ViewerState
from ui.wl_histogram import WindowLevelPanel


@pytest.fixture
def panel(qtbot, volume):
    state = ViewerState()
    widget = WindowLevelPanel(state)
    widget.resize(300, 220)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    state.set_image(VtkImage(volume))
    yield widget
    widget.close_panel()


def _mouse(widget, kind, x, button, buttons):
    y = widget.height() / 2
    event = QMouseEvent(kind, QPointF(x, y), QPointF(widget.mapToGlobal(QPointF(x, y).toPoint())),
                        button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_histogram_covers_the_image_range(panel, volume):
    hist = panel.view.histogram
    assert hist.lo == volume.array.min() and hist.hi == volume.array.max()
    assert panel.isEnabled()


def test_spin_box_edit_changes_the_displayed_range(panel):
    panel.width_spin.setValue(800.0)
    panel.level_spin.setValue(-100.0)
    assert panel.state.window_level == (800.0, -100.0)
    assert panel.view.window_level == (800.0, -100.0)
    x0, x1 = panel.view.band_x()
    assert panel.view.x_to_value(x0) == pytest.approx(-500.0)
    assert panel.view.x_to_value(x1) == pytest.approx(300.0)


def test_preset_key_updates_the_widget(panel):
    _, width, level = WL_PRESETS["2"]
    assert panel.state.apply_preset("2")  # what key "2" in a slice view calls
    assert panel.width_spin.value() == width and panel.level_spin.value() == level
    assert panel.view.window_level == (width, level)


def test_preset_button_sets_the_state(panel):
    panel.preset_buttons["3"].click()
    assert panel.state.window_level == WL_PRESETS["3"][1:]


def test_dragging_the_upper_edge_widens_the_window(panel):
    view = panel.view
    panel.state.set_window_level(400.0, 40.0)
    x0, x1 = view.band_x()
    target = x1 + 30
    _mouse(view, QEvent.Type.MouseButtonPress, x1, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton)
    _mouse(view, QEvent.Type.MouseMove, target, Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton)
    _mouse(view, QEvent.Type.MouseButtonRelease, target, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)
    width, level = panel.state.window_level
    assert level - width / 2 == pytest.approx(-160.0)  # lower edge stays
    assert level + width / 2 == pytest.approx(view.x_to_value(target))
    assert panel.width_spin.value() == pytest.approx(width, abs=0.05)


def test_dragging_the_band_moves_the_level_only(panel):
    view = panel.view
    panel.state.set_window_level(1000.0, 0.0)
    x0, x1 = view.band_x()
    xc = (x0 + x1) / 2
    _mouse(view, QEvent.Type.MouseButtonPress, xc, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton)
    _mouse(view, QEvent.Type.MouseMove, xc - 20, Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton)
    _mouse(view, QEvent.Type.MouseButtonRelease, xc - 20, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)
    width, level = panel.state.window_level
    assert width == pytest.approx(1000.0)
    assert level == pytest.approx(view.x_to_value(xc - 20) - view.x_to_value(xc))
    assert level < 0


@pytest.mark.gl
def test_dock_in_main_window_follows_the_slice_views(main_window, volume, qtbot):
    main_window.session.add_image(volume)
    qtbot.wait(20)
    panel = main_window.wl_panel
    assert panel.view.histogram is not None
    panel.width_spin.setValue(123.0)
    axial = next(iter(main_window.grid.slice_views.values()))
    assert axial.scene.image_visual.window_level[0] == pytest.approx(123.0)
