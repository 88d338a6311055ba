"""The instructor commands after ``release``: each ``cmd_*`` takes the parsed CLI arguments and
returns the process exit code. The work is done by the modules named after each step."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.course.autograde import Budget, SandboxRequired, autograde
from grader.course.collect import collect
from grader.course.export import export
from grader.course.feedback import feedback
from grader.course.score_table import print_score_table
from grader.course.paths import open_course


def cmd_collect(args: argparse.Namespace) -> int:
    results = collect(open_course(args.course), args.submissions)
    for r in results:
        status = f"ok ({r.files} files)" if r.ok else f"REJECTED: {r.error}"
        print(f"{r.source.name:<30} {r.student:<20} {status}")
        if r.dropped:
            shown = ", ".join(r.dropped[:5]) + (" ..." if len(r.dropped) > 5 else "")
            print(f"{'':<30} {'':<20} not part of the assignment, not taken: {shown}")
    return 0 if all(r.ok for r in results) else 1


def cmd_autograde(args: argparse.Namespace) -> int:
    budget = Budget(library_s=args.library_budget, notebooks_s=args.notebook_budget)
    try:
        results = autograde(args.course, students=args.student, jobs=args.jobs,
                            allow_unsandboxed=args.allow_unsandboxed, budget=budget,
                            scheduler=args.scheduler, resume=args.resume)
    except SandboxRequired as exc:
        if exc.results:
            print_score_table(exc.results)
        print(f"cs231n-grader autograde: {exc}", file=sys.stderr)
        return 1 if exc.results else 2
    print_score_table(results)
    return 0 if all(r.notebooks_ok and not r.problems for r in results) else 1


def cmd_feedback(args: argparse.Namespace) -> int:
    run = feedback(args.course)
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
    print(f"grades: {export(args.course, args.to)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from grader.course.demo import run_demo

    return run_demo(Path(args.course), jobs=args.jobs)
