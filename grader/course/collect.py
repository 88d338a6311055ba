"""Take submissions (zip files or directories) into ``submitted/<student>/convnets/``.

A submission is untrusted input. Each one is checked before anything is written: a student
id that is a plain name, no absolute paths or ``..`` components, no symlinks or device files,
no file over :data:`MAX_FILE_BYTES`, at most :data:`MAX_FILES` files and
:data:`MAX_TOTAL_BYTES` in all. A rejected submission leaves the course directory untouched
and gets one clear message; the others are still taken.

Only the files of the assignment are taken — the release's notebooks and its ``cs231n_lib``
modules (:meth:`CoursePaths.assignment_files`); anything else (a ``grader/`` folder, an extra
module, a data file) is dropped and listed. A submission with none of them is rejected with
the names that were expected.
"""

from __future__ import annotations

import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from grader.course.paths import ASSIGNMENT, CoursePaths
from grader.course.timestamps import format_timestamp
from grader.sandbox.files import copy_allowed, read_regular_file

MAX_FILE_BYTES = 20 * 2**20
MAX_TOTAL_BYTES = 100 * 2**20
MAX_FILES = 2000
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class SubmissionRejected(ValueError):
    """A submission broke one of the rules above; the message names the rule and the file."""


@dataclass(frozen=True)
class Collected:
    student: str
    source: Path
    files: int
    error: str | None = None
    #: Files of the submission that are not part of the assignment (not taken).
    dropped: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


def student_id_for(source: Path) -> str:
    """``alice.zip`` or ``alice/`` → ``alice``; the id must be a plain name."""
    name = source.name[: -len(".zip")] if source.name.endswith(".zip") else source.name
    if not STUDENT_ID.match(name):
        raise SubmissionRejected(
            f"student id {name!r} (from {source.name}) must be letters, digits, '_', '.', '-'"
        )
    return name


def _safe_relpath(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise SubmissionRejected(f"{name}: absolute path")
    if any(part == ".." for part in path.parts):
        raise SubmissionRejected(f"{name}: path traversal ('..')")
    return path


#: Folders that belong to the assignment itself: never stripped as a wrapper.
ASSIGNMENT_FOLDERS = {"cs231n_lib"}
#: Debris of desktop zip tools, dropped before anything else.
JUNK = {"__MACOSX", ".DS_Store", "Thumbs.db", "__pycache__", ".ipynb_checkpoints"}


def _is_junk(path: PurePosixPath) -> bool:
    return any(part in JUNK for part in path.parts)


def _strip_common_root(names: list[PurePosixPath]) -> list[PurePosixPath]:
    """Drop wrapper folders (``alice/convnets/...``) down to where the assignment starts."""
    while names and all(len(n.parts) > 1 for n in names):
        first = names[0].parts[0]
        if first in ASSIGNMENT_FOLDERS or any(n.parts[0] != first for n in names):
            break
        if any(n.suffix == ".ipynb" and len(n.parts) == 1 for n in names):
            break
        names = [PurePosixPath(*n.parts[1:]) for n in names]
    return names


def _check_budget(count: int, total: int, name: str, size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise SubmissionRejected(f"{name}: {size} bytes is over the {MAX_FILE_BYTES} byte limit")
    if count > MAX_FILES:
        raise SubmissionRejected(f"more than {MAX_FILES} files")
    if total > MAX_TOTAL_BYTES:
        raise SubmissionRejected(f"more than {MAX_TOTAL_BYTES} bytes in all")


def _extract_zip(archive: Path, dest: Path) -> int:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise SubmissionRejected(f"{archive.name}: not a zip file ({exc})") from exc
    with zf:
        infos = [
            i for i in zf.infolist()
            if not i.is_dir() and not _is_junk(PurePosixPath(i.filename.replace("\\", "/")))
        ]
        total = 0
        for count, info in enumerate(infos, 1):
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise SubmissionRejected(f"{info.filename}: symlinks are not accepted")
            # Python's writestr stores permission bits without a type: that is a file too.
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                raise SubmissionRejected(f"{info.filename}: not a regular file")
            _safe_relpath(info.filename)
            total += info.file_size
            _check_budget(count, total, info.filename, info.file_size)
        targets = _strip_common_root([_safe_relpath(i.filename) for i in infos])
        for info, rel in zip(infos, targets, strict=True):
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as src, open(out, "wb") as dst:
                # The declared size can lie (zip bombs): count what is really written.
                while chunk := src.read(1 << 16):
                    written += len(chunk)
                    if written > MAX_FILE_BYTES:
                        raise SubmissionRejected(f"{info.filename}: inflates past the limit")
                    dst.write(chunk)
        return len(infos)


def _copy_dir(src: Path, dest: Path) -> int:
    files: list[tuple[Path, PurePosixPath]] = []
    total = 0
    for path in sorted(src.rglob("*")):
        rel = PurePosixPath(path.relative_to(src).as_posix())
        if _is_junk(rel) and not path.is_symlink():
            continue
        if path.is_symlink():
            raise SubmissionRejected(f"{rel}: symlinks are not accepted")
        if path.is_dir():
            continue
        if not path.is_file():
            raise SubmissionRejected(f"{rel}: not a regular file")
        size = path.stat().st_size
        total += size
        _check_budget(len(files) + 1, total, str(rel), size)
        files.append((path, rel))
    targets = _strip_common_root([rel for _, rel in files])
    for (path, _), rel in zip(files, targets, strict=True):
        data = read_regular_file(path, MAX_FILE_BYTES)  # never through a link, never a FIFO
        if data is None:
            raise SubmissionRejected(f"{rel}: changed while being read, or not a regular file")
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)
    return len(files)


def collect_one(paths: CoursePaths, source: Path, student: str | None = None,
                submitted: datetime | None = None) -> Collected:
    """Take one zip or directory; on any rule broken nothing is written. ``student``
    overrides the id read from the name (an LMS id); ``submitted`` (naive UTC) is the time
    written to ``timestamp.txt`` (default: now)."""
    source = Path(source)
    try:
        if student is None:
            student = student_id_for(source)
        elif not STUDENT_ID.match(student):
            raise SubmissionRejected(f"student id {student!r} must be letters, digits, "
                                     "'_', '.', '-'")
    except SubmissionRejected as exc:
        return Collected("?", source, 0, str(exc))
    try:
        with tempfile.TemporaryDirectory(dir=paths.root, prefix=".collect-") as scratch:
            staged = Path(scratch) / ASSIGNMENT
            staged.mkdir()
            if source.is_dir() and not source.is_symlink():
                count = _copy_dir(source, staged)
            elif source.is_file() and source.suffix == ".zip":
                try:
                    count = _extract_zip(source, staged)
                except SubmissionRejected:
                    raise
                except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error,
                        NotImplementedError, RuntimeError, OSError, ValueError) as exc:
                    # corrupt CRC, encrypted entries, a file and a folder of one name, ...
                    raise SubmissionRejected(f"{source.name}: corrupt zip ({exc})") from exc
            elif not source.exists() and not source.is_symlink():
                raise SubmissionRejected(f"{source}: no such file or directory")
            elif source.is_symlink():
                raise SubmissionRejected(f"{source}: a symlink, not a .zip file or a directory")
            else:
                raise SubmissionRejected(f"{source}: not a .zip file or a directory")
            if count == 0:
                raise SubmissionRejected(f"{source.name}: empty submission")
            taken, dropped = _assignment_only(paths, staged, Path(scratch) / "taken")
            stamp = submitted or datetime.now(UTC).replace(tzinfo=None)
            (taken / "timestamp.txt").write_text(format_timestamp(stamp))
            final = paths.submitted / student / ASSIGNMENT
            if final.is_symlink():
                final.unlink()
            elif final.exists():
                shutil.rmtree(final)
            final.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(taken), final)
    except SubmissionRejected as exc:
        return Collected(student, source, 0, str(exc))
    return Collected(student, source, count - len(dropped), dropped=tuple(dropped))


def _assignment_only(paths: CoursePaths, staged: Path, taken: Path) -> tuple[Path, list[str]]:
    """Keep the assignment's files of ``staged`` in ``taken``; the others are dropped.

    Raises:
        SubmissionRejected: not one file of the assignment (the expected names are listed).
    """
    expected = paths.assignment_files()
    report = copy_allowed(staged, taken, lambda rel: rel.as_posix() in expected,
                          max_file=MAX_FILE_BYTES, max_total=MAX_TOTAL_BYTES,
                          max_files=MAX_FILES)
    if not report.copied:
        notebooks = sorted(n for n in expected if n.endswith(".ipynb"))
        found = sorted({rel.split("/")[0] for rel, _ in report.dropped})[:5]
        raise SubmissionRejected(
            f"no file of the assignment: expected notebooks such as {', '.join(notebooks[:3])}"
            f" and cs231n_lib/*.py at the top of the submission, found {', '.join(found)}")
    # The release's own other files (the check API in grader/) come back with every submission:
    # not taken (autograde uses the course's copy), and not worth a message either.
    shipped = paths.shipped_files()
    dropped = [rel for rel, _ in report.dropped if rel not in shipped]
    misplaced = misplaced_files(expected, dropped)
    if misplaced:
        shown = "; ".join(f"{found} should be {want}" for found, want in misplaced[:3])
        more = f" (+{len(misplaced) - 3} more)" if len(misplaced) > 3 else ""
        raise SubmissionRejected(f"files of the assignment in the wrong folder: {shown}{more}"
                                 " (keep the folder names of the release)")
    return taken, dropped


def misplaced_files(expected: set[str], dropped: list[str]) -> list[tuple[str, str]]:
    """``(found, expected path)`` for each dropped file named like a file of the assignment
    (``lib/conv_naive.py`` for ``cs231n_lib/conv_naive.py``): graded as missing otherwise."""
    by_name: dict[str, list[str]] = {}
    for rel in expected:
        by_name.setdefault(PurePosixPath(rel).name, []).append(rel)
    out = []
    for rel in dropped:
        wants = by_name.get(PurePosixPath(rel).name, [])
        if len(wants) == 1 and PurePosixPath(rel).name not in ("__init__.py",):
            out.append((rel, wants[0]))
    return sorted(out)


def collect(paths: CoursePaths, sources: list[Path]) -> list[Collected]:
    """Take every source, one message per rejected one; a second source for the same
    student id is rejected (which one was meant is the instructor's call)."""
    seen: dict[str, Path] = {}
    results = []
    for source in map(Path, sources):
        try:
            student = student_id_for(source)
        except SubmissionRejected as exc:
            results.append(Collected("?", source, 0, str(exc)))
            continue
        if student in seen:
            first = seen[student].name
            results.append(Collected(student, source, 0, f"second submission (first: {first})"))
            continue
        seen[student] = source
        results.append(collect_one(paths, source))
    return results
