from __future__ import annotations

import pytest

from app.tools.base import TOOLS


@pytest.fixture(autouse=True)
def _restore_tool_registry():
    """Tests may register tools; put the registry back afterwards."""
    saved = dict(TOOLS)
    yield
    TOOLS.clear()
    TOOLS.update(saved)
