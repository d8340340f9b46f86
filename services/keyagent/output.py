"""Writing key files: only to memory, never half-written, never readable by anyone else.

The agent's output directory (``lacchain.layout.SECRETS_DIR``, ``/run/lacchain/keys``) must be on tmpfs or ramfs:
``/run`` is tmpfs on systemd machines and Kubernetes gives ``emptyDir: {medium: Memory}``. A private key on a
persistent disk outlives the node and ends up in snapshots and images, which is exactly what the key vault is
there to avoid; so the agent checks the file system type in ``/proc/self/mountinfo`` and refuses anything else,
unless the operator passes ``--allow-persistent-dir`` (meant for development machines without a tmpfs).

Each file is written to a fresh temporary name opened with ``O_CREAT|O_EXCL|O_NOFOLLOW`` and mode 0600, synced,
then renamed over the target: a reader (the transaction manager) sees the old file or the new one, never a
partial one, and a planted symlink cannot redirect the write.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from services.keyagent.errors import ConfigError, UnsafeOutputDir

MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
MOUNTINFO = Path("/proc/self/mountinfo")
ALLOW_FLAG = "--allow-persistent-dir"


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as 3-digit octal (``\\040``)."""
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def filesystem_type(path: Path, mountinfo: str) -> str:
    """File system type of the mount holding ``path`` (absolute, symlinks resolved), per mountinfo text.

    The longest matching mount point wins; for equal mount points the later line (the mount on top) wins.
    Returns "" when no line matches.
    """
    target = PurePosixPath(path)
    best_point, best_type = "", ""
    for line in mountinfo.splitlines():
        left, separator, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not separator or len(fields) < 5 or not tail:
            continue
        point = _unescape(fields[4])
        if (target == PurePosixPath(point) or PurePosixPath(point) in target.parents) and len(point) >= len(best_point):
            best_point, best_type = point, tail[0]
    return best_type


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest existing ancestor, resolved: where a new directory would be created."""
    candidate = path.absolute()
    while not candidate.exists() and candidate != candidate.parent:
        candidate = candidate.parent
    return candidate.resolve()


def ensure_memory_backed(directory: Path, allow_persistent: bool, mountinfo_file: Path = MOUNTINFO) -> None:
    """Refuse (before anything is fetched or written) if ``directory`` is not on tmpfs/ramfs."""
    if allow_persistent:
        return
    try:
        mountinfo = mountinfo_file.read_text()
    except OSError:
        mountinfo = ""
    where = nearest_existing(directory)
    kind = filesystem_type(where, mountinfo) if mountinfo else ""
    if kind in MEMORY_FILESYSTEMS:
        return
    described = f"on a {kind} file system" if kind else "on a file system whose type cannot be determined"
    raise UnsafeOutputDir(
        f"refusing to write private keys to {directory}: it is {described}, which keeps them after the node "
        "stops. Mount a tmpfs there (systemd RuntimeDirectory=, Kubernetes emptyDir with medium: Memory), "
        f"or on a development machine pass {ALLOW_FLAG}"
    )


def _safe_relative(name: str) -> PurePosixPath:
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ConfigError(f"refusing to write {name!r}: output file names must stay inside the output directory")
    return relative


def write_private_file(target: Path, content: str) -> None:
    """Atomically replace ``target`` with ``content``, mode 0600."""
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # the umask can only narrow 0600, but say it explicitly
            handle.write(content.encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def write_files(directory: Path, files: Mapping[str, str], stale: Iterable[str] = ()) -> list[Path]:
    """Write every file (name relative to ``directory``) and remove ``stale`` names not among them."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        target = directory / _safe_relative(name)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private_file(target, content)
        written.append(target)
    for name in stale:
        if name not in files:
            with contextlib.suppress(FileNotFoundError):
                (directory / _safe_relative(name)).unlink()
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return written
