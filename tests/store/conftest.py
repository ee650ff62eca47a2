"""Fixtures for the template store tests."""
from __future__ import annotations

import os

import pytest


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "templates.db"
