"""Unit tests read and write no user files; they only need to be kept away from the real user's. A fresh
temporary directory for each of their thousand-odd short tests (the root conftest's `isolated_dirs`) cost
more than most of the tests themselves: here one directory serves the whole session, with the same
environment as there."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def session_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("user")


@pytest.fixture(autouse=True)
def isolated_dirs(session_user_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(session_user_dirs / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(session_user_dirs / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(session_user_dirs / "state"))
    for name in list(os.environ):
        if name.startswith("CALLMON_") and name != "CALLMON_REQUIRE_SECRET_SERVICE":
            monkeypatch.delenv(name)
    yield

