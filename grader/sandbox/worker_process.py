"""A sandboxed worker process as the runner sees it, and what one call returns.

:class:`RunResult` is the outcome of one recipe call; :class:`WorkerProcess` wraps the worker's
``Popen`` (its pipes, a thread draining its stderr, kill and exit-code handling); the
exceptions say that the sandbox is missing or broke. Trusted side; used by
:mod:`grader.sandbox.runner`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or does not work, and the sandbox was required."""


class WorkerStartFailed(SandboxUnavailable):
    """The worker would not start, twice in a row. Never the submission's doing: the worker
    greets before any of its code is imported (only ``cs231n_lib`` is on its path), so this is
    the sandbox or the machine failing, and no student may be scored on it."""


class SandboxUnavailableWarning(UserWarning):
    """Grading runs with rlimits only: student code can read files and use the network."""


@dataclass
class RunResult:
    """What one recipe call produced.

    ``kind`` is one of :data:`RESULT_KINDS`; ``outputs`` is set only when ``ok``.
    ``finite`` maps each output to ``np.isfinite(...).all()``. ``detail`` holds a short
    traceback or the tail of the worker's stderr (student-controlled text).
    """

    ok: bool
    outputs: dict[str, np.ndarray] | None
    error: str | None
    kind: str
    finite: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0
    detail: str = ""

    @classmethod
    def failure(cls, kind: str, error: str, seconds: float = 0.0, detail: str = "") -> RunResult:
        return cls(False, None, error, kind, {}, seconds, detail)


def expected_output_names(recipe: dict[str, Any]) -> list[str]:
    """The names a recipe's outputs may take (a dict output ``g`` becomes ``g.<key>``)."""
    names = [n for n in recipe.get("outputs", []) if n is not None]
    if recipe.get("kind") == "forward_backward":
        names += list(recipe.get("forward_outputs", []))
    names += list(recipe.get("arg_outputs", {}))  # state left in mutable arguments
    return [str(n) for n in names]


def describe_exit(code: int | None) -> tuple[str, str]:
    """(kind, text) for a worker that exited with ``code`` (bwrap reports 128+signal)."""
    if code is None:
        return "crash", "the worker stopped answering"
    sig = -code if code < 0 else code - 128 if code > 128 else 0
    if sig == signal.SIGXCPU:
        return "timeout", "the CPU-time limit was exceeded (SIGXCPU)"
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return "crash", f"the worker was killed by {name}"
    return "crash", f"the worker exited with status {code} (os._exit or a fatal error)"


class WorkerProcess:
    """One running worker process and its pipes."""

    def __init__(self, proc: subprocess.Popen, req: int, res: int, nonce: str) -> None:
        self.proc = proc
        self.req = req
        self.res = res
        self.nonce = nonce
        self.used_nonces: set[str] = {nonce}
        self.seccomp = ""
        self._tail = bytearray()
        self._lock = threading.Lock()
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()

    def _drain_stderr(self) -> None:
        stream = self.proc.stderr
        if stream is None:
            return
        try:
            while True:
                chunk = stream.read1(1 << 16) if hasattr(stream, "read1") else stream.read(1 << 16)
                if not chunk:
                    break
                with self._lock:
                    self._tail += chunk
                    del self._tail[:-4096]
        except (OSError, ValueError):
            pass

    def stderr_tail(self) -> str:
        with self._lock:
            return bytes(self._tail).decode("utf-8", "replace")[-2000:]

    def kill(self) -> int | None:
        proc = self.proc
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        for fd in (self.req, self.res):
            try:
                os.close(fd)
            except OSError:
                pass
        self.req = self.res = -1
        self._drain.join(timeout=1)
        if proc.stderr is not None:
            proc.stderr.close()
        return code

    def exit_code(self, wait_s: float = 2.0) -> int | None:
        try:
            return self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return None
