"""One real-browser test: a learner opens a student-release notebook in JupyterLab.

JupyterLab (this venv, 127.0.0.1, per-run Jupyter dirs) serves a fresh student workspace built
by ``grader.course.workspace.make_student_workspace``; headless Debian Chromium (Playwright, no
browser download) opens a notebook, waits until the *status bar* says the kernel is idle, runs
all cells from the Run menu, then checks what the learner sees: the check cell's FAIL lines
saying "not written yet", a rendered matplotlib figure, and nbgrader's Validate dialog
reporting the failing tests of the stub release.

A screenshot and the server log go to ``test-artifacts/`` on failure.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import time
from pathlib import Path

import pytest
from browser_helpers import (
    CHROMIUM_ARGS,
    code_cell_prompts,
    jupyterlab,
    run_all_cells,
    screenshot,
    status_bar_text,
    wait_all_executed,
    wait_kernel_idle,
)
from conftest import ROOT, require

ARTIFACTS = ROOT / "test-artifacts"

#: A student-release notebook with a check cell and a plot that runs in a few seconds.
#: 06 has no ipywidgets cell: with one (05_pooling's explorer), nbgrader's Validate inside the
#: server stalled 30 s (= Execute.timeout) on that cell in about 1 run out of 5.
NOTEBOOK = "06_fc_to_conv.ipynb"
CHECK_CALL = 'check("fc_to_conv")'

NOTEBOOK_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the open (visible) notebook
PAGE_TIMEOUT_MS = 30_000
KERNEL_IDLE_TIMEOUT_MS = 45_000
RUN_ALL_TIMEOUT_MS = 60_000
VALIDATE_TIMEOUT_MS = 60_000


@pytest.fixture
def playwright_api():
    """``playwright.sync_api``; skips on a laptop without it, fails under CI=true."""
    require(importlib.util.find_spec("playwright") is not None,
            "playwright (pip install playwright; the browser is Debian's chromium)")
    import playwright.sync_api

    return playwright.sync_api


@pytest.fixture
def student_workspace(tmp_path) -> Path:
    """The student release, built by the project's own code."""
    from grader.course.workspace import make_student_workspace

    ws = make_student_workspace(tmp_path / "ws")
    assert (ws / NOTEBOOK).is_file(), f"the student workspace has no {NOTEBOOK}"
    return ws


def _cell(page, source_snippet: str):
    """The code cell whose editor text contains ``source_snippet``."""
    return page.locator(f"{NOTEBOOK_PANEL} .jp-CodeCell").filter(
        has=page.locator(".jp-InputArea-editor", has_text=source_snippet))


@pytest.mark.browser
@pytest.mark.slow
def test_student_opens_runs_and_validates_a_notebook(
        chromium, playwright_api, student_workspace, tmp_path, request):
    timings: dict[str, float] = {}
    t0 = time.monotonic()

    def mark(what: str) -> None:
        timings[what] = round(time.monotonic() - t0, 1)

    with jupyterlab(student_workspace, tmp_path / "jupyter") as server:
        mark("server up")
        expect = playwright_api.expect
        with playwright_api.sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),  # fresh profile each run
                executable_path=chromium,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000},
            )
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            try:
                page.goto(server.url(f"lab/tree/{NOTEBOOK}"))
                wait_kernel_idle(page, KERNEL_IDLE_TIMEOUT_MS)
                mark("kernel idle")

                run_all_cells(page)
                wait_all_executed(page, RUN_ALL_TIMEOUT_MS)
                mark("run all done")
                prompts = code_cell_prompts(page)
                counts = [int(p[1:-2]) for p in prompts]
                assert counts == sorted(counts) and len(set(counts)) == len(counts), (
                    f"Run All did not execute the cells once each, in order: {prompts}")

                # The check cell: FAIL lines with the check API's stub diagnosis.
                check_cell = _cell(page, CHECK_CALL)
                assert check_cell.count() == 1, f"no single cell calling {CHECK_CALL}"
                check_cell.scroll_into_view_if_needed()
                check_out = check_cell.locator(".jp-OutputArea-output").first
                check_out.wait_for(state="visible")
                # Offscreen cells are skipped by CSS content-visibility until scrolled to: let
                # Playwright retry on the *rendered* text (what the learner sees).
                for expected in ("FAIL", "not written yet", "NotImplementedError"):
                    expect(check_out).to_contain_text(expected, use_inner_text=True)
                assert not check_cell.locator(
                    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                ).count(), "the check cell wrote to stderr (nbgrader would score it 0)"

                # A matplotlib figure really rendered (decoded PNG with a size).
                img = page.locator(f"{NOTEBOOK_PANEL} .jp-RenderedImage img").first
                img.scroll_into_view_if_needed()
                img.wait_for(state="visible")
                width = img.evaluate("el => el.complete ? el.naturalWidth : 0")
                assert width > 100, f"figure not rendered (naturalWidth={width})"
                mark("outputs checked")

                # nbgrader's Validate: version check, save, validate, then a dialog.
                page.locator(".validate-button").click()
                dialog = page.locator(".jp-Dialog")
                dialog.wait_for(state="visible", timeout=VALIDATE_TIMEOUT_MS)
                mark("validate dialog")
                title = dialog.locator(".jp-Dialog-header").inner_text()
                body = dialog.locator(".jp-Dialog-body").inner_text()
                assert title.strip() == "Validation Results", f"{title!r}: {body[:800]}"
                # nbgrader 0.9.6 (labextension validate dialog): failing grade cells give
                # class "validation-failed" and "The following cell failed:" per cell.
                classes = dialog.locator(".jp-Dialog-body").get_attribute("class") or ""
                assert "validation-failed" in classes, f"{classes}: {body[:800]}"
                assert "The following cell failed:" in body, body[:800]
                assert 'grade("fc_to_conv")' in body, body[:1500]
                assert "not written yet" in body, body[:1500]
                dialog.locator(".jp-Dialog-footer button").first.click()
                dialog.wait_for(state="hidden")
            except BaseException:
                name = re.sub(r"\W+", "_", request.node.name)
                shot = screenshot(page, ARTIFACTS, name)
                ARTIFACTS.mkdir(exist_ok=True)
                if server.log_path.exists():
                    shutil.copy(server.log_path, ARTIFACTS / f"{name}-jupyterlab.log")
                try:
                    prompts = code_cell_prompts(page)
                except Exception:  # noqa: BLE001 - diagnostics only
                    prompts = "(page unavailable)"
                print(f"timings {timings}; status bar: {status_bar_text(page)!r}; "
                      f"prompts: {prompts}; screenshot: {shot}")
                raise
            finally:
                context.close()
    mark("stopped")
    print(f"browser test timings (s since server start): {timings}")
