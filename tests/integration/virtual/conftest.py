"""Whole scenarios polled by the real engine on virtual time (tests/virtual_time.py): minutes of simulated
polling in seconds, too long for the unit tier."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tests.virtual_time import VirtualTimeLoop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, Callable[[], Any]]:
    return {"virtual-time": VirtualTimeLoop}
