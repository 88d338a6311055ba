"""A sandboxed worker process as the runner sees it, and what one call returns.

:class:`RunResult` is the outcome of one recipe call. A worker is either a process of its own
(:class:`WorkerProcess`: the ``Popen`` of bubblewrap or, without it, of the rlimits-only
worker) or a fork of the submission's zygote (:class:`ForkedWorker`, driven through
:class:`ZygoteProcess`, the bubblewrap process of :mod:`grader.harness.zygote` and its control
socket). Both offer the same pipes, stderr tail, ``poll``/``kill``/``exit_code``. The
exceptions say that the sandbox is missing or broke. Trusted side; used by
:mod:`grader.sandbox.runner`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
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


class _StderrTail:
    """A thread draining one pipe, keeping its last 4 KiB (student-controlled text).

    The thread owns ``fd`` and closes it at end of file: closed by anyone else while the
    thread still reads, the number could be reused by another worker's pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._tail = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while True:
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    break
                with self._lock:
                    self._tail += chunk
                    del self._tail[:-4096]
        except (OSError, ValueError):
            pass
        finally:
            _close(self.fd)

    def text(self) -> str:
        with self._lock:
            return bytes(self._tail).decode("utf-8", "replace")[-2000:]

    def join(self) -> None:
        self._thread.join(timeout=1)


def _close(*fds: int) -> None:
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


class _WorkerPipes:
    """What every worker has: the runner's ends of its request and result pipes, the nonces
    its frames may carry, and the tail of its stderr."""

    def __init__(self, req: int, res: int, nonce: str, stderr_fd: int) -> None:
        self.req = req
        self.res = res
        self.nonce = nonce
        self.used_nonces: set[str] = {nonce}
        self.seccomp = ""
        self._stderr = _StderrTail(stderr_fd)

    def stderr_tail(self) -> str:
        return self._stderr.text()


class WorkerProcess(_WorkerPipes):
    """One running worker process and its pipes."""

    def __init__(self, proc: subprocess.Popen, req: int, res: int, nonce: str) -> None:
        self.proc = proc
        super().__init__(req, res, nonce, _take_stderr(proc))

    def poll(self) -> int | None:
        return self.proc.poll()

    def kill(self) -> int | None:
        code = _kill_process(self.proc)
        _close(self.req, self.res)
        self.req = self.res = -1
        self._stderr.join()
        return code

    def exit_code(self, wait_s: float = 2.0) -> int | None:
        try:
            return self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return None


def _take_stderr(proc: subprocess.Popen) -> int:
    """The fd of ``proc``'s stderr pipe, for a :class:`_StderrTail` to own."""
    assert proc.stderr is not None
    fd = os.dup(proc.stderr.fileno())
    proc.stderr.close()
    return fd


def _kill_process(proc: subprocess.Popen) -> int | None:
    """SIGKILL the process group of ``proc`` (it started a session) and reap it."""
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
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


class ZygoteLost(Exception):
    """The zygote did not answer (died, hung, or said something malformed)."""


class ZygoteProcess:
    """The submission's zygote: bubblewrap running :mod:`grader.harness.zygote`, and the
    trusted end of its control socket. Only the runner talks to it; no worker can (each
    closes its copy of the socket before anything else, and its seccomp filter stops it
    signalling, limiting or tracing another process)."""

    def __init__(self, proc: subprocess.Popen, ctl: socket.socket) -> None:
        self.proc = proc
        self.ctl = ctl
        self.lost = False
        self._stderr = _StderrTail(_take_stderr(proc))

    def request(self, message: dict, timeout_s: float, fds: list[int] | None = None) -> dict:
        """Send one message (and ``fds``), return the zygote's answer.

        Raises:
            ZygoteLost: no well-formed answer within ``timeout_s`` (the zygote is then
                marked lost; the runner replaces it).
        """
        if not self.lost and self.proc.poll() is not None:
            self.lost = True  # bubblewrap exited: the sandbox is going, whatever still answers
        if self.lost:
            raise ZygoteLost("the zygote was lost earlier")
        try:
            self.ctl.settimeout(timeout_s)
            data = json.dumps(message).encode()
            if fds:
                socket.send_fds(self.ctl, [data], fds)
            else:
                self.ctl.send(data)
            answer = self.ctl.recv(1 << 16)
            if not answer:
                raise ZygoteLost("the zygote closed its control socket")
            reply = json.loads(answer)
            if not isinstance(reply, dict):
                raise ValueError("not an object")
            return reply
        except (OSError, ValueError) as exc:
            self.lost = True
            raise ZygoteLost(f"the zygote did not answer ({exc})") from None

    def greeting(self, timeout_s: float) -> dict:
        """The zygote's first message (sent unasked once it is ready)."""
        try:
            self.ctl.settimeout(timeout_s)
            answer = self.ctl.recv(1 << 16)
            reply = json.loads(answer) if answer else None
        except (OSError, ValueError) as exc:
            raise ZygoteLost(f"no greeting from the zygote ({exc})") from None
        if not isinstance(reply, dict):
            raise ZygoteLost("the zygote closed its control socket before greeting")
        return reply

    def stderr_tail(self) -> str:
        return self._stderr.text()

    def kill(self) -> int | None:
        self.lost = True
        self.ctl.close()
        code = _kill_process(self.proc)
        self._stderr.join()
        return code


class ForkedWorker(_WorkerPipes):
    """One worker forked by a :class:`ZygoteProcess`: the runner's ends of its three pipes,
    and its exit code as the zygote reports it."""

    _REQUEST_S = 10.0  # the zygote answers at once; this is for a hung or dead one

    def __init__(self, zygote: ZygoteProcess, pid: int, req: int, res: int, err: int,
                 nonce: str) -> None:
        self.zygote = zygote
        self.pid = pid
        self._code: int | None = None
        self._reaped = False
        super().__init__(req, res, nonce, err)

    def _ask(self, message: dict, timeout_s: float) -> int | None:
        if self._reaped:
            return self._code
        try:
            status = self.zygote.request(message, timeout_s).get("status")
        except ZygoteLost:
            return None
        if isinstance(status, int):
            self._code, self._reaped = status, True
        return self._code

    def poll(self) -> int | None:
        code = self._ask({"op": "wait", "timeout": 0}, self._REQUEST_S)
        if code is None and self.zygote.lost:
            return -signal.SIGKILL  # died with its zygote
        return code

    def exit_code(self, wait_s: float = 2.0) -> int | None:
        return self._ask({"op": "wait", "timeout": wait_s}, wait_s + self._REQUEST_S)

    def kill(self) -> int | None:
        code = self._ask({"op": "kill"}, 30 + self._REQUEST_S)
        _close(self.req, self.res)
        self.req = self.res = -1
        self._stderr.join()
        return code
