"""Where everything of one nbgrader course directory lives, and nbgrader's API bound to it.

Layout (a standard nbgrader course)::

    nbgrader_config.py      the instructor's (created once by release, then never rewritten)
    cs231n_grader_config.py written by :mod:`grader.course.release` (loaded by the one above)
    source/convnets/        instructor source: notebooks + reference cs231n_lib + check API
    release/convnets/       what students get
    submitted/<student>/convnets/
    autograded/<student>/convnets/
    feedback/<student>/convnets/
    gradebook.db            nbgrader's SQLite gradebook
    .grader/                instructor-only state of cs231n-grader (library reports, scratch)
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ASSIGNMENT = "convnets"
#: Set in a grading job's environment: the course config lets nbgrader autograde run only then.
JOB_ENV = "CS231N_GRADER_JOB"
#: Files nbgrader's exchange puts beside a submission (``submit``/``collect``) and that
#: ``release_feedback`` reads beside the feedback pages; taken through grading, never run.
EXCHANGE_FILES = frozenset({"timestamp.txt", "submission_secret.txt"})


class _Below:
    """A read-only attribute of :class:`CoursePaths`: the path ``root / parts``."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __get__(self, paths: CoursePaths | None, owner: type | None = None) -> Path:
        if paths is None:
            raise AttributeError(f"the course path {'/'.join(self.parts)} needs a CoursePaths")
        return paths.root.joinpath(*self.parts)


def read_json_object(path: Path) -> dict:
    """The JSON object stored in ``path`` ({} if the file is missing, unreadable or not an
    object): the cs231n-grader state files, which a later run may find absent or cut short."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class CoursePaths:
    """Where everything of one course directory lives."""

    root: Path

    config = _Below("nbgrader_config.py")

    source = _Below("source", ASSIGNMENT)

    release = _Below("release", ASSIGNMENT)

    submitted = _Below("submitted")

    autograded = _Below("autograded")

    feedback = _Below("feedback")

    gradebook = _Below("gradebook.db")

    def config_files(self) -> list[Path]:
        """``nbgrader_config.py`` and the config files beside it that it may load."""
        return [self.config, *sorted(p for p in self.root.glob("*_config.py")
                                     if p != self.config and p.is_file())]

    def assignment_files(self) -> set[str]:
        """What a submission may contain: the release's notebooks and library modules
        (relative paths). Anything else is dropped at collect and at autograde."""
        names = {p.name for p in self.release.glob("*.ipynb") if p.is_file()}
        names |= {f"cs231n_lib/{p.name}" for p in (self.release / "cs231n_lib").glob("*.py")
                  if p.is_file()}
        return names

    def shipped_files(self) -> set[str]:
        """Every file of the student release (relative paths): nbgrader's exchange hands all
        of them back with a submission, so those not taken are dropped without a message."""
        return {p.relative_to(self.release).as_posix() for p in self.release.rglob("*")
                if p.is_file()}

    #: Instructor-only state (never copied to a student): reports, scratch courses.
    private = _Below(".grader")
    #: One library report per student (JSON, hidden-case details included).
    reports = _Below(".grader", "reports")


def _venv_bin_on_path() -> None:
    """nbgrader shells out to ``alembic`` (gradebook migrations): it must be on PATH even
    when the grader runs as ``.venv/bin/python -m grader`` without an activated venv."""
    bindir = os.path.dirname(sys.executable)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *[p for p in parts if p]])


def course_config(paths: CoursePaths):
    """The traitlets ``Config`` of the course's ``nbgrader_config.py`` (what nbgrader reads)."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    if not isinstance(paths, CoursePaths):
        raise TypeError(f"paths must be CoursePaths, got {type(paths).__name__}")
    config = Config()
    config.merge(PyFileConfigLoader(paths.config.name, path=str(paths.root)).load_config())
    return config


def nbgrader_api(paths: CoursePaths):
    """An ``NbGraderAPI`` bound to the course directory (no 4 s CLI start-up per call)."""
    from nbgrader.apps.api import NbGraderAPI

    _venv_bin_on_path()
    from nbgrader.coursedir import CourseDirectory

    config = course_config(paths)
    coursedir = CourseDirectory(config=config)
    coursedir.root = str(paths.root)
    return NbGraderAPI(coursedir=coursedir, config=config)


def open_course(course: Path | str) -> CoursePaths:
    """The paths of an existing course directory (``ValueError`` if it was never released)."""
    paths = CoursePaths(Path(course).resolve())
    if not paths.config.exists():
        raise ValueError(f"{paths.root} has no nbgrader_config.py (run `release` first)")
    return paths
