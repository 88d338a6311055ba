"""The kernel started ahead of a notebook serves only the next notebook it was started for.

No real kernel here: a fake kernel manager records what :class:`PrewarmedExecute` asks of it
(the grading tests run the real sandboxed kernels end to end).
"""

from __future__ import annotations

import nbclient
import pytest
from jupyter_client.manager import AsyncKernelManager

from grader.sandbox import prewarm


class FakeKM(AsyncKernelManager):
    started: list[FakeKM] = []

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.alive = False
        self.shut = False
        self.start_args: dict = {}

    async def start_kernel(self, **kwargs) -> None:
        self.alive = True
        self.start_args = kwargs
        FakeKM.started.append(self)

    async def is_alive(self) -> bool:
        return self.alive

    async def shutdown_kernel(self, now: bool = False) -> None:
        self.alive, self.shut = False, True

    async def cleanup_resources(self, restart: bool = False) -> None:
        pass


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    FakeKM.started = []
    prewarm.discard_spare()
    # The real client would connect to a kernel: the fake has none.
    monkeypatch.setattr(nbclient.NotebookClient, "start_new_kernel_client", lambda self: "kc")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    yield
    prewarm.discard_spare()


def _execute(notebook: str, path: str) -> prewarm.PrewarmedExecute:
    ex = prewarm.PrewarmedExecute(notebooks=["00_a", "01_b", "02_c"])
    ex.kernel_name = "cs231n-sandbox"
    ex.kernel_manager_class = FakeKM
    ex.resources = {"unique_key": notebook, "metadata": {"path": path}}
    return ex


def test_the_next_notebook_takes_the_kernel_started_for_it(tmp_path):
    first = _execute("00_a", str(tmp_path))
    assert first.start_new_kernel_client() == "kc"
    assert len(FakeKM.started) == 1
    spare = FakeKM.started[0]
    assert spare.start_args["cwd"] == str(tmp_path)
    second = _execute("01_b", str(tmp_path))
    assert second.create_kernel_manager() is spare and not spare.shut
    # ... and starts the one after it; the last notebook starts none.
    second.start_new_kernel_client()
    assert len(FakeKM.started) == 2
    last = _execute("02_c", str(tmp_path))
    assert last.create_kernel_manager() is FakeKM.started[1]
    last.start_new_kernel_client()
    assert len(FakeKM.started) == 2


@pytest.mark.parametrize("change", ["folder", "environment", "dead"])
def test_a_spare_started_for_something_else_is_shut_down_not_used(tmp_path, monkeypatch,
                                                                  change):
    _execute("00_a", str(tmp_path)).start_new_kernel_client()
    spare = FakeKM.started[0]
    path = str(tmp_path)
    if change == "folder":
        path = str(tmp_path / "other")
    elif change == "environment":
        monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    else:
        spare.alive = False
    km = _execute("01_b", path).create_kernel_manager()
    assert km is not spare and spare.shut
    assert prewarm._SPARE[0] is None


def test_config_lines_replace_nbgraders_execute():
    from nbgrader.preprocessors import Execute
    from traitlets.config import Config

    c = Config()
    c.Autograde.autograde_preprocessors = ["x.Before", Execute, "x.After"]
    exec(prewarm.config_lines(["b", "a"]), {"c": c})  # noqa: S102 - our own config text
    assert c.Autograde.autograde_preprocessors == ["x.Before", prewarm.PrewarmedExecute,
                                                   "x.After"]
    assert c.PrewarmedExecute.notebooks == ["a", "b"]


def test_no_spare_after_a_kernel_forked_by_the_fork_server(tmp_path):
    """The fork server runs one kernel at a time and forks the next in milliseconds: a spare
    would only stop the kernel of the notebook that is running."""

    class Forked:
        forked = object()  # what ForkedKernelProvisioner holds while its kernel runs

    first = _execute("00_a", str(tmp_path))
    first.km = FakeKM()
    first.km.provisioner = Forked()
    first.start_new_kernel_client()
    assert FakeKM.started == [] and prewarm._SPARE[0] is None
