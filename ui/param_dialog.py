"""``ParamDialog``: a form generated from a parameter-defaults dict (preprocessing ops).

Each default picks its editor by type (float → spin box, int → integer spin box, bool → check box,
3-tuple → three spin boxes in z, y, x order, str → line edit or a fixed choice list) and its label
names the unit, read from the parameter name (``sigma_mm`` → "sigma (mm)"). The dialog only
collects values; the op validates them. GUI thread only.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

#: Units of parameters whose name carries none.
_UNITS = {"width": "HU", "level": "HU", "low": "percentile", "high": "percentile", "threshold": "HU",
          "iterations": "count", "shrink": "factor", "patch_radius": "voxels", "sample_patches": "count"}
#: Name suffix → unit.
_SUFFIXES = (("_zyx_mm", "mm, z y x"), ("_mm", "mm"), ("_vox", "voxels"), ("_hu", "HU"), ("_s", "s"))
#: Parameters with a fixed set of values.
CHOICES = {"interpolation": ("linear", "bspline", "nearest")}


def label_for(name: str) -> str:
    """Return the form label of parameter ``name`` with its unit, e.g. ``"sigma (mm)"``."""
    for suffix, unit in _SUFFIXES:
        if name.endswith(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ')} ({unit})"
    unit = _UNITS.get(name)
    text = name.replace("_", " ")
    return f"{text} ({unit})" if unit else text


def _float_spin(value: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(4)
    spin.setRange(-1e6, 1e6)
    spin.setSingleStep(abs(value) / 10 if value else 0.1)
    spin.setValue(float(value))
    return spin


class ParamDialog(QDialog):
    """Edit the parameters of one operation, starting from its defaults.

    Parameters
    ----------
    title
        Window title (the op name).
    defaults
        ``name → default value``; the value's type decides the editor and :meth:`values` returns
        the same types.
    help_text
        One line shown above the form.
    """

    def __init__(self, title: str, defaults: dict[str, Any], help_text: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("param_dialog")
        self.defaults = dict(defaults)
        self.editors: dict[str, Any] = {}
        form = QFormLayout(self)
        if help_text:
            form.addRow(QLabel(help_text))
        for name, value in self.defaults.items():
            editor, widget = self._editor(name, value)
            self.editors[name] = editor
            widget.setObjectName(f"param_{name}")
            form.addRow(label_for(name), widget)
        if not self.defaults:
            form.addRow(QLabel("This operation has no parameters."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.buttons = buttons

    @staticmethod
    def _editor(name: str, value: Any) -> tuple[Any, QWidget]:
        if isinstance(value, bool):
            box = QCheckBox()
            box.setChecked(value)
            return box, box
        if isinstance(value, int):
            spin = QSpinBox()
            spin.setRange(-1_000_000, 1_000_000)
            spin.setValue(value)
            return spin, spin
        if isinstance(value, float):
            spin = _float_spin(value)
            return spin, spin
        if isinstance(value, (tuple, list)):
            row = QWidget()
            layout = QHBoxLayout(row)
            layout.setContentsMargins(0, 0, 0, 0)
            spins = [_float_spin(float(v)) for v in value]
            for spin in spins:
                layout.addWidget(spin)
            return spins, row
        if name in CHOICES:
            combo = QComboBox()
            combo.addItems(CHOICES[name])
            combo.setCurrentText(str(value))
            return combo, combo
        edit = QLineEdit(str(value))
        return edit, edit

    def set_value(self, name: str, value: Any) -> None:
        """Set one parameter's editor (tests, presets)."""
        editor = self.editors[name]
        if isinstance(editor, list):
            for spin, v in zip(editor, value, strict=True):
                spin.setValue(float(v))
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.setValue(value)
        elif isinstance(editor, QComboBox):
            editor.setCurrentText(str(value))
        else:
            editor.setText(str(value))

    def values(self) -> dict[str, Any]:
        """Return the edited parameters, with the types of the defaults."""
        out: dict[str, Any] = {}
        for name, editor in self.editors.items():
            default = self.defaults[name]
            if isinstance(editor, list):
                out[name] = type(default)(float(s.value()) for s in editor)
            elif isinstance(editor, QCheckBox):
                out[name] = editor.isChecked()
            elif isinstance(editor, QSpinBox):
                out[name] = int(editor.value())
            elif isinstance(editor, QDoubleSpinBox):
                out[name] = float(editor.value())
            elif isinstance(editor, QComboBox):
                out[name] = editor.currentText()
            else:
                out[name] = editor.text()
        return out
