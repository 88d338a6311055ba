"""Which students a run has finished: ``autograde --resume`` skips them.

After the coordinator has merged a student into the gradebook it writes
``.grader/graded/<student>.json`` (atomically): a fingerprint of what was graded and the
student's result. A coordinator killed mid-run (SIGKILL included) leaves the students it merged
journaled; ``--resume`` then grades only the others. The fingerprint covers the submission's
bytes, the course's source and config, the grader's own code and the run's options, so a
changed submission, hidden test, tolerance or grader is graded again. A student merged but not
yet journaled when the coordinator died is graded again (merging replaces, so that is safe).

The journal lives under ``.grader/`` (trusted, never in a folder a kernel saw); a submission
is only hashed: regular files by content, anything else (a link, a FIFO) by its name and kind,
never opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from grader.course.merge import StudentResult, load_report
from grader.course.paths import ASSIGNMENT, CoursePaths

GRADER = Path(__file__).resolve().parents[1]
_CHUNK = 1 << 20


def _hash_tree(h: hashlib._Hash, root: Path) -> None:
    """Relative names, kinds and (regular files only) contents under ``root``, sorted."""
    if not root.is_dir() or root.is_symlink():
        h.update(f"missing:{root.name}\0".encode())
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if Path(dirpath, d).is_symlink()]):
            path = Path(dirpath, name)
            rel = os.fsencode(path.relative_to(root))  # any bytes a name may hold
            try:
                info = os.lstat(path)
                if not stat.S_ISREG(info.st_mode):
                    h.update(rel + f"\0other:{stat.S_IFMT(info.st_mode)}\0".encode())
                    continue
                h.update(rel + f"\0{info.st_size}\0".encode())
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as fh:
                    while chunk := fh.read(_CHUNK):
                        h.update(chunk)
            except OSError as exc:  # vanished or unreadable: the fingerprint says so
                h.update(rel + f"\0unreadable:{exc.errno}\0".encode())


def course_fingerprint(paths: CoursePaths, options: dict) -> str:
    """SHA-256 of the course's source and config, the grader's code and ``options``."""
    h = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    for config in paths.config_files():
        h.update(config.name.encode() + b"\0" + config.read_bytes())
    _hash_tree(h, paths.source)
    for py in sorted(GRADER.rglob("*.py")):
        h.update(py.relative_to(GRADER).as_posix().encode() + b"\0" + py.read_bytes())
    return h.hexdigest()


def fingerprint(paths: CoursePaths, student: str, course: str) -> str:
    """SHA-256 of one submission together with ``course`` (:func:`course_fingerprint`)."""
    h = hashlib.sha256(f"{course}\0{student}\0".encode())
    _hash_tree(h, paths.submitted / student / ASSIGNMENT)
    return h.hexdigest()


def _entry(paths: CoursePaths, student: str) -> Path:
    if not student or "/" in student or student.startswith("."):
        raise ValueError(f"not a student id: {student!r}")
    return paths.private / "graded" / f"{student}.json"


def record(paths: CoursePaths, result: StudentResult, print_: str) -> None:
    """Journal ``result`` (already merged) under fingerprint ``print_``."""
    entry = _entry(paths, result.student)
    entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {k: v for k, v in asdict(result).items() if k != "library"}
    if isinstance(data.get("timestamp"), datetime):
        data["timestamp"] = data["timestamp"].isoformat()
    tmp = entry.with_suffix(".tmp")
    tmp.write_text(json.dumps({"fingerprint": print_, "result": data}))
    os.replace(tmp, entry)


def recorded(paths: CoursePaths, student: str, print_: str) -> StudentResult | None:
    """The journaled result of ``student`` if it was graded with fingerprint ``print_``."""
    entry = _entry(paths, student)
    try:
        data = json.loads(entry.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != print_:
        return None
    fields = dict(data["result"])
    try:
        stamp = fields.get("timestamp")
        fields["timestamp"] = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        result = StudentResult(**fields)
    except (TypeError, ValueError):  # a journal from another version: grade again
        return None
    result.library = load_report(paths, student)
    return result
