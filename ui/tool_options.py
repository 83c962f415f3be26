"""Tool buttons and generated options panels of the Segment Editor.

:func:`params_form` builds an options form from a tool's ``params``
(:func:`~app.tools.param_specs`), coupling each widget to its field with one two-way :func:`bind`
helper; the masking options (``EditOptions``) use the same generator. :class:`ToolOptionsMixin`
gives :class:`~ui.segment_editor.SegmentEditorPanel` its actions (tools, undo/redo, segment and
brush keys) and swaps the options form when the active tool changes. GUI thread only.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import qtawesome as qta
from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QWidget,
)

from app.tools import param_specs
from ui.tool_routing import BRUSH_STEP, INTERACTIVE_TOOLS

TOOL_ICONS = {
    "paint": "fa5s.paint-brush", "draw": "fa5s.pencil-alt", "erase": "fa5s.eraser",
    "level_trace": "fa5s.wave-square", "grow_seeds": "fa5s.seedling", "fill_between": "fa5s.layer-group",
    "threshold": "fa5s.sliders-h", "margin": "fa5s.expand-arrows-alt", "hollow": "fa5s.circle-notch",
    "smoothing": "fa5s.water", "scissors": "fa5s.cut", "islands": "fa5s.object-ungroup",
    "logical": "fa5s.calculator", "mask_volume": "fa5s.mask", "flood_fill": "fa5s.fill-drip",
}


def _icon(name: str) -> QIcon:
    try:
        return qta.icon(name)
    except Exception:  # noqa: BLE001 - a missing glyph must not stop the panel
        return QIcon()


def _shortcut_order(shortcut: str) -> tuple[int, int, str]:
    """Sort key: ``1``…``9``, ``0``, then ``Shift+1``… (Slicer's effect order), then the rest."""
    shift = shortcut.startswith("Shift+")
    key = shortcut.removeprefix("Shift+")
    if key.isdigit() and len(key) == 1:
        return int(shift), (int(key) - 1) % 10, ""
    return 2, 0, shortcut


# --------------------------------------------------------------------- bind
class Binding:
    """One two-way coupling of a widget and a field of an ``@evented`` dataclass (see :func:`bind`)."""

    def __init__(self, widget: QWidget, obj: Any, name: str) -> None:
        self.widget, self.obj, self.name = widget, obj, name
        self._signal = getattr(obj.events, name)
        self._signal.connect(self._on_model_changed)
        self._pushing = False
        if isinstance(widget, QCheckBox):
            widget.toggled.connect(self._on_widget_changed)
        elif isinstance(widget, QComboBox):
            widget.currentIndexChanged.connect(lambda _i: self._on_widget_changed(widget.currentData()))
        else:
            widget.valueChanged.connect(self._on_widget_changed)
        self._on_model_changed(getattr(obj, name))

    def _on_widget_changed(self, value: Any) -> None:
        if self._pushing or value is None:
            return
        if getattr(self.obj, self.name) != value:
            setattr(self.obj, self.name, value)

    def _on_model_changed(self, value: Any, *_old: Any) -> None:
        w = self.widget
        self._pushing = True
        try:
            with QSignalBlocker(w):
                if isinstance(w, QCheckBox):
                    w.setChecked(bool(value))
                elif isinstance(w, QComboBox):
                    w.setCurrentIndex(max(0, w.findData(value)))
                else:
                    w.setValue(value)
        finally:
            self._pushing = False

    def disconnect(self) -> None:
        """Stop following the model (the widget may be deleted afterwards)."""
        self._signal.disconnect(self._on_model_changed)


def bind(widget: QWidget, obj: Any, name: str) -> Binding:
    """Couple ``widget`` and ``obj.<name>`` both ways; updates never recurse.

    ``widget`` is a QCheckBox, QComboBox (item data = the values), QSpinBox or QDoubleSpinBox;
    ``obj`` is a psygnal ``@evented`` dataclass. Call ``Binding.disconnect`` before dropping the
    widget. GUI thread only.
    """
    return Binding(widget, obj, name)


def params_form(params: Any, parent: QWidget | None = None) -> tuple[QWidget, list[Binding]]:
    """Build an options form for an ``@evented`` dataclass; returns the widget and its bindings."""
    form = QWidget(parent)
    layout = QFormLayout(form)
    layout.setContentsMargins(0, 0, 0, 0)
    bindings = []
    for spec in param_specs(params):
        if spec.kind == "bool":
            widget: QWidget = QCheckBox()
        elif spec.kind == "choice":
            widget = QComboBox()
            for choice in spec.choices:
                text = choice.value if isinstance(choice, Enum) else str(choice)
                widget.addItem(str(text).replace("_", " ").capitalize(), choice)
        elif spec.kind == "int":
            widget = QSpinBox()
            widget.setRange(int(spec.minimum if spec.minimum is not None else -(2**31)),
                            int(spec.maximum if spec.maximum is not None else 2**31 - 1))
        else:
            widget = QDoubleSpinBox()
            widget.setDecimals(2)
            widget.setRange(spec.minimum if spec.minimum is not None else -1e6,
                            spec.maximum if spec.maximum is not None else 1e6)
            if spec.units and spec.units != "image":
                widget.setSuffix(f" {spec.units}")
        widget.setObjectName(f"param_{spec.name}")
        layout.addRow(spec.label, widget)
        bindings.append(bind(widget, params, spec.name))
    return form, bindings



# ------------------------------------------------------------------ panel part
class ToolOptionsMixin:
    """Tool actions and the options form of :class:`~ui.segment_editor.SegmentEditorPanel` (uses its widgets)."""

    def _build_actions(self) -> None:
        c = self.controller
        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.tool_actions: dict[str, QAction] = {}
        self.none_action = self._action("No tool (window/level)", lambda: c.set_tool(None), "fa5s.mouse-pointer",
                                        "Esc")
        self.none_action.setCheckable(True)
        self.tool_group.addAction(self.none_action)
        button = QToolButton()
        button.setDefaultAction(self.none_action)
        button.setAutoRaise(True)
        self.tools_grid.addWidget(button, 0, 0)
        for i, (tool_id, tool) in enumerate(sorted(c.tools.items(), key=lambda kv: _shortcut_order(kv[1].shortcut)),
                                            start=1):
            action = self._action(tool.title, lambda _=False, t=tool_id: self._on_tool_action(t),
                                  TOOL_ICONS.get(tool_id, "fa5s.tools"), tool.shortcut)
            action.setCheckable(True)
            action.setObjectName(f"tool_{tool_id}")
            self.tool_group.addAction(action)
            self.tool_actions[tool_id] = action
            button = QToolButton()
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setObjectName(f"tool_button_{tool_id}")
            self.tools_grid.addWidget(button, i // 8, i % 8)
        self.undo_action = self._action("Undo", c.undo, "fa5s.undo", QKeySequence.StandardKey.Undo)
        self.undo_action.setShortcuts([QKeySequence(QKeySequence.StandardKey.Undo), QKeySequence("Z")])
        self.redo_action = self._action("Redo", c.redo, "fa5s.redo", "Ctrl+Y")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Y"), QKeySequence(QKeySequence.StandardKey.Redo),
                                       QKeySequence("Y")])
        self.undo_button.setDefaultAction(self.undo_action)
        self.redo_button.setDefaultAction(self.redo_action)
        self.prev_segment_action = self._action("Previous segment", lambda: c.step_segment(-1), "", "Q")
        self.next_segment_action = self._action("Next segment", lambda: c.step_segment(1), "", "W")
        self.toggle_visible_action = self._action("Show/hide segmentation", lambda: c.set_segmentation_visible(),
                                                  "fa5s.eye", "G")
        self.smaller_action = self._action("Smaller brush", lambda: c.scale_brush(1 / BRUSH_STEP), "", "-")
        self.larger_action = self._action("Larger brush", lambda: c.scale_brush(BRUSH_STEP), "", "+")
        self.larger_action.setShortcuts([QKeySequence("+"), QKeySequence("="), QKeySequence("Shift+=")])
        self.intensity_action = self._action("Toggle intensity masking", c.toggle_intensity_masking, "", "I")
        self.swap_tool_action = self._action("Last tool", self._swap_tool, "", "Space")
        self._previous_tool = ""

    def _action(self, text: str, slot, icon: str = "", shortcut: str | QKeySequence = "") -> QAction:
        action = QAction(_icon(icon) if icon else QIcon(), text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{text}  ({keys})")
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)  # active while this panel is shown
        return action

    def editor_actions(self) -> list[QAction]:
        """Every action of the editor (tools, undo/redo, segment and brush keys)."""
        return list(self.actions())

    # ----------------------------------------------------------------- tools
    def _on_tool_action(self, tool_id: str) -> None:
        action = self.tool_actions[tool_id]
        # Pressing the active tool's key again (or unchecking its button) returns to window/level.
        self.controller.set_tool(tool_id if action.isChecked() else None)

    def _swap_tool(self) -> None:
        """Switch to the tool used before the current one (Slicer: Space)."""
        self.controller.set_tool(self._previous_tool or None)

    def _on_controller_tool_changed(self, tool_id: str) -> None:
        self._previous_tool, self._current_tool = getattr(self, "_current_tool", ""), tool_id
        # not signal-blocked: the exclusive group unchecks the others through ``toggled``; the slot
        # listens to ``triggered``, which setChecked does not emit
        self.tool_actions.get(tool_id, self.none_action).setChecked(True)
        for binding in self._option_bindings:
            binding.disconnect()
        self._option_bindings = []
        while self.options_host.count():
            widget = self.options_host.takeAt(0).widget()
            if widget is not None:
                widget.hide()  # deleteLater waits for the event loop; never show two forms at once
                widget.setParent(None)
                widget.deleteLater()
        tool = self.controller.active_tool
        if tool is None:
            self.options_box.setTitle("Options")
            hint = QLabel("No tool: left-drag adjusts window/level. Pick a tool (1–0, Shift+1–5).")
            hint.setWordWrap(True)
            self.options_host.addWidget(hint)
            self.apply_button.setVisible(False)
            self.cancel_button.setVisible(False)
            self.auto_button.setVisible(False)
            return
        self.options_box.setTitle(f"{tool.title} options")
        form, self._option_bindings = params_form(tool.params)
        form.setObjectName("tool_options")
        self.options_form = form
        self.options_host.addWidget(form)
        one_shot = tool.id not in INTERACTIVE_TOOLS
        self.apply_button.setVisible(one_shot or tool.id == "draw")
        self.cancel_button.setVisible(tool.id in ("draw", "scissors", "grow_seeds"))
        self.auto_button.setVisible(hasattr(tool, "auto_range"))
        self.message.setText((type(tool).__doc__ or "").strip().splitlines()[0] if type(tool).__doc__ else "")

