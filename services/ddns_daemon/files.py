"""Crash-safe file replacement: Besu must never read a half-written peer list.

A file is replaced by writing a temporary file in the same directory, flushing it to disk, and renaming it over
the old one (``rename`` is atomic on POSIX file systems), then syncing the directory so the rename itself survives
a power cut. Readers see either the old or the new content, never a mix. The old content is kept as
``<file>.prev`` (a hard link to the old inode, so keeping it costs no copy) for an operator to diff or restore.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

PREVIOUS_SUFFIX = ".prev"
DEFAULT_MODE = 0o644


def previous_path(path: Path) -> Path:
    """Where the version before the last rewrite of ``path`` is kept."""
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def write_atomically(path: Path, data: bytes, *, keep_previous: bool = True, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` so that no reader ever sees a partial file.

    The new file gets the old file's permission bits (or ``mode``, or 0644 for a new file). With
    ``keep_previous`` the replaced version stays available as ``<file>.prev``. If anything fails before the
    rename, the original file is untouched and the temporary file is removed.
    """
    directory = path.parent
    try:
        current_mode: int | None = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        current_mode = None
    final_mode = mode if mode is not None else (current_mode if current_mode is not None else DEFAULT_MODE)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), final_mode)
            os.fsync(handle.fileno())
        if keep_previous and current_mode is not None:
            _keep_previous(path)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_directory(directory)


def _keep_previous(path: Path) -> None:
    """Point ``<file>.prev`` at the current content, itself atomically (link to a temporary name, then rename)."""
    target = previous_path(path)
    staging = path.with_name(f".{path.name}.prev.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(staging)
    try:
        os.link(path, staging)
    except OSError:
        # File systems without hard links (some network and FUSE mounts): copy instead.
        shutil.copy2(path, staging)
    os.replace(staging, target)


def _sync_directory(directory: Path) -> None:
    """fsync the directory entry so the rename is durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
