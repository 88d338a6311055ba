"""Helpers shared by the grading tests (no fixtures)."""

from __future__ import annotations

from pathlib import Path

from grader.course.release import ASSIGNMENT


def gradebook_grades(course: Path) -> dict:
    """Every grade of every student, as nbgrader's gradebook holds it."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(ASSIGNMENT):
            out[sub.student.id] = sorted(
                (nb.name, g.name, g.auto_score, g.manual_score, g.needs_manual_grade)
                for nb in sub.notebooks for g in nb.grades)
    return out


def assert_same_results(first: dict, second: dict) -> None:
    """Two runs' ``StudentResult``s (student -> result) agree: totals, pending manual
    grades, disagreements, and every library function's score and case outcomes."""
    from dataclasses import asdict

    assert set(first) == set(second)
    for student in first:
        a, b = first[student], second[student]
        assert (a.score, a.max_score, a.manual_pending) == (b.score, b.max_score,
                                                            b.manual_pending), student
        assert sorted(a.disagreements) == sorted(b.disagreements), student
        # every function's score and every case's outcome (not the sandbox's timing line)
        assert {n: asdict(f) for n, f in a.library.functions.items()} == {
            n: asdict(f) for n, f in b.library.functions.items()}, student


def secret_texts() -> list[str]:
    """What no student may receive: the exercises' hidden probe expressions and the hidden
    library cases' labels (the notebooks hold no hidden-test blocks any more)."""
    from grader.course.exercise_probes import hidden_texts
    from grader.course.hidden_cases import HIDDEN

    return hidden_texts() + [label for cases in HIDDEN.values() for label, _ in cases
                             if len(label) > 5]


def breaking_bwrap(folder: Path, real: str) -> Path:
    """A bubblewrap that passes the start-of-run probe, then refuses to start any worker or
    zygote (as a machine out of namespaces, or a bwrap broken mid-run, would)."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "bwrap"
    wrapper.write_text('#!/bin/sh\n'
                       'case "$*" in *grader/harness/worker.py*|*grader/harness/zygote.py*)\n'
                       '  echo "bwrap: Creating new namespace failed" >&2; exit 1;;\nesac\n'
                       f'exec {real} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def assert_fetched_feedback(reference: dict[str, str], one_bug: dict[str, str],
                            broken: str = "max_pool_backward_naive") -> None:
    """What two students fetched (page name -> HTML): every check-cell page carries the
    verdicts, ``00_history`` the whole library report; the one-bug student's report lists
    ``broken`` with a hint under "To fix", the reference student's lists nothing to fix."""
    from grader.course.library_page import REPORT_MARKER, VERDICT_MARKER

    for pages in (reference, one_bug):
        assert "00_history.html" in pages and "05_pooling.html" in pages, sorted(pages)
        assert all(VERDICT_MARKER in pages[n] for n in ("03_parameter_sharing.html",
                                                        "05_pooling.html"))
        assert REPORT_MARKER in pages["00_history.html"]
    report = one_bug["00_history.html"].split(REPORT_MARKER, 1)[1]
    to_fix = report.split("To fix", 1)[1].split("Passed (", 1)[0]
    assert broken in to_fix and "hint" in to_fix
    assert "To fix" not in reference["00_history.html"].split(REPORT_MARKER, 1)[1].split(
        "</section>", 1)[0]


def assert_no_secret_text(pages_by_student: dict[str, dict[str, str]]) -> None:
    """No fetched page of any student holds a hidden probe or hidden case label."""
    hidden = secret_texts()
    assert hidden
    for who, pages in pages_by_student.items():
        assert pages, who
        for name, text in pages.items():
            for line in hidden:
                assert line not in text, (who, name, line)
