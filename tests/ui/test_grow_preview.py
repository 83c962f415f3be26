"""Grow from seeds in the real MainWindow: seed strokes, live preview updated incrementally, Apply = one step.

Run under Xvfb (``xvfb-run -a``).
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from render.orientation import ViewKind

pytestmark = pytest.mark.gl
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def window(main_window, volume, qtbot):
    main_window.session.add_image(volume)
    qtbot.wait(50)
    return main_window


def _stroke(view, geometry, points_zyx):
    ratio = view.devicePixelRatioF()

    def send(kind, zyx, button, buttons):
        dx, dy = view.scene.lps_to_display(geometry.index_zyx_to_lps(np.asarray(zyx, float)))
        local = QPointF(dx / ratio, view.height() - 1 - dy / ratio)
        QApplication.sendEvent(view, QMouseEvent(kind, local, QPointF(view.mapToGlobal(local.toPoint())), button,
                                                 buttons, Qt.KeyboardModifier.NoModifier))

    send(QEvent.Type.MouseButtonPress, points_zyx[0], LEFT, LEFT)
    for p in points_zyx[1:]:
        send(QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, LEFT)
    send(QEvent.Type.MouseButtonRelease, points_zyx[-1], LEFT, Qt.MouseButton.NoButton)


def test_seed_strokes_live_preview_incremental_update_and_apply(window, qtbot, volume, bone_zyx):
    editor = window.segment_editor
    c = editor.controller
    editor.add_segment()
    editor.add_segment()
    labels = c.labels
    bone, other = [s.id for s in labels.table]
    axial = window.grid.slice_views[ViewKind.AXIAL]
    axial.set_slice_index(30)
    axial.GetRenderWindow().Render()
    c.set_tool("grow_seeds")
    c.tools["grow_seeds"].params.radius_mm = 1.0
    c.tools["grow_seeds"].params.margin_fraction = 0.5
    c.set_label_id(bone)
    _stroke(axial, volume.geometry, [(30, 17, 62), (30, 17, 67)])  # inside the 1200 HU block
    c.set_label_id(other)
    _stroke(axial, volume.geometry, [(30, 8, 55), (30, 8, 74)])  # soft tissue around it
    _stroke(axial, volume.geometry, [(30, 26, 55), (30, 26, 74)])
    seeds = labels.array.copy()
    assert set(np.unique(seeds)) == {0, bone, other}
    steps = len(labels.history.titles())

    c.apply()  # Initialize: the preview, written nowhere
    preview = c.grow_preview
    qtbot.waitUntil(lambda: preview.result is not None, timeout=10000)
    assert preview.visuals and all(v.labels is preview.volume for v in preview.visuals)
    grown = preview.volume.array == bone
    block = np.zeros(seeds.shape, bool)
    block[bone_zyx] = True
    box = preview.result.box
    assert (grown & ~block).sum() == 0 and (block[box] & (preview.volume.array[box] == bone)).sum() > 0
    assert np.array_equal(labels.array, seeds) and len(labels.history.titles()) == steps

    # one more seed stroke inside the working box: the preview updates by itself, continuing the search
    c.set_label_id(bone)
    n = preview.updates
    _stroke(axial, volume.geometry, [(30, 20, 61), (30, 20, 68)])
    qtbot.waitUntil(lambda: preview.updates > n and not preview.busy, timeout=10000)
    assert c.tools["grow_seeds"].last_incremental
    shown = preview.volume.array.copy()

    c.apply()  # Apply: the shown preview, one undo step
    assert not preview.active and not preview.visuals
    assert labels.history.titles()[-1] == "Grow from seeds"
    written = labels.array.copy()
    assert np.array_equal(written[shown != 0], shown[shown != 0])
    assert c.undo() and np.array_equal(labels.array != 0, (written != 0) & ((shown == 0) | (written != shown)))
    assert c.redo() and np.array_equal(labels.array, written)


def test_cancel_drops_the_preview(window, qtbot, volume):
    editor = window.segment_editor
    c = editor.controller
    editor.add_segment()
    editor.add_segment()
    labels = c.labels
    a, b = [s.id for s in labels.table]
    labels.array[30, 17, 62:68] = a
    labels.array[30, 8, 55:75] = b
    c.set_tool("grow_seeds")
    c.apply()
    qtbot.waitUntil(lambda: c.grow_preview.result is not None, timeout=10000)
    c.cancel_interaction()
    assert not c.grow_preview.active and not c.grow_preview.visuals
    assert c.tools["grow_seeds"].preview_result is None
