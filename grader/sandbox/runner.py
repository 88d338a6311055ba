"""The trusted side of secure grading: run recipes against a submission in a sandboxed worker.

This process never imports student code. :class:`SecureRunner` starts one worker per
submission (bubblewrap + rlimits + seccomp, see :mod:`grader.sandbox.profile` and
:mod:`grader.harness.worker`), sends it recipes (:mod:`grader.harness.recipes`) and receives
plain arrays (:mod:`grader.harness.transport`). Every result is validated here: the frame's
nonce, the output
names, dtype (real numbers only), number of dimensions and size. Comparison with the
reference is the caller's job and happens in the caller's process.

A crash (``os._exit``, a segfault, a forged or malformed frame) or a timeout costs that
call only: the worker is killed and a fresh one starts at the next call.

    with SecureRunner("submissions/alice") as runner:
        result = runner.run({"kind": "call", "module": "cs231n_lib.layers",
                             "function": "relu", "args": [x], "outputs": ["out"]})
        if result.ok: ...compare result.outputs["out"] with the reference...
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from grader.harness import transport
from grader.sandbox import profile as sbx
from grader.sandbox.worker_process import (
    RunResult,
    SandboxUnavailable,
    SandboxUnavailableWarning,
    WorkerStartFailed,
    describe_exit,
    expected_output_names,
)
from grader.sandbox.worker_process import WorkerProcess as _Worker

log = logging.getLogger("grader.sandbox.runner")

RESULT_KINDS = ("ok", "exception", "timeout", "crash", "bad_output", "memory")
_WORKER_STATUSES = ("ok", "exception", "bad_output", "memory")
_STALE_FRAMES = 4
_RESULT_HEADER_BYTES = 64 << 10


class SecureRunner:
    """Run recipes against one submission in a sandboxed worker (a context manager).

    ``submission_dir`` contains ``cs231n_lib/``. ``require_sandbox=True`` refuses to run
    without a working bubblewrap (:class:`SandboxUnavailable`); otherwise a missing sandbox
    is warned about loudly and the worker runs with rlimits (and seccomp) only.
    ``sandbox=False`` forces the rlimits-only mode (tests, debugging); ``sandbox=True`` is
    the same as ``require_sandbox=True``. ``bwrap`` overrides the bubblewrap binary.
    ``timeout_s`` is the wall-clock limit per call, ``cpu_s`` the CPU seconds per call,
    ``memory_mb`` the address-space limit of the worker.
    """

    def __init__(
        self,
        submission_dir: str | os.PathLike[str],
        *,
        require_sandbox: bool = False,
        timeout_s: float = 10.0,
        memory_mb: int = 1024,
        cpu_s: float = 10.0,
        sandbox: bool | None = None,
        bwrap: str | None = None,
        start_timeout_s: float = 60.0,
        max_output_bytes: int = 64 << 20,
        max_output_elements: int = 4_000_000,
    ) -> None:
        self.submission_dir = Path(submission_dir).resolve()
        self.timeout_s = float(timeout_s)
        self.start_timeout_s = float(start_timeout_s)
        self.max_output_bytes = int(max_output_bytes)
        self.max_output_elements = int(max_output_elements)
        self.limits = sbx.Limits(memory_mb=int(memory_mb), cpu_s=float(cpu_s))
        self.bwrap = bwrap if bwrap is not None else sbx.find_bwrap()
        works, why = sbx.probe_bwrap(self.bwrap) if sandbox is not False else (
            False, "sandbox disabled by the caller")
        if not works and (require_sandbox or sandbox is True):
            raise SandboxUnavailable(
                f"refusing to grade without the sandbox: {why}. "
                "Install bubblewrap (apt-get install bubblewrap) or drop require_sandbox."
            )
        self.sandboxed = works
        self.status = why if works else f"{sbx.UNAVAILABLE_LINE} ({why})"
        if not works:
            log.warning("%s (%s)", sbx.UNAVAILABLE_LINE, why)
            warnings.warn(f"{sbx.UNAVAILABLE_LINE}: student code can read this machine's files "
                          f"(writes, processes and sockets are refused by seccomp) ({why})",
                          SandboxUnavailableWarning, stacklevel=2)
        self.package_dir = self.submission_dir / "cs231n_lib"
        self._tmp = tempfile.mkdtemp(prefix="cs231n-secure-")
        os.chmod(self._tmp, 0o755)  # the sandboxed worker reads its harness as uid 65534
        self._harness = os.path.join(self._tmp, "harness")
        sbx.copy_harness(Path(self._harness))
        self._worker: _Worker | None = None
        self.start_seconds: list[float] = []
        self.restarts = 0
        self.seccomp = ""
        self._holder: list[_Worker | None] = [None]
        self._finalizer = weakref.finalize(self, SecureRunner._cleanup, self._tmp, self._holder)

    # ------------------------------------------------------------------ lifecycle

    @staticmethod
    def _cleanup(tmp: str, holder: list) -> None:
        worker = holder[0]
        if worker is not None:
            worker.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    def __enter__(self) -> SecureRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def reset(self) -> None:
        """Throw the worker away; the next call starts a fresh one (clean module state)."""
        self._stop()

    def _stop(self) -> int | None:
        worker, self._worker = self._worker, None
        self._finalizer_holder(None)
        return worker.kill() if worker is not None else None

    def _finalizer_holder(self, worker: _Worker | None) -> None:
        self._holder[0] = worker

    def _command(self, req: int, res: int, nonce: str) -> tuple[list[str], dict[str, str] | None,
                                                                 str | None]:
        config = {"req": req, "res": res, "nonce": nonce, "cpu_s": self.limits.cpu_s,
                  "seccomp": True, "site": sbx.site_dirs(),
                  # As root the worker becomes uid 65534, where RLIMIT_NPROC binds.
                  "nproc": sbx.nproc_limit(self.limits) if sbx.runs_as_root() else 0}
        python = sbx.python_executable()
        if self.sandboxed:
            assert self.bwrap is not None
            config["drop_root"] = True
            argv = [python, "-S", "-B", "-P", f"{sbx.SANDBOX_HARNESS}/grader/harness/worker.py",
                    json.dumps(config)]
            env = sbx.worker_env([sbx.SANDBOX_HARNESS, sbx.SANDBOX_SUBMISSION])
            cmd = sbx.bwrap_command(self.bwrap, harness_dir=self._harness,
                                    package_dir=str(self.package_dir), argv=argv, env=env,
                                    limits=self.limits)
            return cmd, {}, None
        # rlimits only: a private working directory, and a private path entry that holds
        # nothing but the submission's package (not whatever else sits beside it).
        work = tempfile.mkdtemp(dir=self._tmp, prefix="work-")
        subpath = os.path.join(work, "path")
        os.mkdir(subpath)
        os.symlink(self.package_dir, os.path.join(subpath, "cs231n_lib"))
        config["readonly_fs"] = True
        worker = os.path.join(self._harness, "grader", "harness", "worker.py")
        argv = [python, "-S", "-B", "-P", worker, json.dumps(config)]
        return argv, sbx.worker_env([self._harness, subpath], tmpdir=work), work

    def _start(self) -> _Worker:
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        nonce = secrets.token_hex(16)
        cmd, env, cwd = self._command(req_r, res_w, nonce)
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, pass_fds=(req_r, res_w), env=env, cwd=cwd,
                start_new_session=True, preexec_fn=sbx.make_preexec(self.limits),
            )
        except OSError as exc:
            os.close(req_w)
            os.close(res_r)
            raise _StartFailed(f"the worker could not be started: {exc}") from None
        finally:
            os.close(req_r)
            os.close(res_w)
        os.set_blocking(req_w, False)
        os.set_blocking(res_r, False)
        worker = _Worker(proc, req_w, res_r, nonce)
        self._finalizer_holder(worker)
        deadline = time.monotonic() + self.start_timeout_s
        try:
            header, _ = transport.read_frame(res_r, deadline, max_header=_RESULT_HEADER_BYTES,
                                             max_payload=0)
        except transport.TransportError as exc:
            tail = worker.stderr_tail()
            code = worker.kill()
            self._finalizer_holder(None)
            _, how = describe_exit(code)
            raise _StartFailed(f"the worker did not start ({exc}; {how})", tail) from None
        if header.get("status") != "ready" or header.get("nonce") != nonce:
            worker.kill()
            self._finalizer_holder(None)
            raise _StartFailed("the worker sent a bad greeting", worker.stderr_tail())
        worker.seccomp = str(header.get("seccomp", ""))
        self.seccomp = worker.seccomp
        self.start_seconds.append(time.perf_counter() - start)
        return worker

    def _start_or_raise(self) -> _Worker:
        """A started worker; one retry (a loaded machine), then :class:`WorkerStartFailed`."""
        try:
            return self._start()
        except _StartFailed as first:
            log.warning("the worker did not start (%s); trying once more", first)
        try:
            return self._start()
        except _StartFailed as exc:
            detail = f"; {exc.detail.strip()[-300:]}" if exc.detail.strip() else ""
            raise WorkerStartFailed(f"the sandboxed worker would not start: {exc}{detail}") \
                from None

    def start(self) -> None:
        """Start the worker now (otherwise the first :meth:`run` does)."""
        if self._worker is None:
            self._worker = self._start_or_raise()

    # ------------------------------------------------------------------ calls

    def run(self, recipe: dict[str, Any], *, timeout_s: float | None = None) -> RunResult:
        """Perform ``recipe`` in the worker; never raises for anything the submission does.

        Raises:
            WorkerStartFailed: the worker would not start (not the submission's doing).
        """
        t0 = time.perf_counter()
        if not self.package_dir.is_dir():
            return RunResult.failure("exception", f"the submission has no cs231n_lib/ folder "
                                     f"({self.submission_dir})")
        try:
            skeleton, arrays = transport.pack_tree(recipe)
        except transport.TransportError as exc:
            raise ValueError(f"recipe cannot be sent: {exc}") from None
        nonce = secrets.token_hex(16)
        limit = self.timeout_s if timeout_s is None else float(timeout_s)
        for attempt in (1, 2):
            if self._worker is not None and self._worker.proc.poll() is not None:
                self._stop()  # died between calls (e.g. a thread the submission left running)
            if self._worker is None:
                self._worker = self._start_or_raise()
                if len(self.start_seconds) > 1:
                    self.restarts += 1
            worker = self._worker
            worker.used_nonces.add(nonce)
            deadline = time.monotonic() + limit
            try:
                transport.write_frame(worker.req, {"op": "run", "nonce": nonce,
                                                   "recipe": skeleton}, arrays, deadline)
                break
            except transport.ChannelClosed:
                # The request never reached the code under test (its pipe was closed by
                # an earlier call): not this call's fault, so retry once in a fresh worker.
                self._stop()
                if attempt == 2:
                    return RunResult.failure("crash", "the worker cannot receive requests",
                                             time.perf_counter() - t0)
            except transport.ChannelTimeout:
                self._stop()
                return RunResult.failure("timeout", f"the worker did not accept the request "
                                         f"within {limit:g} s", time.perf_counter() - t0)
        try:
            stale = 0
            while True:
                header, outputs = transport.read_frame(
                    worker.res, deadline, max_header=_RESULT_HEADER_BYTES,
                    max_payload=self.max_output_bytes)
                got = header.get("nonce")
                if got == nonce:
                    break
                if got in worker.used_nonces and stale < _STALE_FRAMES:
                    stale += 1  # a late frame for an earlier call (forged earlier): skip it
                    continue
                raise transport.TransportError("a frame with an unknown nonce (forged?)")
        except transport.ChannelTimeout:
            self._stop()
            return RunResult.failure("timeout", f"no result within {limit:g} s (wall clock); "
                                     "infinite loop or far too slow", time.perf_counter() - t0)
        except transport.ChannelClosed:
            code = worker.exit_code()
            tail = worker.stderr_tail()
            self._stop()
            kind, how = describe_exit(code)
            return RunResult.failure(kind, how, time.perf_counter() - t0, tail)
        except transport.TransportError as exc:
            tail = worker.stderr_tail()
            self._stop()
            return RunResult.failure("crash", f"malformed result: {exc}",
                                     time.perf_counter() - t0, tail)
        return self._validate(recipe, header, outputs, time.perf_counter() - t0)

    def _validate(self, recipe: dict[str, Any], header: dict[str, Any],
                  outputs: dict[str, np.ndarray], seconds: float) -> RunResult:
        status = header.get("status")
        error = header.get("error")
        error = str(error)[:2000] if error is not None else None
        detail = str(header.get("traceback", ""))[:4000]
        if status not in _WORKER_STATUSES:
            return RunResult.failure("bad_output", f"unknown result status {status!r}", seconds)
        if status != "ok":
            return RunResult.failure(status, error or status, seconds, detail)
        names = expected_output_names(recipe)
        problems: list[str] = []
        seen: set[str] = set()
        for key, arr in outputs.items():
            base = next((n for n in names if key == n or key.startswith(n + ".")), None)
            if base is None:
                problems.append(f"unexpected output {key!r}")
                continue
            seen.add(base)
            if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_ or arr.dtype.fields:
                problems.append(f"{key}: expected real numbers, got dtype {arr.dtype}")
            elif arr.ndim > transport.MAX_NDIM or arr.size > self.max_output_elements:
                problems.append(f"{key}: shape {arr.shape} is too large")
        missing = [n for n in names if n not in seen]
        if missing:
            problems.append(f"missing output(s) {', '.join(missing)}")
        if problems:
            return RunResult.failure("bad_output", "; ".join(problems), seconds)
        finite = {key: bool(np.isfinite(arr).all()) for key, arr in outputs.items()}
        return RunResult(True, dict(outputs), None, "ok", finite, seconds)


class _StartFailed(Exception):
    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail
