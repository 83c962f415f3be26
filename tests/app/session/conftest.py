"""Fixtures of the session-folder tests."""

from __future__ import annotations

import pytest

from app.model import Session
from tests.app.session._helpers import make_session


@pytest.fixture
def session() -> Session:
    return make_session()
