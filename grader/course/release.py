"""Build an nbgrader course directory and the student release of the ``convnets`` assignment.

Layout produced under ``course_dir`` (a standard nbgrader course)::

    nbgrader_config.py      the instructor's (created once, never rewritten; loads ours first)
    cs231n_grader_config.py course id, exchange, exclude_overwriting, timeouts, safe feedback
    source/convnets/        the notebooks + cs231n_lib (reference) + the shippable part of grader/
    release/convnets/       what students get: notebooks stripped by nbgrader, .py stripped here
    gradebook.db            nbgrader's SQLite gradebook

Two nbgrader facts shape this module (checked with nbgrader 0.9.6):

* nbgrader strips solutions from notebooks only; other files are copied verbatim (#1237), so
  every ``cs231n_lib`` module goes through :func:`grader.checks.stubs.strip_solutions` after
  ``generate_assignment``.
* at autograde nbgrader copies every non-notebook file of ``source/`` over the submission
  unless it is listed in ``Autograde.exclude_overwriting`` (#940); every module a learner
  edits is listed, or every student would be graded on the instructor's copy.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat

from grader.checks import stubs
from grader.course.paths import ASSIGNMENT, JOB_ENV, CoursePaths, nbgrader_api

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "cs231n_lib"
NOTEBOOKS = ROOT / "notebooks"
GRADER = ROOT / "grader"

#: What of ``grader/`` a learner's kernel needs for ``check()``: two whole packages (nothing
#: in them is secret) and the command line. Everything else (hidden cases, mutants, the
#: sandbox, the course workflow) stays with the instructor.
SHIPPED_PACKAGES = ("checks", "harness")
SHIPPED_FILES = ("__init__.py", "__main__.py", "cli.py")

#: Per-cell timeout (s) for autograde; naive loops on the graded cases run well under it.
CELL_TIMEOUT_S = 120


def student_edited_modules(library: Path = LIBRARY) -> list[str]:
    """Relative paths (``cs231n_lib/x.py``) of every module holding a solution region."""
    return sorted(
        f"cs231n_lib/{path.relative_to(library).as_posix()}"
        for path in library.rglob("*.py")
        if "__pycache__" not in path.parts and stubs.has_solutions(path.read_text())
    )


def grader_config_text(exclude: list[str], course_id: str, exchange: str | None = None) -> str:
    """The course mechanics, ``cs231n_grader_config.py`` (rewritten by every release; the
    instructor's ``nbgrader_config.py`` loads it and may override what is not guarded)."""
    exchange_line = f"c.Exchange.root = {exchange!r}\n" if exchange else ""
    return f'''"""cs231n-grader's part of the course config:
rewritten by every `cs231n-grader release`.
Put your own settings in nbgrader_config.py (it loads this file first)."""
import os

c = get_config()  # noqa: F821  (nbgrader injects get_config)
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
{exchange_line}# Every learner-edited module; anything missing here is graded from the
# instructor's copy.
c.Autograde.exclude_overwriting = {{{ASSIGNMENT!r}: {exclude!r}}}
c.Execute.timeout = {CELL_TIMEOUT_S}
c.Execute.interrupt_on_timeout = True
# Feedback: hidden tests and their outputs gone (nbgrader #1363), the secure library verdicts
# in the check cells, nothing of the kernel but text and images (grader.course.feedback_filters).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "grader.course.feedback_filters.SafeFeedback",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.SafeFeedback.reports_dir = os.path.join(c.CourseDirectory.root, ".grader", "reports")
c.HTMLExporter.sanitize_html = True


# Stock `nbgrader autograde` (and formgrader's Autograde button) would grade the library in the
# student's own kernel, where it can be faked: only cs231n-grader's grading jobs may run it.
# nbgrader swallows an Exception from the hook, so the refusal is a BaseException.
class StockAutogradeRefused(BaseException):
    pass


def _only_cs231n_grader(**kwargs):
    if os.environ.get({JOB_ENV!r}) != "1":
        raise StockAutogradeRefused(
            "this course is autograded with `cs231n-grader autograde --course "
            + c.CourseDirectory.root + "` (sandboxed kernels, library checks outside the "
            "student's process); stock nbgrader autograde would let a submission fake its score")


c.Autograde.pre_convert_hook = _only_cs231n_grader
c.ClearSolutions.code_stub = {{
    "python": "# YOUR CODE HERE\\nraise NotImplementedError(\\"not written yet\\")"
}}
'''


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(
        src,
        dst,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"),
    )


def populate_source(paths: CoursePaths) -> None:
    """(Re)create ``source/convnets`` from the repository: notebooks, library, check API."""
    if paths.source.exists():
        shutil.rmtree(paths.source)
    paths.source.mkdir(parents=True)
    for notebook in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        write_notebook_with_points(notebook, paths.source / notebook.name)
    _copy_tree(LIBRARY, paths.source / "cs231n_lib")
    ship_check_api(paths.source / "grader")
    _write_visible_expected(paths.source / "grader" / "checks" / "data")


def library_check_points(nb: nbformat.NotebookNode) -> list[str]:
    """Write each library check cell's points (``check_<function>``) from ``registry.TABLE``,
    the one source of them; return the grade ids written. The stored notebooks carry none for
    these cells. Exercise and written-answer cells keep the points of their own metadata (their
    one source), and a check cell naming no registered function raises ``KeyError``."""
    from grader.checks import registry

    written = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id", "")
        if meta.get("grade") and grade_id.startswith(registry.GRADE_ID_PREFIX):
            meta["points"] = registry.points(grade_id[len(registry.GRADE_ID_PREFIX):])
            written.append(grade_id)
    return written


def write_notebook_with_points(src: Path, dst: Path) -> None:
    """Copy a course notebook into ``source/``, its check cells' points written from TABLE."""
    nb = nbformat.read(src, as_version=nbformat.NO_CONVERT)
    library_check_points(nb)
    nbformat.write(nb, dst)


def ship_check_api(dst: Path) -> None:
    """Copy the shippable part of ``grader/`` (whole packages, no lists of files) to ``dst``."""
    dst.mkdir(parents=True)
    for name in SHIPPED_FILES:
        shutil.copy2(GRADER / name, dst / name)
    for package in SHIPPED_PACKAGES:
        _copy_tree(GRADER / package, dst / package)
    stale = dst / "checks" / "data"
    if stale.exists():
        shutil.rmtree(stale)  # precomputed values are written fresh for this release


def _write_visible_expected(data_dir: Path) -> None:
    """Precompute the reference outputs of the visible cases (learners lack the reference)."""
    from grader.checks import expected

    data_dir.mkdir(parents=True, exist_ok=True)
    expected.write_expected(data_dir / expected.EXPECTED_FILE)


def write_config(paths: CoursePaths, course_id: str | None = None,
                 exchange: Path | str | None = None) -> dict[str, str]:
    """Write ours, keep the instructor's (see :mod:`grader.course.config_files`); return the
    course id (and exchange root) nbgrader will use."""
    from grader.course.config_files import resolve_settings, write_configs

    settings = resolve_settings(paths, course_id, exchange)
    text = grader_config_text(student_edited_modules(), settings["course_id"],
                              settings.get("exchange"))
    return write_configs(paths, text, settings, explicit_id=course_id is not None)


def strip_release_modules(release: Path) -> list[Path]:
    """Replace the solution regions of every released ``.py`` by stubs; return those changed."""
    changed = []
    for path in sorted(release.rglob("*.py")):
        text = path.read_text()
        if stubs.has_solutions(text):
            path.chmod(0o644)
            path.write_text(stubs.strip_solutions(text, str(path)))
            changed.append(path)
    return changed


_SOLUTION_REGION = re.compile(
    r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION", re.S | re.M
)


def solution_lines(source: str) -> set[str]:
    """Distinctive lines that occur only inside a file's solution regions (so their presence
    in the release proves a leak; lines also used outside the regions prove nothing)."""
    inside: set[str] = set()
    for region in _SOLUTION_REGION.findall(source):
        for line in region.splitlines():
            line = line.strip()
            if len(line) >= 20 and not line.startswith("#"):
                inside.add(line)
    outside = {line.strip() for line in _SOLUTION_REGION.sub("", source).splitlines()}
    return inside - outside


def _marker_lines(text: str) -> set[str]:
    """Markers that stand alone on a line (prose that merely names them does not count)."""
    markers = (stubs.BEGIN, stubs.END, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
    found = set()
    for line in text.splitlines():
        stripped = line.strip().strip('",').replace("\\n", "").strip()
        for marker in markers:
            if stripped == marker:
                found.add(marker)
    return found


def leaks(release: Path, source: Path) -> list[str]:
    """Every way ``release`` gives away a solution or a hidden case (empty list = clean)."""
    problems: list[str] = []
    for path in sorted(release.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(release)
        if path.suffix not in {".py", ".ipynb", ".md", ".txt"}:
            continue
        text = path.read_text(errors="replace")
        for marker in sorted(_marker_lines(text)):
            problems.append(f"{rel}: still contains {marker!r}")
        if path.suffix == ".py" and (source / rel).exists():
            shown = {line.strip() for line in text.splitlines()}
            leaked = sorted(solution_lines((source / rel).read_text()) & shown)
            problems.extend(f"{rel}: solution line {line!r}" for line in leaked[:3])
    problems.extend(f"{name}: not part of the shippable check API" for name in
                    unshippable_grader_files(release / "grader"))
    return problems


def unshippable_grader_files(shipped: Path) -> list[str]:
    """Files under a released ``grader/`` that are not the check API (should be none)."""
    if not shipped.exists():
        return []
    extra = []
    for path in sorted(shipped.rglob("*")):
        rel = path.relative_to(shipped)
        if path.is_dir() or "__pycache__" in rel.parts:
            continue
        top = rel.parts[0]
        precomputed = rel.parts[:2] == ("checks", "data")
        if len(rel.parts) == 1 and top in SHIPPED_FILES:
            continue
        if top in SHIPPED_PACKAGES and not precomputed:
            continue
        if precomputed and path.suffix == ".npz":
            continue
        extra.append(f"grader/{rel.as_posix()}")
    return extra


def build_release(course_dir: Path | str, course_id: str | None = None,
                  exchange: Path | str | None = None, progress: bool = False) -> CoursePaths:
    """Create or refresh the course directory and its student release. Safe to re-run; the
    instructor's ``nbgrader_config.py`` is kept. ``course_id`` / ``exchange``: nbgrader's
    ``CourseDirectory.course_id`` / ``Exchange.root`` (default: the last release's; the id
    then defaults to the directory's name).

    Raises:
        ValueError: a bad course id, exchange, or an instructor config overriding a guarded
            setting or another course id.
        RuntimeError: nbgrader failed, or the release leaks a solution or a hidden case.
    """
    from tqdm.auto import tqdm

    paths = CoursePaths(Path(course_dir).resolve())
    write_config(paths, course_id, exchange)  # before the bar: its errors are one line
    steps = ["source", "generate_assignment", "strip modules", "leak check"]
    bar = tqdm(steps, desc="release", unit="step", disable=not progress)
    bar.set_postfix_str(steps[0])
    populate_source(paths)
    bar.update()
    bar.set_postfix_str(steps[1])
    api = nbgrader_api(paths)
    result = api.generate_assignment(ASSIGNMENT, force=True)
    if not result.get("success"):
        bar.close()
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{result.get('log', '')}")
    bar.update()
    bar.set_postfix_str(steps[2])
    strip_release_modules(paths.release)
    bar.update()
    bar.set_postfix_str(steps[3])
    problems = leaks(paths.release, paths.source)
    bar.update()
    bar.close()
    if problems:
        raise RuntimeError("the release leaks:\n  " + "\n  ".join(problems))
    return paths
