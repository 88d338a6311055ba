"""The autograde score table: one line per student (at most :data:`WIDTH` columns), then the
warnings and problems. ``verbose`` adds every lost function and the untruncated problems; the
full record is in the gradebook, ``.grader/reports/`` and ``.grader/logs/``."""

from __future__ import annotations

import sys

from grader.course.merge import StudentResult

WIDTH = 100


def _fit(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _lost(names: list[str], room: int) -> str:
    """``lost: a, b (+3 more)`` in at most ``room`` characters ('' when nothing is lost)."""
    if not names:
        return ""
    for shown in range(len(names), 0, -1):
        more = f" (+{len(names) - shown} more)" if shown < len(names) else ""
        text = "lost: " + ", ".join(names[:shown]) + more
        if len(text) <= room:
            return text
    return f"lost {len(names)} functions" if room >= 20 else f"-{len(names)} fn"


def score_lines(results: list[StudentResult], verbose: bool = False) -> list[str]:
    """The table's lines; without ``verbose`` none is over :data:`WIDTH` characters."""
    if not isinstance(results, list):
        raise TypeError(f"results must be a list of StudentResult, got {type(results).__name__}")
    lines = [f"{'student':<20} {'score':>13}  {'library':>11}  notes"]
    for r in results:
        library = r.library
        failed = library.failed() if library is not None else []
        lib = f"{library.score:.1f}/{library.max_score:.1f}" if library is not None else "-"
        notes = []
        if not r.notebooks_ok:
            notes.append("[notebooks not graded]")
        if r.manual_pending:
            notes.append(f"[+{r.manual_pending:g} by hand]")
        if r.late_penalty:
            notes.append(f"[late -{r.late_penalty:g}]")
        head = f"{_fit(r.student, 20):<20} {r.score:>6.1f}/{r.max_score:<6.1f}  {lib:>11}  "
        tail = " ".join(notes)
        room = WIDTH - len(head) - len(tail) - (1 if tail else 0)
        lost = ("lost: " + ", ".join(failed)) if verbose and failed else _lost(failed, room)
        line = (head + " ".join(x for x in (tail, lost) if x)).rstrip()
        lines.append(line if verbose else _fit(line))
    for r in results:
        for line in r.disagreements:
            lines.append(line if verbose else _fit(f"WARNING {line}"))
        for line in r.problems:
            text = f"PROBLEM {r.student}: {line}"
            lines.append(text if verbose else _fit(text))
    if not verbose and any(len(x) >= WIDTH for x in lines):
        lines.append("(lines cut at 100 columns: see --verbose, .grader/reports, .grader/logs)")
    return lines


def print_score_table(results: list[StudentResult], file=None, verbose: bool = False) -> None:
    """Print :func:`score_lines` to ``file`` (default stdout)."""
    for line in score_lines(results, verbose):
        print(line, file=file or sys.stdout)
