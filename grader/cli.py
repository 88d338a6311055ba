"""``cs231n-grader``: the instructor's and the learner's command line.

Heavy modules are imported inside each command, so ``check`` works in a student workspace
that ships only the check API.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def _cmd_release(args: argparse.Namespace) -> int:
    from grader.course.release import build_release

    paths = build_release(args.course, course_id=args.course_id, exchange=args.exchange,
                          progress=True)
    print(f"release ready: {paths.release}")
    return 0


def _cmd_student(args: argparse.Namespace) -> int:
    from grader.course.workspace import make_student_workspace

    out = make_student_workspace(Path(args.out), force=args.force)
    print(f"student workspace ready: {out}\n  cd {out} && jupyter lab")
    return 0


def _use_workspace(folder: Path) -> Path:
    """Make ``folder``'s ``cs231n_lib`` the one checked; refuse anywhere but a workspace."""
    if (folder / "grader" / "course").is_dir():
        raise ValueError(f"{folder} is the instructor's repository (its cs231n_lib is the "
                         "reference: `make test` checks it); run check inside a student "
                         "workspace (`make student`, or the release folder)")
    if not (folder / "cs231n_lib").is_dir():
        raise ValueError(f"no cs231n_lib/ in {folder}: run check inside a student workspace")
    for name in [m for m in sys.modules if m == "cs231n_lib" or m.startswith("cs231n_lib.")]:
        del sys.modules[name]
    sys.path.insert(0, str(folder))
    from grader.checks import expected

    shipped = folder / "grader" / "checks" / "data" / expected.EXPECTED_FILE
    if shipped.is_file():
        expected.DATA = shipped
        expected.reset()
    return folder / "cs231n_lib"


def _cmd_check(args: argparse.Namespace) -> int:
    library = _use_workspace(Path.cwd().resolve())
    import cs231n_lib
    from grader.checks.visible import check

    where = Path(cs231n_lib.__file__).resolve().parent
    if where != library.resolve():
        raise ValueError(f"cs231n_lib resolves to {where}, not {library}")
    print(f"checking the library in {library}")
    report = check(args.function)
    return 0 if report else 1


def _cmd_doctor(args: argparse.Namespace) -> int:
    from grader.course.doctor import doctor

    return doctor()


def _course_command(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from grader.course import commands

        return getattr(commands, f"cmd_{name}")(args)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cs231n-grader", description="Release, grade and check the CS231n convnets course."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="build the nbgrader course directory and student release")
    p.add_argument("--course", required=True, type=Path, help="course directory")
    p.add_argument("--course-id", help="nbgrader course id (default: the last release's, "
                   "else the directory's name)")
    p.add_argument("--exchange", type=Path, metavar="DIR",
                   help="nbgrader exchange root (default: the last release's, else nbgrader's)")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("collect", help="take submission zips/directories into submitted/")
    p.add_argument("--course", required=True, type=Path)
    p.add_argument("submissions", nargs="+", type=Path, help="zip files or directories")
    p.add_argument("--lms", choices=["canvas", "moodle", "plain"],
                   help="the files are an LMS bulk download (the outer zip or its members)")
    p.set_defaults(func=_course_command("collect"))

    p = sub.add_parser("autograde", help="grade submissions (notebooks + sandboxed library checks)")
    p.add_argument("--course", required=True, type=Path)
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--jobs", type=int, default=1, help="students graded in parallel")
    p.add_argument(
        "--allow-unsandboxed", action="store_true",
        help="grade even without a working bubblewrap (rlimits only: unsafe, said loudly)")
    p.add_argument("--library-budget", type=float, default=180.0, metavar="S",
                   help="wall-clock seconds for one submission's library checks")
    p.add_argument("--notebook-budget", type=float, default=900.0, metavar="S",
                   help="wall-clock seconds for one submission's notebooks")
    p.add_argument("--scheduler", metavar="local:N|tcp://HOST:PORT",
                   help="grade on Dask workers (a LocalCluster of N processes, or a scheduler)")
    p.add_argument("--resume", action="store_true",
                   help="skip students an earlier (interrupted) run already graded unchanged")
    p.set_defaults(func=_course_command("autograde"))

    p = sub.add_parser("feedback", help="feedback HTML per student, hidden tests removed")
    p.add_argument("--course", required=True, type=Path)
    p.set_defaults(func=_course_command("feedback"))

    p = sub.add_parser("export", help="grades as CSV for an LMS")
    p.add_argument("--course", required=True, type=Path)
    p.add_argument("--to", required=True, type=Path, help="CSV file to write")
    p.add_argument("--lms", choices=["canvas"], help="write the LMS's gradebook import format")
    p.add_argument("--canvas-column", default="convnets", metavar="NAME",
                   help="the Canvas assignment column, e.g. 'convnets (1234)'")
    p.set_defaults(func=_course_command("export"))

    p = sub.add_parser("demo", help="release, a sample class, autograde, feedback, export")
    p.add_argument("--course", type=Path, default=Path("course"))
    p.add_argument("--jobs", type=int, default=2)
    p.set_defaults(func=_course_command("demo"))

    p = sub.add_parser("student", help="make a self-study workspace")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--force", action="store_true", help="replace an existing workspace")
    p.set_defaults(func=_cmd_student)

    p = sub.add_parser("check", help="run the visible checks of the library in this directory")
    p.add_argument("function", nargs="?", help="one function (default: all)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("doctor", help="versions, sandbox, dataset cache, speed probe")
    p.set_defaults(func=_cmd_doctor)
    for command in sub.choices.values():
        command.add_argument("--verbose", "-v", action="store_true",
                             help="show third-party warnings and logs, and every score detail")
    return parser


def quiet_third_parties() -> None:
    """Hide warnings and INFO/WARNING logs of the libraries (SQLAlchemy's ``SAWarning``s from
    nbgrader's gradebook, jupyter_client's "TCP without encryption", traitlets' INFO lines):
    what matters reaches the instructor through our own messages."""
    import logging
    import warnings

    # In this process only: a student's kernel keeps its own warnings (nbgrader scores a cell
    # that writes to stderr 0, and that must not depend on --verbose).
    warnings.simplefilter("ignore")
    for name in ("traitlets", "nbgrader", "jupyter_client", "sqlalchemy", "distributed",
                 "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "verbose", False):
        quiet_third_parties()
    try:
        return int(args.func(args) or 0)
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"cs231n-grader {args.command}: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("grader."):
            raise
        # A student workspace ships only the check API (grader.course.release.SHIPPED_PACKAGES).
        print(f"cs231n-grader {args.command}: needs the instructor's repository "
              f"({exc.name} is not part of a student workspace)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
