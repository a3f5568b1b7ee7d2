"""Unit tests read and write no user files; they only need to be kept away from the real user's. A fresh
temporary directory for each of their thousand-odd short tests (the root conftest's `isolated_dirs`) cost
more than most of the tests themselves: here one directory serves the whole session, with the same
environment as there."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Set once for the session (a fixture per test cost more than most of the tests): a unit test that
    changes the environment does it with its own `monkeypatch`, which puts it back."""
    user = tmp_path_factory.mktemp("user")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(user / "config"))
        patch.setenv("XDG_DATA_HOME", str(user / "data"))
        patch.setenv("XDG_STATE_HOME", str(user / "state"))
        for name in list(os.environ):
            if name.startswith("CALLMON_") and name != "CALLMON_REQUIRE_SECRET_SERVICE":
                patch.delenv(name)
        yield
