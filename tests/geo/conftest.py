"""Fixtures of the geo tests: the shipped boundaries, loaded once."""

from __future__ import annotations

import pytest

from geo.boundaries import Boundaries


@pytest.fixture(scope="session")
def boundaries() -> Boundaries:
    return Boundaries.load()
