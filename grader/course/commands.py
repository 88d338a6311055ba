"""The instructor commands after ``release``: each ``cmd_*`` takes the parsed CLI arguments and
returns the process exit code. The work is done by the modules named after each step."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.course.autograde import Budget, SandboxRequired, autograde
from grader.course.collect import collect
from grader.course.export import write_export
from grader.course.feedback import feedback
from grader.course.paths import open_course
from grader.course.score_table import print_score_table


def cmd_collect(args: argparse.Namespace) -> int:
    if getattr(args, "lms", None):
        return _collect_lms(args)
    results = collect(open_course(args.course), args.submissions)
    for r in results:
        status = f"ok ({r.files} files)" if r.ok else f"REJECTED: {r.error}"
        print(f"{r.source.name:<30} {r.student:<20} {status}")
        if r.dropped:
            shown = ", ".join(r.dropped[:5]) + (" ..." if len(r.dropped) > 5 else "")
            print(f"{'':<30} {'':<20} not part of the assignment, not taken: {shown}")
    return 0 if all(r.ok for r in results) else 1


def _collect_lms(args: argparse.Namespace) -> int:
    from grader.course.lms import collect_lms

    run = collect_lms(args.course, args.lms, args.submissions)
    for sub, r in run.collected:
        status = f"ok ({r.files} files)" if r.ok else f"REJECTED: {r.error}"
        if sub is not None and r.ok:
            when = sub.submitted.strftime("%Y-%m-%d %H:%M") if sub.submitted else "time unknown"
            status += f", submitted {when}" + (" LATE" if sub.late else "")
        print(f"{r.source.name[:38]:<38} {r.student[:16]:<16} {status}"[:160])
    for old, new in run.superseded:
        print(f"superseded: {old.file} (student {old.student}) by {new.file}")
    if not run.collected:
        print("cs231n-grader collect: no submission found in the given files", file=sys.stderr)
        return 1
    return 0 if all(r.ok for _, r in run.collected) else 1


def cmd_autograde(args: argparse.Namespace) -> int:
    budget = Budget(library_s=args.library_budget, notebooks_s=args.notebook_budget)
    try:
        results = autograde(args.course, students=args.student, jobs=args.jobs,
                            allow_unsandboxed=args.allow_unsandboxed, budget=budget,
                            scheduler=args.scheduler, resume=args.resume)
    except SandboxRequired as exc:
        if exc.results:
            print_score_table(exc.results, verbose=args.verbose)
        print(f"cs231n-grader autograde: {exc}", file=sys.stderr)
        return 1 if exc.results else 2
    if not results:
        print("cs231n-grader autograde: nothing to grade: no submission in "
              f"{open_course(args.course).submitted} (run collect or nbgrader collect)",
              file=sys.stderr)
        return 1
    print_score_table(results, verbose=args.verbose)
    return 0 if all(r.notebooks_ok and not r.problems for r in results) else 1


def cmd_feedback(args: argparse.Namespace) -> int:
    run = feedback(args.course, progress=True)
    for out in run.written:
        print(f"feedback: {out}")
    for student, why in run.failed.items():
        print(f"FAILED {student}: {why}", file=sys.stderr)
    if not run.written and not run.failed:
        print("cs231n-grader feedback: no graded submissions (run autograde first)",
              file=sys.stderr)
        return 1
    return 1 if run.failed else 0


def cmd_export(args: argparse.Namespace) -> int:
    if getattr(args, "lms", None) == "canvas":
        from grader.course.lms import write_canvas_csv

        count = write_canvas_csv(args.course, args.to, args.canvas_column)
        print(f"Canvas gradebook import: {args.to} ({count} students)")
        return 0
    to, count = write_export(args.course, args.to)
    if count == 0:
        print(f"cs231n-grader export: no student in the gradebook yet (run collect and "
              f"autograde): wrote the header only to {to}")
    else:
        print(f"grades: {to} ({count} students)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from grader.course.demo import run_demo

    return run_demo(Path(args.course), jobs=args.jobs)
