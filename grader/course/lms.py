"""Bulk downloads of an LMS (Canvas, Moodle, plain zips) mapped to one student id each, and a
grades CSV Canvas's gradebook import accepts.

File names, as the LMSes write them (modelled on their public documentation; see
tests/test_lms.py for the sources):

* **Canvas** "Download Submissions" gives ``submissions.zip`` holding one file per submission,
  ``<sortable name>_<user id>_<submission/attachment id>_<original name>``, with ``LATE_``
  after the name for a late one; a student's resubmission of the same file name gets ``-1``,
  ``-2`` ... before the extension (``convnets-1.zip``). The student id used is the Canvas user
  id (what the gradebook CSV's ``ID`` column holds).
* **Moodle** "Download all submissions": ``<full name>_<participant id>_assignsubmission_file_
  <original name>`` (or, "download as folders", a folder ``<full name>_<participant id>_
  assignsubmission_file/`` holding the file). The id is Moodle's participant id.
* **plain**: ``<student id>.zip``.

Only the latest submission of each student is taken (latest zip entry time, then the highest
``-N``, then the highest Canvas submission id); the superseded ones are named. The zip entry
time (an LMS writes the submit time there; read as UTC) becomes the submission's timestamp,
and the LATE flag is kept in ``.grader/lms.json`` beside the LMS's display name.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from grader.course.collect import MAX_FILE_BYTES, STUDENT_ID, Collected, collect_one
from grader.course.paths import CoursePaths, open_course, read_json_object

LMS_KINDS = ("canvas", "moodle", "plain")
_CANVAS = re.compile(r"^(?P<name>[^_/]+)_(?:(?P<late>LATE)_)?(?P<uid>\d{1,20})_(?P<sid>\d{1,20})_"
                     r"(?P<file>[^/]+)$")
_MOODLE = re.compile(r"^(?P<name>[^/]+?)_(?P<uid>\d{1,20})_assignsubmission_file[_/]"
                     r"(?P<file>[^/]+)$")
_ATTEMPT = re.compile(r"-(\d{1,4})(?=\.zip$)")
#: At most this many members in an outer bulk zip.
MAX_MEMBERS = 5000


@dataclass(frozen=True)
class LmsSubmission:
    """One submission file of a bulk download, mapped to a student."""

    file: str  # the name as the LMS wrote it
    student: str  # the LMS's id: Canvas user id, Moodle participant id, or the plain name
    display_name: str
    late: bool
    submitted: datetime | None  # naive UTC
    attempt: int = 0
    submission_id: int = 0

    @property
    def order(self) -> tuple:
        return (self.submitted or datetime.min, self.attempt, self.submission_id)


def parse_name(kind: str, name: str, submitted: datetime | None = None) -> LmsSubmission:
    """The student of the file called ``name`` in an LMS download of ``kind``.

    Raises:
        ValueError: ``kind`` unknown, or ``name`` not in that LMS's pattern (says which).
    """
    if kind not in LMS_KINDS:
        raise ValueError(f"--lms must be one of {', '.join(LMS_KINDS)}, got {kind!r}")
    attempt = _ATTEMPT.search(name)
    tries = int(attempt.group(1)) if attempt else 0
    if kind == "canvas":
        m = _CANVAS.match(name)
        if not m:
            raise ValueError(f"{name}: not a Canvas submission name "
                             "(<name>_[LATE_]<user id>_<submission id>_<file>)")
        return LmsSubmission(name, m["uid"], m["name"], bool(m["late"]), submitted, tries,
                             int(m["sid"]))
    if kind == "moodle":
        m = _MOODLE.match(name)
        if not m:
            raise ValueError(f"{name}: not a Moodle submission name "
                             "(<full name>_<participant id>_assignsubmission_file_<file>)")
        return LmsSubmission(name, m["uid"], m["name"], False, submitted, tries)
    stem = name[:-4] if name.endswith(".zip") else name
    if "/" in name or not STUDENT_ID.match(stem):
        raise ValueError(f"{name}: a plain submission is <student id>.zip")
    return LmsSubmission(name, stem, stem, False, submitted, tries)


def _entry_time(info: zipfile.ZipInfo) -> datetime | None:
    try:
        stamp = datetime(*info.date_time)
    except ValueError:
        return None
    return stamp if stamp.year > 1980 else None  # 1980-01-01: the zip format's "no time"


def _members(outer: Path, into: Path) -> list[tuple[str, Path, datetime | None]]:
    """The submission files of an outer bulk zip, extracted under ``into`` (size-capped)."""
    out = []
    with zipfile.ZipFile(outer) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()
                 and not PurePosixPath(i.filename).name.startswith(".")
                 and "__MACOSX" not in i.filename]
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"{outer.name}: more than {MAX_MEMBERS} files")
        for k, info in enumerate(infos):
            name = info.filename.replace("\\", "/")
            if name.startswith("/") or ".." in PurePosixPath(name).parts:
                raise ValueError(f"{outer.name}: unsafe member name {name!r}")
            base = PurePosixPath(name).name
            if not base.endswith(".zip") or base.startswith("."):
                base = "submission.zip"
            (into / f"{k:05d}").mkdir()
            dest = into / f"{k:05d}" / base  # collect's messages name the LMS's file
            written = 0
            with zf.open(info) as src, open(dest, "wb") as dst:
                while chunk := src.read(1 << 16):
                    written += len(chunk)
                    if written > MAX_FILE_BYTES * 5:
                        raise ValueError(f"{outer.name}: {name} is over the size limit")
                    dst.write(chunk)
            out.append((name, dest, _entry_time(info)))
    return out


def _is_bulk(kind: str, path: Path) -> bool:
    """An outer download (its members are submissions), not one submission itself."""
    try:
        parse_name(kind, path.name)
    except ValueError:
        pass
    else:
        return False
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
    return bool(names) and all(n.lower().endswith(".zip") or "__MACOSX" in n for n in names)


@dataclass
class LmsRun:
    """What collect --lms did: each taken/rejected submission, and the superseded ones."""

    collected: list[tuple[LmsSubmission | None, Collected]]
    superseded: list[tuple[LmsSubmission, LmsSubmission]]  # (older, the one taken)


def collect_lms(course_dir: Path | str, kind: str, files: list[Path]) -> LmsRun:
    """Take an LMS download (outer zips or their members) into ``submitted/``."""
    paths = open_course(course_dir)
    if kind not in LMS_KINDS:
        raise ValueError(f"--lms must be one of {', '.join(LMS_KINDS)}, got {kind!r}")
    run = LmsRun([], [])
    with tempfile.TemporaryDirectory(dir=paths.root, prefix=".lms-") as tmp:
        found: list[tuple[LmsSubmission, Path]] = []
        for k, file in enumerate(map(Path, files)):
            if not file.is_file() or file.is_symlink():
                why = "no such file" if not file.exists() else "not a regular file"
                run.collected.append((None, Collected("?", file, 0, f"{file}: {why}")))
                continue
            try:
                if _is_bulk(kind, file):
                    into = Path(tmp) / f"bulk{k}"
                    into.mkdir()
                    members = _members(file, into)
                else:
                    stamp = datetime.fromtimestamp(int(file.stat().st_mtime), UTC).replace(
                        tzinfo=None)
                    members = [(file.name, file, stamp)]
            except (ValueError, OSError, zipfile.BadZipFile) as exc:
                run.collected.append((None, Collected("?", file, 0, str(exc))))
                continue
            for name, path, stamp in members:
                try:
                    found.append((parse_name(kind, PurePosixPath(name).name
                                             if kind != "moodle" else name, stamp), path))
                except ValueError as exc:
                    run.collected.append((None, Collected("?", Path(name), 0, str(exc))))
        latest: dict[str, tuple[LmsSubmission, Path]] = {}
        for sub, path in found:
            best = latest.get(sub.student)
            if best is None or sub.order > best[0].order:
                latest[sub.student] = (sub, path)
        run.superseded = [(sub, latest[sub.student][0]) for sub, _ in found
                          if sub is not latest[sub.student][0]]
        roster = load_roster(paths)
        for student, (sub, path) in sorted(latest.items()):
            result = collect_one(paths, path, student=student, submitted=sub.submitted)
            run.collected.append((sub, Collected(result.student, Path(sub.file), result.files,
                                                 result.error, result.dropped)))
            if result.ok:
                roster[student] = {**asdict(sub), "lms": kind,
                                   "submitted": sub.submitted.isoformat() if sub.submitted
                                   else None}
        save_roster(paths, roster)
    return run


def roster_file(paths: CoursePaths) -> Path:
    return paths.private / "lms.json"


def load_roster(paths: CoursePaths) -> dict[str, dict]:
    """Student id -> what the LMS said of their taken submission (name, LATE, time)."""
    return read_json_object(roster_file(paths))


def save_roster(paths: CoursePaths, roster: dict[str, dict]) -> None:
    paths.private.mkdir(exist_ok=True)
    tmp = roster_file(paths).with_suffix(".tmp")
    tmp.write_text(json.dumps(roster, indent=1, sort_keys=True))
    tmp.replace(roster_file(paths))


#: The identity columns of a Canvas gradebook CSV, in its order.
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def write_canvas_csv(course_dir: Path | str, to: Path | str, column: str = "convnets") -> int:
    """A Canvas gradebook import: identity columns, one assignment column (``column``, e.g.
    ``"convnets (1234)"`` with Canvas's assignment id) holding the final score, and the
    "Points Possible" row. Returns the number of students written."""
    from grader.course.export import check_target, export_rows

    if not isinstance(column, str) or not column.strip() or "\n" in column:
        raise ValueError(f"--canvas-column must be a one-line assignment name, got {column!r}")
    to = check_target(to)
    paths = open_course(course_dir)
    roster = load_roster(paths)
    rows = export_rows(course_dir)
    with open(to, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*CANVAS_COLUMNS, column])
        points = rows[0]["max_score"] if rows else ""
        writer.writerow(["    Points Possible", "", "", "", "", points])
        for row in rows:
            student = str(row["student_id"])
            name = str(roster.get(student, {}).get("display_name", student))
            writer.writerow([_cell(name), student, "", "", "", row["final"]])
    return len(rows)


def _cell(text: str) -> str:
    """No formula injection into a spreadsheet (a name starting with = + - @)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
