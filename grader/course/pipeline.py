"""The instructor commands after ``release``: collect, autograde, feedback, export, demo.

Each ``cmd_*`` takes the parsed CLI arguments and returns the process exit code; the plain
functions below them are what tests and other code call.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import sys
from pathlib import Path

from grader.course.autograde import LIBRARY_REPORT, autograde
from grader.course.collect import collect
from grader.course.release import ASSIGNMENT, CoursePaths, nbgrader_api

LIBRARY_FEEDBACK = "library_checks.html"


def _paths(course: Path) -> CoursePaths:
    paths = CoursePaths(Path(course).resolve())
    if not paths.config.exists():
        raise ValueError(f"{paths.root} has no nbgrader_config.py (run `release` first)")
    return paths


# -- collect ---------------------------------------------------------------------------------


def cmd_collect(args: argparse.Namespace) -> int:
    results = collect(_paths(args.course), args.submissions)
    for r in results:
        status = f"ok ({r.files} files)" if r.ok else f"REJECTED: {r.error}"
        print(f"{r.source.name:<30} {r.student:<20} {status}")
    return 0 if all(r.ok for r in results) else 1


# -- autograde -------------------------------------------------------------------------------


def cmd_autograde(args: argparse.Namespace) -> int:
    results = autograde(
        args.course, students=args.student, jobs=args.jobs, require_sandbox=args.require_sandbox
    )
    print_score_table(results)
    return 0 if all(r.notebooks_ok for r in results) else 1


def print_score_table(results, file=sys.stdout) -> None:
    """One line per student: total, library points, notebook status, named failures."""
    print(f"{'student':<22}{'score':>14}  library checks", file=file)
    for r in results:
        functions = r.library.get("functions", {})
        failed = [name for name, f in functions.items() if f["score"] < f["max"]]
        lib_score = sum(f["score"] for f in functions.values())
        lib_max = sum(f["max"] for f in functions.values())
        status = "" if r.notebooks_ok else "  [notebooks could not be graded]"
        if r.manual_pending:
            status += f"  [+{r.manual_pending:g} to grade by hand]"
        missing = f"; lost: {', '.join(failed)}" if failed else ""
        print(
            f"{r.student:<22}{r.score:>7.1f}/{r.max_score:<6.1f}  "
            f"{lib_score:.1f}/{lib_max:.1f}{missing}{status}",
            file=file,
        )
    for r in results:
        for line in r.disagreements:
            print(f"WARNING {line}", file=file)


# -- feedback --------------------------------------------------------------------------------


def library_feedback_html(report: dict) -> str:
    """The secure checker's findings as a small HTML page (no hidden inputs, only verdicts)."""
    rows = []
    for name, fn in sorted(report.get("functions", {}).items()):
        for case in fn.get("cases", []):
            verdict = "PASS" if case.get("passed") else "FAIL"
            detail = " ".join(x for x in (case.get("message"), case.get("hint")) if x)
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td>{html.escape(case.get('name', ''))}</td>"
                f"<td class='{verdict.lower()}'>{verdict}</td><td>{html.escape(detail)}</td></tr>"
            )
        rows.append(
            f"<tr class='total'><td colspan='2'>{html.escape(name)}</td>"
            f"<td colspan='2'>{fn['score']:g} / {fn['max']:g} points</td></tr>"
        )
    sandbox = html.escape(str(report.get("sandbox", "unknown")))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Library checks</title>"
        "<style>td{padding:2px 8px}.pass{color:#070}.fail{color:#b00}"
        ".total{font-weight:bold;border-top:1px solid #999}</style></head><body>"
        "<h1>cs231n_lib: library checks</h1>"
        f"<p>Graded outside your notebook, in a sandbox ({sandbox}).</p>"
        "<table><tr><th>function</th><th>case</th><th>result</th><th>detail</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )


def feedback(course_dir: Path | str) -> list[Path]:
    """nbgrader feedback (hidden tests removed by the course config) + library checks page."""
    paths = _paths(Path(course_dir))
    api = nbgrader_api(paths)
    written = []
    for student_dir in sorted(paths.autograded.glob(f"*/{ASSIGNMENT}")):
        student = student_dir.parent.name
        result = api.generate_feedback(ASSIGNMENT, student, force=True)
        if not result.get("success"):
            print(f"{student}: nbgrader feedback failed:\n{result.get('log', '')[-2000:]}")
        out = paths.feedback / student / ASSIGNMENT
        out.mkdir(parents=True, exist_ok=True)
        report_file = student_dir / LIBRARY_REPORT
        report = json.loads(report_file.read_text()) if report_file.exists() else {}
        (out / LIBRARY_FEEDBACK).write_text(library_feedback_html(report))
        written.append(out)
    return written


def cmd_feedback(args: argparse.Namespace) -> int:
    for out in feedback(args.course):
        print(f"feedback: {out}")
    return 0


# -- export ----------------------------------------------------------------------------------


def export_rows(course_dir: Path | str) -> list[dict[str, object]]:
    """One row per student: per-notebook scores, total, max, percent."""
    from nbgrader.api import Gradebook, MissingEntry

    paths = _paths(Path(course_dir))
    rows = []
    with Gradebook(f"sqlite:///{paths.gradebook}") as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        notebooks = sorted(nb.name for nb in assignment.notebooks)
        for student in sorted(gb.students, key=lambda s: s.id):
            row: dict[str, object] = {"student_id": student.id}
            try:
                submission = gb.find_submission(ASSIGNMENT, student.id)
            except MissingEntry:
                row.update({name: 0.0 for name in notebooks})
                row.update(total=0.0, max_score=assignment.max_score, percent=0.0)
                row["status"] = "missing"
                rows.append(row)
                continue
            by_name = {nb.name: nb for nb in submission.notebooks}
            for name in notebooks:
                row[name] = round(by_name[name].score, 2)
            row["total"] = round(submission.score, 2)
            row["max_score"] = round(submission.max_score, 2)
            row["percent"] = round(100 * submission.score / submission.max_score, 1)
            row["status"] = "needs manual grading" if submission.needs_manual_grade else "graded"
            rows.append(row)
    return rows


def export(course_dir: Path | str, to: Path | str) -> Path:
    rows = export_rows(course_dir)
    to = Path(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    with open(to, "w", newline="") as fh:
        if rows:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return to


def cmd_export(args: argparse.Namespace) -> int:
    print(f"grades: {export(args.course, args.to)}")
    return 0


# -- demo ------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from grader.course.demo import run_demo

    return run_demo(Path(args.course), jobs=args.jobs)
