"""Every file callmon writes goes through `write_private`: created 0600 in a 0700 directory, written to a
temporary file, flushed to disk, then renamed over the target, so a crash or a full disk never leaves a
half-written or empty file in its place (an empty webhook key would have been read as the key b"")."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


class FileError(OSError):
    """A file callmon needs could not be written or read; the message is the one line the user sees."""


def private_dir(path: Path) -> None:
    """Make `path` (and its parents) with 0700, as a directory for callmon's own files."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise FileError(f"cannot create {path}: {exc.strerror or exc}") from None


def write_private(path: Path, data: bytes | str | Iterable[str]) -> None:
    """Write `data` (or its pieces, in turn) to `path` atomically, readable by the user only."""
    private_dir(path.parent)
    pieces: Iterable[bytes | str] = [data] if isinstance(data, (bytes, str)) else data
    fd = -1
    temp = ""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o600)
        for piece in pieces:
            view = memoryview(piece.encode("utf-8") if isinstance(piece, str) else piece)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(temp, path)
        temp = ""
        with contextlib.suppress(OSError):  # the rename itself reaches the disk with its directory
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except OSError as exc:
        raise FileError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
        if temp:
            with contextlib.suppress(OSError):
                os.unlink(temp)
