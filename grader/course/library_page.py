"""The secure checker's findings as HTML a learner reads: one block per graded function (put
into the notebook feedback, in that function's check cell) and a whole-library page.

Every string that could come from a submission (exception messages) is escaped; hidden cases
show only "hidden case k of n", the verdict and a hint class (:mod:`grader.checks.report`).
"""

from __future__ import annotations

import html

from grader.checks.report import FunctionResult, LibraryReport

#: Marks the secure verdict in a feedback page (tests and the exchange look for it).
VERDICT_MARKER = "cs231n-library-verdict"

STYLE = """
.cs231n-library-verdict{border:1px solid #ccc;border-left:6px solid #999;border-radius:4px;
  padding:6px 12px;margin:6px 0;font-family:system-ui,sans-serif;font-size:14px;
  background:#fafafa;color:#222}
.cs231n-library-verdict.pass{border-left-color:#2e7d32}
.cs231n-library-verdict.fail{border-left-color:#c62828}
.cs231n-library-verdict .score{font-weight:600}
.cs231n-library-verdict ul{margin:4px 0 2px 18px;padding:0}
.cs231n-library-verdict li{margin:2px 0}
.cs231n-library-verdict .hint{color:#6a1b9a}
.cs231n-library-verdict code{background:#eee;padding:0 3px;border-radius:3px}
body.cs231n-library{max-width:900px;margin:24px auto;padding:0 12px}
.cs231n-library-report{max-width:1000px;margin:12px auto 24px;padding:10px 16px;
  border:1px solid #bbb;border-radius:6px;background:#fff;font-family:system-ui,sans-serif}
.cs231n-library-report h2{font-size:20px;margin:4px 0 8px}
.cs231n-library-report h3{font-size:16px;margin:10px 0 4px}
.cs231n-library-report .where{color:#555;font-size:13px}
.cs231n-library-report details summary{cursor:pointer;margin:10px 0;font-weight:600}
details summary{cursor:pointer;margin:10px 0;font-weight:600}
"""
#: Marks the whole-library report section in a notebook's feedback page.
REPORT_MARKER = "cs231n-library-report"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def verdict_html(fn: FunctionResult, sandbox: str = "", where: str = "") -> str:
    """One function's verdict: score, then each failed case with its hint (``where``: the
    notebook holding its check cell, shown beside the name)."""
    ok = fn.full_marks
    place = f" <span class='where'>({_e(where)})</span>" if where else ""
    lines = [f"<div class='{VERDICT_MARKER} {'pass' if ok else 'fail'}'>",
             f"<div><span class='score'><code>{_e(fn.name)}</code>: {fn.score:g} / "
             f"{fn.max_score:g} points</span>{place} — {fn.passed} of {fn.total} cases "
             "passed (graded outside your notebook, in a sandbox)</div>"]
    failures = [c for c in fn.cases if not c.passed]
    if failures:
        lines.append("<ul>")
        for case in failures[:8]:
            detail = f"<b>{_e(case.label)}</b>: {_e(case.outcome.label)}"
            if case.message:
                detail += f" — {_e(case.message[:300])}"
            if case.hint:
                detail += f"<div class='hint'>hint: {_e(case.hint[:400])}</div>"
            lines.append(f"<li>{detail}</li>")
        if len(failures) > 8:
            lines.append(f"<li>… and {len(failures) - 8} more failed cases</li>")
        lines.append("</ul>")
    lines.append("</div>")
    return "".join(lines)


def ordered_names(report: LibraryReport, order: list[str] | None = None) -> list[str]:
    """The report's functions in ``order`` (e.g. notebook order), the rest after, sorted."""
    if order is not None and not all(isinstance(n, str) for n in order):
        raise TypeError("order must be a list of function names")
    names = [n for n in dict.fromkeys(order or []) if n in report.functions]
    return names + [n for n in sorted(report.functions) if n not in names]


def library_section_html(report: LibraryReport, order: list[str] | None = None,
                         where: dict[str, str] | None = None, heading: str = "h2") -> str:
    """The whole library as one styled block: the total and the failed functions (each with
    its hints) first, then the passed ones folded in ``<details>``. ``where`` maps a
    function to the notebook holding its check cell."""
    if heading not in ("h1", "h2"):
        raise ValueError(f"heading must be 'h1' or 'h2', got {heading!r}")
    sub = "h2" if heading == "h1" else "h3"
    where = where or {}
    names = ordered_names(report, order)
    failed = [n for n in names if not report.functions[n].full_marks]
    passed = [n for n in names if report.functions[n].full_marks]
    body = [f"<{heading}>Library checks (cs231n_lib): {report.score:g} / "
            f"{report.max_score:g} points</{heading}>",
            f"<p>{len(failed)} of {len(names)} functions to fix. Graded outside your notebook,"
            f" in a sandbox ({_e(report.sandbox)}).</p>"]
    if report.error:
        body.append(f"<p><b>Not graded:</b> {_e(report.error)}</p>")
    if failed:
        body.append(f"<{sub}>To fix ({len(failed)})</{sub}>")
        body += [verdict_html(report.functions[n], where=where.get(n, "")) for n in failed]
    if passed:
        body.append(f"<details><summary>Passed ({len(passed)})</summary>")
        body += [verdict_html(report.functions[n], where=where.get(n, "")) for n in passed]
        body.append("</details>")
    return (f"<section class='{REPORT_MARKER}'><style>{STYLE}</style>" + "".join(body)
            + "</section>")


def library_page_html(report: LibraryReport, order: list[str] | None = None,
                      where: dict[str, str] | None = None) -> str:
    """The whole library as a page of its own (kept for the instructor)."""
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Library checks</title>"
            "</head><body class='cs231n-library'>"
            + library_section_html(report, order, where, heading="h1") + "</body></html>")
