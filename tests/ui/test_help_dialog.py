"""Help ▸ Mouse and keys: the last menu, F1, and a table that lists the viewer's bindings."""

from __future__ import annotations

import pytest

from ui.help_dialog import SLICE_VIEW_BINDINGS, KeysDialog, bindings_html

pytestmark = pytest.mark.gl


def test_help_menu_is_last_and_opens_the_bindings_table(main_window, qtbot):
    menus = [a.text().replace("&", "") for a in main_window.menuBar().actions()]
    assert menus[-1] == "Help"
    assert main_window.help_action.shortcut().toString() == "F1"
    dialog = KeysDialog(main_window)
    qtbot.addWidget(dialog)
    text = dialog.browser.toPlainText()
    for keys, _ in SLICE_VIEW_BINDINGS:
        assert keys in text
    assert "Ctrl+Alt+left-drag" in text and "oblique" in text
    assert bindings_html().count("<tr>") == len(SLICE_VIEW_BINDINGS) + 4
