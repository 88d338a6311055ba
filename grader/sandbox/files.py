"""Files that came from a submission or a student's kernel: read and copy them without ever
being turned by them.

Every trusted step that takes files across a trust boundary (collect, the scratch course of
autograde, the kernel's view of its folder, the copy of graded notebooks, feedback) goes
through :func:`copy_allowed`: it walks with ``lstat`` (no symlink is followed, listed as a
file or entered as a folder), opens each file with ``O_NOFOLLOW | O_NONBLOCK`` and re-checks
with ``fstat`` that it is a regular file (a FIFO cannot block it, a device cannot feed it,
a swap between the check and the open cannot fool it), caps sizes and counts, and writes
only into a destination it creates itself. Anything refused is reported, never raised.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

#: Folders never taken from a submission (debris of tools, caches).
JUNK = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db", "__pycache__", ".ipynb_checkpoints"})


def read_regular_file(path: Path | str, limit: int) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def write_new_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Create ``path`` (it must not exist: ``O_EXCL`` never writes through a planted link)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


@dataclass
class CopyReport:
    """What :func:`copy_allowed` took and what it left, with the reason."""

    copied: list[str] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    total_bytes: int = 0

    def dropped_lines(self, limit: int = 10) -> list[str]:
        lines = [f"{rel}: {why}" for rel, why in self.dropped[:limit]]
        if len(self.dropped) > limit:
            lines.append(f"... and {len(self.dropped) - limit} more")
        return lines


def _walk(root: Path):
    """``(relative path, lstat mode)`` of every entry under ``root``, without following links."""
    stack = [PurePosixPath()]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(root / rel_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            rel = rel_dir / entry.name
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            yield rel, mode
            if stat.S_ISDIR(mode) and entry.name not in JUNK:
                stack.append(rel)


def copy_allowed(
    src: Path,
    dst: Path,
    allowed: Callable[[PurePosixPath], bool],
    *,
    max_file: int,
    max_total: int,
    max_files: int = 2000,
) -> CopyReport:
    """Copy the regular files of ``src`` whose relative path ``allowed`` accepts into ``dst``.

    ``dst`` must not exist (it is created, with every folder below it, by this function).
    Symlinks, FIFOs, sockets and devices are dropped (never opened), as are files over
    ``max_file`` bytes and everything past ``max_total`` bytes or ``max_files`` files.
    """
    report = CopyReport()
    dst.mkdir(parents=True, mode=0o755)
    for rel, mode in _walk(src):
        if any(part in JUNK for part in rel.parts):
            continue
        if stat.S_ISDIR(mode):
            continue
        if not stat.S_ISREG(mode):
            kind = "a symlink" if stat.S_ISLNK(mode) else "not a regular file"
            report.dropped.append((rel.as_posix(), kind))
            continue
        if not allowed(rel):
            report.dropped.append((rel.as_posix(), "not a file of the assignment"))
            continue
        if len(report.copied) >= max_files:
            report.dropped.append((rel.as_posix(), f"more than {max_files} files"))
            continue
        data = read_regular_file(src / rel, max_file)
        if data is None:
            report.dropped.append((rel.as_posix(), f"unreadable, not a regular file, or over "
                                                   f"{max_file} bytes"))
            continue
        if report.total_bytes + len(data) > max_total:
            report.dropped.append((rel.as_posix(), f"over {max_total} bytes in all"))
            continue
        out = dst / rel
        _make_dirs(dst, out.parent)
        write_new_file(out, data)
        report.copied.append(rel.as_posix())
        report.total_bytes += len(data)
    return report


def _make_dirs(dst: Path, folder: Path) -> None:
    """Create ``folder`` under ``dst`` one level at a time, refusing anything but directories
    made here (``dst`` is fresh, so nothing else can be in the way)."""
    current = dst
    for part in folder.relative_to(dst).parts:
        current = current / part
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                raise
