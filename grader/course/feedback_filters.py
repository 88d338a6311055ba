"""The nbconvert preprocessor that makes nbgrader's feedback safe to hand to a student.

Runs in ``GenerateFeedback`` (the course config lists it after ``GetGrades``, before
``ClearHiddenTests``), on the autograded notebook — whose outputs came from the student's
kernel and whose test cells hold the restored hidden tests:

* a cell that holds hidden tests loses every output (a failing traceback quotes the lines
  around the failure, hidden ones included: nbgrader #1363) and shows only its verdict;
* a ``check_<function>`` cell shows the secure checker's verdict instead of what the kernel
  printed (which the student controls and the secure score overrules), and an exercise cell
  (``test_*``) the trusted verdict on its probed values;
* an output that quotes a hidden probe or a hidden case (a kernel can see the probe it runs
  and print it later) is withheld;
* every other output keeps only plain text and PNG/JPEG images, size-capped (no HTML,
  JavaScript, SVG or widgets from the kernel reaches the page);
* markdown the student wrote (solution cells) is escaped, so raw HTML in an answer is shown,
  not rendered.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import os
import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

from grader.checks.exercises import EXERCISES
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


def hidden_texts() -> list[str]:
    """Hidden probe expressions and hidden case labels (instructor side)."""
    from grader.course.exercise_probes import hidden_texts as probes

    texts = probes()
    try:
        from grader.course.hidden_cases import HIDDEN
    except ImportError:
        return texts
    return texts + [label for cases in HIDDEN.values() for label, _ in cases if len(label) > 5]


def withhold_secrets(outputs: list, secrets: list[str]) -> list:
    """Outputs, each replaced by a notice if its text quotes one of ``secrets``."""
    kept = []
    for out in outputs:
        text = json.dumps(out, ensure_ascii=False)
        if any(s in text or json.dumps(s)[1:-1] in text for s in secrets):
            kept.append(_text_output("[output withheld: it quotes a hidden test]\n"))
        else:
            kept.append(out)
    return kept


def exercise_verdict(result: object) -> str:
    """The text an exercise cell shows: the trusted verdict on its probed values."""
    if not isinstance(result, dict):
        return "exercise: no verdict from the grader (the notebook did not run to this cell)\n"
    lines = [str(x)[:300] for x in result.get("lines", [])[:20] if isinstance(x, str)]
    if result.get("passed") is True:
        return "exercise: passed (visible and hidden checks)\n"
    return "exercise: failed\n" + "".join(f"  - {line}\n" for line in lines)


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

    def _exercises(self, resources: dict) -> dict:
        student = str(resources.get("nbgrader", {}).get("student", ""))
        if not self.reports_dir or not _STUDENT.match(student):
            return {}
        path = os.path.join(self.reports_dir, f"{student}.exercises.json")
        try:
            with open(path, encoding="utf-8") as fh:
                found = json.load(fh)
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def preprocess(self, nb, resources):
        report = self._report(resources)
        exercises = self._exercises(resources)
        secrets = hidden_texts()
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
            if grade_id in EXERCISES:
                cell.outputs = [_text_output(exercise_verdict(exercises.get(grade_id)))]
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
            cell.outputs = withhold_secrets(safe_outputs(list(cell.get("outputs", []))), secrets)
        return nb, resources
