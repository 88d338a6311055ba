"""The autograde score table: one line per student, then the warnings and problems."""

from __future__ import annotations

import sys

from grader.course.merge import StudentResult


def print_score_table(results: list[StudentResult], file=sys.stdout) -> None:
    """One line per student: total, library points, named failures; problems below."""
    print(f"{'student':<22}{'score':>14}  library checks", file=file)
    for r in results:
        library = r.library
        failed = library.failed() if library is not None else []
        lib = f"{library.score:.1f}/{library.max_score:.1f}" if library is not None else "-"
        status = "" if r.notebooks_ok else "  [notebooks not graded]"
        if r.manual_pending:
            status += f"  [+{r.manual_pending:g} by hand]"
        lost = f"; lost: {', '.join(failed)}" if failed else ""
        print(f"{r.student:<22}{r.score:>7.1f}/{r.max_score:<6.1f}  {lib}{lost}{status}",
              file=file)
    for r in results:
        for line in r.disagreements:
            print(f"WARNING {line}", file=file)
        for line in r.problems:
            print(f"PROBLEM {r.student}: {line}", file=file)
