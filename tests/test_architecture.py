"""Layering rules of ../shared/ARCHITECTURE.md §2, checked on every test run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_IMPORT_ALL = r"""
import importlib, pkgutil, sys, json
TORCH_MODULES = {"analysis.infer.nets"}  # network definitions: imported only when a model runs
mods = []
for pkg_name in ("analysis", "app", "render"):
    pkg = importlib.import_module(pkg_name)
    for info in pkgutil.walk_packages(pkg.__path__, pkg_name + "."):
        if info.name in TORCH_MODULES:
            continue
        importlib.import_module(info.name)
        mods.append(info.name)
print(json.dumps({"modules": mods, "qtwidgets": "PySide6.QtWidgets" in sys.modules,
                  "qtgui": "PySide6.QtGui" in sys.modules, "torch": "torch" in sys.modules}))
"""


def test_importing_app_analysis_render_loads_no_widgets_and_no_torch():
    import json

    out = subprocess.run([sys.executable, "-c", _IMPORT_ALL], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=120)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["modules"], "no modules imported"
    assert not report["qtwidgets"], "PySide6.QtWidgets imported below ui/"
    assert not report["qtgui"], "PySide6.QtGui imported below ui/"
    assert not report["torch"], "torch imported at module level"


def test_headless_cli_does_not_import_qt():
    code = "import sys, ui.main, app.cli; print('PySide6' in ' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is a dev dependency and must be installed (pip install -e .[dev])")
    return found


def test_import_linter_contracts_hold():
    out = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_is_clean():
    out = subprocess.run([_tool("ruff"), "check", "app", "analysis", "render", "ui", "tests", "bench"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
