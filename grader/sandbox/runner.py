"""The trusted side of secure grading: run recipes against a submission in a sandboxed worker.

This process never imports student code. Under bubblewrap, :class:`SecureRunner` starts one
sandbox per submission, the zygote (:mod:`grader.harness.zygote`; bubblewrap + rlimits, see
:mod:`grader.sandbox.profile`), which holds every library the runner may grade (``libraries``;
one per graded function in :mod:`grader.sandbox.library`) and has NumPy imported. Each worker
(:mod:`grader.harness.worker`) is a fork of it in a user, mount and IPC namespace of its own,
seeing only its own library at ``/submission/cs231n_lib``, with a fresh ``/tmp`` and
``/dev/shm``, and a seccomp filter that also confines signals to itself. Workers run one at a
time: the next is forked only once the zygote has reaped the previous one. Without
bubblewrap, or where a fork cannot isolate itself (the zygote says so when it starts), every
worker is a process of its own, as before.

The runner sends a worker recipes (:mod:`grader.harness.recipes`) and receives plain arrays
(:mod:`grader.harness.transport`). Every result is validated here: the frame's nonce, the
output names, dtype (real numbers only), number of dimensions and size. Comparison with the
reference is the caller's job and happens in the caller's process.

A crash (``os._exit``, a segfault, a forged or malformed frame) or a timeout costs that
call only: the worker is killed and a fresh one (a fork: milliseconds) starts at the next
call. A zygote that dies or stops answering is the sandbox failing, never the submission (no
worker can signal, limit or trace it): it is replaced once, then :class:`WorkerStartFailed`.

    with SecureRunner("submissions/alice") as runner:
        result = runner.run({"kind": "call", "module": "cs231n_lib.layers",
                             "function": "relu", "args": [x], "outputs": ["out"]})
        if result.ok: ...compare result.outputs["out"] with the reference...
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from grader.harness import transport
from grader.sandbox import profile as sbx
from grader.sandbox.worker_process import (
    ForkedWorker,
    RunResult,
    SandboxUnavailable,
    SandboxUnavailableWarning,
    WorkerProcess,
    WorkerStartFailed,
    ZygoteLost,
    ZygoteProcess,
    describe_exit,
    expected_output_names,
)

_Worker = WorkerProcess | ForkedWorker

log = logging.getLogger("grader.sandbox.runner")

RESULT_KINDS = ("ok", "exception", "timeout", "crash", "bad_output", "memory")
_WORKER_STATUSES = ("ok", "exception", "bad_output", "memory")
_STALE_FRAMES = 4
_RESULT_HEADER_BYTES = 64 << 10
#: The composition a runner over one plain submission uses.
DEFAULT_LIBRARY = "submission"
_LIBRARY_NAME = re.compile(r"^[A-Za-z0-9_]{1,80}$")
_ZYGOTE_REQUEST_S = 10.0


class SecureRunner:
    """Run recipes against one submission in a sandboxed worker (a context manager).

    ``submission_dir`` contains ``cs231n_lib/``. ``require_sandbox=True`` refuses to run
    without a working bubblewrap (:class:`SandboxUnavailable`); otherwise a missing sandbox
    is warned about loudly and the worker runs with rlimits (and seccomp) only.
    ``sandbox=False`` forces the rlimits-only mode (tests, debugging); ``sandbox=True`` is
    the same as ``require_sandbox=True``. ``bwrap`` overrides the bubblewrap binary.
    ``timeout_s`` is the wall-clock limit per call, ``cpu_s`` the CPU seconds per call,
    ``memory_mb`` the address-space limit of the worker.

    ``libraries`` (name -> a ``cs231n_lib`` directory; default: ``{"submission":
    submission_dir/cs231n_lib}``) are the libraries this runner may grade, one at a time:
    :meth:`select` picks one, and every worker runs over the selected library only. Under
    bubblewrap one sandbox (the zygote, :mod:`grader.harness.zygote`) holds all of them and
    forks a fresh, isolated worker for each selection and each restart; without bubblewrap
    every worker is a process of its own.
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
        libraries: Mapping[str, str | os.PathLike[str]] | None = None,
    ) -> None:
        self.submission_dir = Path(submission_dir).resolve()
        if libraries is None:
            libraries = {DEFAULT_LIBRARY: self.submission_dir / "cs231n_lib"}
        bad = [name for name in libraries if not _LIBRARY_NAME.match(name)]
        if bad or not libraries:
            raise ValueError(f"library names must match {_LIBRARY_NAME.pattern} (got {bad}) "
                             "and there must be at least one")
        self.libraries = {name: Path(path).resolve() for name, path in libraries.items()}
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
        self.selected = next(iter(self.libraries))
        self.package_dir = self.libraries[self.selected]
        self._tmp = tempfile.mkdtemp(prefix="cs231n-secure-")
        os.chmod(self._tmp, 0o755)  # the sandboxed worker reads its harness as uid 65534
        self._harness = os.path.join(self._tmp, "harness")
        sbx.copy_harness(Path(self._harness))
        self._worker: _Worker | None = None
        self._zygote: ZygoteProcess | None = None
        #: Why workers are not forked by a zygote ('' while they are, or may be).
        self.fork_unavailable = "" if works else "no sandbox"
        self.start_seconds: list[float] = []  # one per worker (a fork or a process)
        self.sandbox_seconds: list[float] = []  # one per zygote started
        self.restarts = 0
        self.seccomp = ""
        self._holder: list[Any] = [None, None]  # the worker and the zygote, for the finalizer
        self._finalizer = weakref.finalize(self, SecureRunner._cleanup, self._tmp, self._holder)

    # ------------------------------------------------------------------ lifecycle

    @staticmethod
    def _cleanup(tmp: str, holder: list) -> None:
        for proc in holder:
            if proc is not None:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    def __enter__(self) -> SecureRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop()
        self._stop_zygote()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def reset(self) -> None:
        """Throw the worker away; the next call starts a fresh one (clean module state)."""
        self._stop()

    def select(self, name: str) -> None:
        """Grade library ``name`` from now on, in a fresh worker (nothing of the previous
        library's worker survives: it is killed and reaped before the next one starts)."""
        if name not in self.libraries:
            raise KeyError(f"no library {name!r} in this runner ({', '.join(self.libraries)})")
        self._stop()  # also for the same library: a function never inherits another's worker
        self.selected = name
        self.package_dir = self.libraries[name]

    def _stop(self) -> int | None:
        worker, self._worker = self._worker, None
        self._holder[0] = None
        return worker.kill() if worker is not None else None

    def _stop_zygote(self) -> None:
        zygote, self._zygote = self._zygote, None
        self._holder[1] = None
        if zygote is not None:
            zygote.kill()

    def _worker_config(self) -> dict[str, Any]:
        return {"cpu_s": self.limits.cpu_s, "seccomp": True, "site": sbx.site_dirs(),
                "tmpfs_mb": self.limits.tmpfs_mb,
                # As root the worker becomes uid 65534, where RLIMIT_NPROC binds.
                "nproc": sbx.nproc_limit(self.limits) if sbx.runs_as_root() else 0}

    def _bwrap(self, argv: list[str], *, package_dir: str | None = None,
               libraries: Mapping[str, str] | None = None) -> list[str]:
        assert self.bwrap is not None
        env = sbx.worker_env([sbx.SANDBOX_HARNESS, sbx.SANDBOX_SUBMISSION])
        return sbx.bwrap_command(self.bwrap, harness_dir=self._harness, package_dir=package_dir,
                                 argv=argv, env=env, limits=self.limits, libraries=libraries)

    def _command(self, req: int, res: int, nonce: str) -> tuple[list[str], dict[str, str] | None,
                                                                 str | None]:
        """A worker as a process of its own: in bubblewrap, or with rlimits only."""
        config = {**self._worker_config(), "req": req, "res": res, "nonce": nonce}
        python = sbx.python_executable()
        if self.sandboxed:
            config["drop_root"] = True
            argv = [python, "-S", "-B", "-P", f"{sbx.SANDBOX_HARNESS}/grader/harness/worker.py",
                    json.dumps(config)]
            return self._bwrap(argv, package_dir=str(self.package_dir)), {}, None
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

    def _start_sandbox(self) -> ZygoteProcess | None:
        """The zygote (started now if there is none); None if workers cannot be forked here
        (then each worker is a bubblewrap process of its own, as before the zygote)."""
        if self.fork_unavailable:
            return None
        if self._zygote is not None and not self._zygote.lost:
            return self._zygote
        self._stop_zygote()
        return self._launch_sandbox()

    def _launch_sandbox(self) -> ZygoteProcess | None:
        start = time.perf_counter()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {"ctl": theirs.fileno(), "drop_root": True, "site": sbx.site_dirs(),
                  "worker": self._worker_config()}
        argv = [sbx.python_executable(), "-S", "-B", "-P",
                f"{sbx.SANDBOX_HARNESS}/grader/harness/zygote.py", json.dumps(config)]
        # A library that is missing is not bound (bubblewrap would refuse them all); a worker
        # over it fails before the fork: run() answers "the submission has no cs231n_lib/".
        cmd = self._bwrap(argv, libraries={n: str(p) for n, p in self.libraries.items()
                                           if p.is_dir()})
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, pass_fds=(theirs.fileno(),), env={},
                start_new_session=True, preexec_fn=sbx.make_preexec(self.limits))
        except OSError as exc:
            ours.close()
            raise _StartFailed(f"the sandbox could not be started: {exc}") from None
        finally:
            theirs.close()
        zygote = ZygoteProcess(proc, ours)
        self._zygote = zygote
        self._holder[1] = zygote
        try:
            hello = zygote.greeting(self.start_timeout_s)
        except ZygoteLost as exc:
            self._stop_zygote()  # reaped first: then its stderr has been read to the end
            raise _StartFailed(f"the sandbox did not start ({exc})", zygote.stderr_tail()) \
                from None
        if hello.get("status") != "ready":
            self._stop_zygote()
            raise _StartFailed("the sandbox sent a bad greeting", zygote.stderr_tail())
        self.sandbox_seconds.append(time.perf_counter() - start)
        if not hello.get("fork"):
            # Not a failure: this kernel or bubblewrap will not let a worker build its own
            # namespaces. Every worker then gets a sandbox of its own (slower, as strict).
            why = f"{hello.get('why', 'forking is unavailable')}: {zygote.stderr_tail()}"
            self.fork_unavailable = why.strip()[:400]
            log.warning("library workers are not forked here (%s): one sandbox per worker",
                        self.fork_unavailable)
            self._stop_zygote()
            return None
        return zygote

    def _spawn(self, zygote: ZygoteProcess) -> ForkedWorker:
        """Ask the zygote for a worker over the selected library."""
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        err_r, err_w = os.pipe()
        nonce = secrets.token_hex(16)
        try:
            reply = zygote.request({"op": "spawn", "name": self.selected, "nonce": nonce},
                                   _ZYGOTE_REQUEST_S, fds=[req_r, res_w, err_w])
        except ZygoteLost as exc:
            for fd in (req_w, res_r, err_r):
                os.close(fd)
            raise _StartFailed(str(exc), zygote.stderr_tail()) from None
        finally:
            for fd in (req_r, res_w, err_w):
                os.close(fd)
        if not reply.get("ok") or not isinstance(reply.get("pid"), int):
            for fd in (req_w, res_r, err_r):
                os.close(fd)
            zygote.lost = True  # a zygote that refuses is not trusted with the next one
            raise _StartFailed(f"the zygote would not fork: {str(reply.get('error'))[:300]}")
        os.set_blocking(req_w, False)
        os.set_blocking(res_r, False)
        return ForkedWorker(zygote, reply["pid"], req_w, res_r, err_r, nonce)

    def _start_process(self) -> WorkerProcess:
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        nonce = secrets.token_hex(16)
        cmd, env, cwd = self._command(req_r, res_w, nonce)
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
        return WorkerProcess(proc, req_w, res_r, nonce)

    def _start(self) -> _Worker:
        start = time.perf_counter()
        zygote = self._start_sandbox() if self.sandboxed else None
        worker: _Worker = self._spawn(zygote) if zygote is not None else self._start_process()
        self._holder[0] = worker
        deadline = time.monotonic() + self.start_timeout_s
        try:
            header, _ = transport.read_frame(worker.res, deadline,
                                             max_header=_RESULT_HEADER_BYTES, max_payload=0)
        except transport.TransportError as exc:
            code = worker.kill()
            tail = worker.stderr_tail()
            self._holder[0] = None
            _, how = describe_exit(code)
            raise _StartFailed(f"the worker did not start ({exc}; {how})", tail) from None
        if header.get("status") != "ready" or header.get("nonce") != worker.nonce:
            worker.kill()
            self._holder[0] = None
            raise _StartFailed("the worker sent a bad greeting", worker.stderr_tail())
        worker.seccomp = str(header.get("seccomp", ""))
        self.seccomp = worker.seccomp
        self.start_seconds.append(time.perf_counter() - start)
        return worker

    def _start_or_raise(self) -> _Worker:
        """A started worker; one retry (a loaded machine; a fresh zygote), then
        :class:`WorkerStartFailed`. Never the submission's doing: a worker greets before
        any of the submission is imported, and no worker can reach the zygote."""
        try:
            return self._start()
        except _StartFailed as first:
            log.warning("the worker did not start (%s); trying once more", first)
            self._stop_zygote()
        try:
            return self._start()
        except _StartFailed as exc:
            self._stop_zygote()
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
            WorkerStartFailed: the worker would not start, or the zygote was lost twice
                (not the submission's doing).
        """
        t0 = time.perf_counter()
        if not self.package_dir.is_dir():
            return RunResult.failure("exception", f"the submission has no cs231n_lib/ folder "
                                     f"({self.package_dir})")
        try:
            skeleton, arrays = transport.pack_tree(recipe)
        except transport.TransportError as exc:
            raise ValueError(f"recipe cannot be sent: {exc}") from None
        for attempt in (1, 2):
            try:
                return self._call(recipe, skeleton, arrays, timeout_s, t0)
            except ZygoteLost as exc:
                # The zygote died or hung under a call: the sandbox failing, not the student
                # (no worker can signal, limit or trace it). Retry the call in a fresh one.
                self._stop()
                self._stop_zygote()
                if attempt == 2:
                    raise WorkerStartFailed(f"the sandbox was lost twice: {exc}") from None
                log.warning("the zygote was lost (%s); starting a fresh one", exc)
        raise AssertionError("unreachable")

    def _exit_code(self, worker: _Worker) -> int | None:
        code = worker.exit_code()
        if isinstance(worker, ForkedWorker) and worker.zygote.lost:
            raise ZygoteLost("the zygote did not report the worker's exit")
        return code

    def _call(self, recipe: dict[str, Any], skeleton: Any, arrays: dict, timeout_s: float | None,
              t0: float) -> RunResult:
        nonce = secrets.token_hex(16)
        limit = self.timeout_s if timeout_s is None else float(timeout_s)
        for attempt in (1, 2):
            if self._worker is not None and self._worker.poll() is not None:
                self._stop()  # died between calls (e.g. a thread the submission left running)
            if self._zygote is not None and self._zygote.lost:
                raise ZygoteLost("the zygote stopped answering between calls")
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
            code = self._exit_code(worker)
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
