"""The nbconvert preprocessor that makes nbgrader's feedback safe to hand to a student.

Runs in ``GenerateFeedback`` (the course config lists it after ``GetGrades``, before
``ClearHiddenTests``), on the autograded notebook — whose outputs came from the student's
kernel and whose test cells hold the restored hidden tests:

* a cell that holds hidden tests loses every output (a failing traceback quotes the lines
  around the failure, hidden ones included: nbgrader #1363) and shows only its verdict;
* a ``check_<function>`` cell shows the secure checker's verdict instead of what the kernel
  printed (which the student controls and the secure score overrules);
* every other output keeps only plain text and PNG/JPEG images, size-capped (no HTML,
  JavaScript, SVG or widgets from the kernel reaches the page);
* markdown the student wrote (solution cells) is escaped, so raw HTML in an answer is shown,
  not rendered.
"""

from __future__ import annotations

import base64
import binascii
import html
import os
import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

from grader.checks.registry import GRADE_ID_PREFIX
from grader.checks.report import LibraryReport
from grader.course.library_page import STYLE, verdict_html

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
MAX_TEXT = 20_000
MAX_IMAGE = 2 << 20
KEPT_MIMES = ("text/plain", "image/png", "image/jpeg")
_STUDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def _text_output(text: str) -> dict:
    from nbformat.v4 import new_output

    return new_output("stream", name="stdout", text=text)


def _html_output(markup: str) -> dict:
    from nbformat.v4 import new_output

    return new_output("display_data", data={"text/html": markup, "text/plain": ""})


def _image_ok(data: object) -> bool:
    if not isinstance(data, str) or len(data) > MAX_IMAGE:
        return False
    try:
        base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return False
    return True


def _cap(text: object) -> str:
    text = "".join(text) if isinstance(text, list) else str(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "\n… (output truncated)"


def safe_outputs(outputs: list) -> list:
    """Outputs with only capped plain text and images (the kernel's HTML and scripts gone)."""
    kept = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            out["text"] = _cap(out.get("text", ""))
            kept.append(out)
        elif kind == "error":
            out["ename"] = _cap(out.get("ename", ""))[:200]
            out["evalue"] = _cap(out.get("evalue", ""))[:2000]
            out["traceback"] = [_cap(line)[:2000] for line in out.get("traceback", [])[:40]]
            kept.append(out)
        elif kind in ("display_data", "execute_result"):
            data = {k: v for k, v in dict(out.get("data", {})).items() if k in KEPT_MIMES}
            for key in ("image/png", "image/jpeg"):
                if key in data and not _image_ok(data[key]):
                    del data[key]
            if "text/plain" in data:
                data["text/plain"] = _cap(data["text/plain"])
            if data:
                out["data"] = data
                out["metadata"] = {}
                kept.append(out)
    return kept


class SafeFeedback(Preprocessor):
    """See the module docstring."""

    reports_dir = Unicode("", config=True, help="Where cs231n-grader keeps library reports.")
    enabled = Bool(True, config=True)  # nbconvert's default is off

    def _report(self, resources: dict) -> LibraryReport | None:
        student = str(resources.get("nbgrader", {}).get("student", ""))
        if not self.reports_dir or not _STUDENT.match(student):
            return None
        path = os.path.join(self.reports_dir, f"{student}.json")
        try:
            with open(path, encoding="utf-8") as fh:
                return LibraryReport.from_json(fh.read())
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def preprocess(self, nb, resources):
        report = self._report(resources)
        styled = False
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
            grade_id = str(meta.get("grade_id", ""))
            if cell.cell_type == "markdown":
                if meta.get("solution"):
                    cell.source = html.escape(source, quote=False)
                continue
            if cell.cell_type != "code":
                continue
            if grade_id.startswith(GRADE_ID_PREFIX):
                name = grade_id.removeprefix(GRADE_ID_PREFIX)
                fn = report.functions.get(name) if report is not None else None
                if fn is None:
                    cell.outputs = [_text_output("library check: no result from the secure "
                                                 "checker for this function\n")]
                else:
                    markup = verdict_html(fn, report.sandbox)
                    if not styled:
                        markup = f"<style>{STYLE}</style>" + markup
                        styled = True
                    cell.outputs = [_html_output(markup)]
                continue
            if HIDDEN_BEGIN in source:
                score, points = meta.get("score"), meta.get("points")
                if score is None or points is None:
                    verdict = "tests of this cell: result not available"
                else:
                    verdict = (f"tests of this cell: {'passed' if score >= points else 'failed'}"
                               f" ({score:g} / {points:g}); the hidden tests and their output "
                               "are not shown")
                cell.outputs = [_text_output(verdict + "\n")]
                continue
            cell.outputs = safe_outputs(list(cell.get("outputs", [])))
        return nb, resources
