"""The job fork server: grading jobs that start without importing nbgrader again.

A grading job (:mod:`grader.course.grade_job`) spends its first seconds starting Python and
importing nbgrader, nbconvert, jupyter_client, SQLAlchemy, NumPy and the grader. The
coordinator (``--jobs N``) therefore starts one trusted ``python -I`` **job server** per run
(:class:`JobServer`). The server imports those modules once (:data:`PRELOAD`) and then only
forks: one fresh child per grading job, never reused, so nothing of one student's job can
reach the next one. Before every fork the server checks that it is still clean: one thread
(no native thread either: its NumPy is imported with one BLAS thread), no open file but its
own, and it has never opened a file of any submission nor a database (it only passes on the
coordinator's paths and log file descriptor).

The forked child becomes what ``python -I -c grader.course.job_runner._BOOT`` is today:

* a session and process group of its own (``setsid``), so the coordinator's ``killpg``
  reaches it and everything it started in its group;
* ``PR_SET_PDEATHSIG`` = SIGKILL towards the server, whose own death signal points at the
  coordinator's thread that started it: a SIGKILLed coordinator takes the server and every
  job down;
* stdin ``/dev/null``, stdout and stderr on the log file the coordinator opened (its
  descriptor is passed over the socket), the working directory and the environment the
  coordinator sends (the same environment a ``python -I`` job would get);
* NumPy's global random state reseeded from the OS (a fresh process would seed its own);
* then the job's entry (``grade_job.main(argv)``) runs (:func:`run_and_exit`): its return
  value, ``SystemExit`` or uncaught exception (traceback on stderr) give the exit code a
  ``python -I`` process would have; at the end the child waits for its non-daemon threads,
  runs the ``atexit`` handlers (``weakref.finalize`` and logging's flush among them), flushes
  stdout and stderr and ends with ``os._exit``. What it skips is the interpreter's teardown
  of ~1500 modules (0.75 s in a fresh process, 1.3 s in a fork, whose teardown copies the
  shared pages), where Python promises no ``__del__`` anyway.

The server freezes its objects out of the garbage collector before forking
(:func:`gc.freeze`, the pattern the :mod:`gc` documentation gives for fork servers), so a
job's collections do not walk, and copy, the server's imported modules.

The server reaps its children and reports each exit status in :func:`os.waitstatus_to_exitcode`
form (negative: killed by that signal), the form of :attr:`subprocess.Popen.returncode`.

Protocol: one ``AF_UNIX`` ``SOCK_SEQPACKET`` socket pair, one JSON object per packet. Server
to coordinator: ``{"ready": bool, ...}`` once, then ``{"id", "pid"}`` (the child is in its
own session), ``{"id", "error"}`` (no child), ``{"id", "exit"}``. Coordinator to server:
``{"id", "argv", "cwd", "env"}`` with the log descriptor attached (``SCM_RIGHTS``). When the
coordinator hangs up, the server kills the process groups of the jobs still running and exits.

Whatever goes wrong with the server (it dies, does not answer, answers nonsense, is not
clean), :class:`ServerUnavailable` tells the caller, which grades that job the old way
(:func:`grader.course.job_runner._run_job_process`).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[2]

#: First lines of every trusted process the coordinator starts (argv[1] is the repository,
#: argv[2] the parent's pid): die with the thread that started it (Linux
#: ``PR_SET_PDEATHSIG``), and stop at once if that parent is already gone.
DIE_WITH_PARENT = ("import ctypes, os, sys\n"
                   "try:\n    ctypes.CDLL(None, use_errno=True).prctl(1, 9)\n"
                   "except (OSError, AttributeError):\n    pass\n"
                   "if os.getppid() != int(sys.argv[2]):\n    os._exit(3)\n"
                   "sys.path.insert(0, sys.argv[1])\n")

#: The server (argv: repository, coordinator pid, socket fd, entry ``module:function``,
#: preload list, extra import path, the run's folder as a label): serve until the coordinator
#: hangs up; in a forked child, ``serve`` returns the job's argv and the entry runs here.
_SERVER_BOOT = DIE_WITH_PARENT + (
    "from grader.course.job_server import run_and_exit, serve\n"
    "module, _, function = sys.argv[4].partition(':')\n"
    "job = serve(int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6])\n"
    "if job is None:\n    raise SystemExit(0)\n"
    "import importlib\n"
    "run_and_exit(getattr(importlib.import_module(module), function), job)")

#: The grading job's entry point.
GRADE_JOB_ENTRY = "grader.course.grade_job:main"

#: What a grading job imports, imported once by the server (``grade_job`` imports most of
#: these lazily, inside ``run_job``). Checked on the reference submission (2026-12-03):
#: after these, the job imported 77 more modules, 68 of them IPython's (added here since);
#: the rest is the reference ``cs231n_lib`` (7, left to each job) and a codec.
PRELOAD = (
    "numpy", "sqlalchemy", "zmq", "tornado", "jinja2", "IPython", "jupyter_client", "nbformat",
    "nbclient", "nbconvert", "nbgrader.api", "nbgrader.apps.api", "nbgrader.coursedir",
    "nbgrader.converters.autograde", "nbgrader.preprocessors",
    "grader.course.grade_job", "grader.course.paths", "grader.course.release",
    "grader.course.exercise_probes", "grader.course.fast_autograde",
    "grader.course.hidden_cases", "grader.course.hidden_exercises",
    "grader.sandbox.files", "grader.sandbox.library", "grader.sandbox.profile",
    "grader.sandbox.runner", "grader.sandbox.kernel", "grader.sandbox.prewarm",
)

#: Environment of the server process only (jobs get the coordinator's): NumPy's BLAS must
#: not start its thread pool in a process that forks.
_SERVER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

#: Seconds to wait for one answer of the server (a fork, or a killed job's exit report)
#: before it counts as broken.
ANSWER_TIMEOUT_S = 30.0
_PACKET = 1 << 20


class ServerUnavailable(RuntimeError):
    """The job server cannot run this job (dead, broken, not clean): launch it another way."""


# ---------------------------------------------------------------- inside the server process

def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _open_fds() -> set[int]:
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            os.fstat(fd)  # the listing's own descriptor is closed by now
        except OSError:
            continue
        fds.add(fd)
    return fds


def _send(sock: socket.socket, message: dict) -> None:
    sock.send(json.dumps(message).encode())


def _preload(names: list[str]) -> dict:
    import importlib

    start = time.perf_counter()
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported; the coordinator falls back
            return {"ready": False, "why": f"importing {name}: {type(exc).__name__}: {exc}"}
    return {"ready": True, "pid": os.getpid(), "modules": len(sys.modules),
            "seconds": round(time.perf_counter() - start, 3)}


def _unclean(own: set[int]) -> str:
    """Why the server may not fork now ('' when it may)."""
    threads = _threads()
    if threads != 1:
        return f"the job server runs {threads} threads (a fork must start from one)"
    extra = _open_fds() - own
    if extra:
        return f"the job server holds open files it did not open itself: {sorted(extra)}"
    return ""


def _become_job(request: dict, log_fd: int, server_pid: int, ready_w: int,
                own_fds: set[int], keep: int) -> list[str]:
    """In the forked child: turn into a grading job's process; returns the job's argv.

    Never returns into the server's loop on failure: any error ends the child (exit 4,
    before it has told the server it is ready, so the server reports no job).
    """
    try:
        os.setsid()
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
        if os.getppid() != server_pid:
            os._exit(3)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        for fd in (own_fds | {null, log_fd}) - {0, 1, 2, ready_w, keep}:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()  # as a fresh process would: from the OS
        argv = [str(a) for a in request["argv"]]
        sys.argv = ["-c", str(ROOT), str(server_pid), *argv]
        os.write(ready_w, b"k")
        os.close(ready_w)
        return argv
    except BaseException:  # noqa: BLE001 - a child must never go back to serving
        os._exit(4)


def run_and_exit(function: Callable[[list[str]], object], argv: list[str]) -> NoReturn:
    """In a forked child: run the job's entry and end the process with the exit code that
    ``raise SystemExit(function(argv))`` would give in a fresh interpreter."""
    try:
        code = function(argv)
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # noqa: BLE001 - reported as the interpreter would, exit 1
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for thread in threading.enumerate():  # what the interpreter waits for at exit
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code & 0xFF)


def _fork_job(sock: socket.socket, request: dict, log_fd: int, own: set[int],
              keep: int) -> tuple[int, list[str] | None]:
    """Fork one job. Returns ``(pid, None)`` in the server, ``(0, argv)`` in the child;
    ``(-1, None)`` when no job started (the error was sent). ``keep`` is a descriptor of
    ``own`` the child leaves open for its owner object to close."""
    why = _unclean(own | {log_fd})
    if why:
        _send(sock, {"id": request["id"], "error": why})
        return -1, None
    ready_r, ready_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        sock.detach()  # the child must not close the server's socket number later
        return 0, _become_job(request, log_fd, os.getppid(), ready_w, own | {ready_r},
                              keep)
    os.close(ready_w)
    try:
        ready, _, _ = select.select([ready_r], [], [], ANSWER_TIMEOUT_S)
        said = os.read(ready_r, 1) if ready else b""
    finally:
        os.close(ready_r)
    if said != b"k":
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        _send(sock, {"id": request["id"], "error": "the forked job did not start"})
        return -1, None
    _send(sock, {"id": request["id"], "pid": pid})
    return pid, None


def _reap(sock: socket.socket | None, children: dict[int, int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        job = children.pop(pid, None)
        if job is not None and sock is not None:
            _send(sock, {"id": job, "exit": os.waitstatus_to_exitcode(status)})


def _stop_children(children: dict[int, int]) -> None:
    for pid in children:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in list(children):
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    children.clear()


def serve(sock_fd: int, entry: str, preload: str, extra_path: str) -> list[str] | None:
    """The server's loop (called by :data:`_SERVER_BOOT`).

    Returns ``None`` in the server once the coordinator hangs up (after killing the jobs
    still running), and the job's argv in a forked child, which then runs ``entry``.
    """
    sock = socket.socket(fileno=sock_fd)
    if extra_path:
        sys.path[1:1] = extra_path.split(os.pathsep)
    names = [n for n in preload.split(",") if n] + [entry.partition(":")[0]]
    _send(sock, _preload(names) | {"threads": _threads()})
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    own = {0, 1, 2, sock_fd, wake_r, wake_w, selector.fileno()}
    children: dict[int, int] = {}
    while True:
        for key, _ in selector.select(timeout=1.0):
            if key.fileobj == wake_r:
                while True:
                    try:
                        if not os.read(wake_r, 512):
                            break
                    except BlockingIOError:
                        break
                continue
            message, fds, _, _ = socket.recv_fds(sock, _PACKET, 1)
            if not message:  # the coordinator hung up (or died)
                for fd in fds:
                    os.close(fd)
                _stop_children(children)
                return None
            try:
                request = json.loads(message)
                if len(fds) != 1 or not isinstance(request, dict):
                    raise ValueError("a request is one JSON object and one log descriptor")
            except ValueError:
                for fd in fds:
                    os.close(fd)
                _stop_children(children)
                return None
            pid, job = _fork_job(sock, request, fds[0], own, selector.fileno())
            if pid == 0:
                selector.close()  # the child's copy of the epoll descriptor, by its owner
                return job
            os.close(fds[0])
            if pid > 0:
                children[pid] = request["id"]
        _reap(sock, children)


# ------------------------------------------------------------- on the coordinator's side

class ForkedJob:
    """A grading job forked by the server, with the parts of :class:`subprocess.Popen`
    that :mod:`grader.course.job_runner` uses (``pid``, ``poll``, ``wait``, ``returncode``).

    ``lost`` is true when the server went away before reporting the job's exit: the job
    died with it (death signal), through no fault of the submission.
    """

    def __init__(self, job_id: int, server: JobServer) -> None:
        self.id = job_id
        self.pid = 0
        self.returncode: int | None = None
        self.lost = False
        self.error = ""
        self._server = server
        self._started = threading.Event()
        self._done = threading.Event()

    def poll(self) -> int | None:
        return self.returncode if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        """Like :meth:`subprocess.Popen.wait`. Without a timeout (after a kill), a server
        that does not report the exit within :data:`ANSWER_TIMEOUT_S` is stopped and the job
        counts as lost."""
        if timeout is not None:
            if not self._done.wait(timeout):
                raise subprocess.TimeoutExpired(f"grading job {self.pid}", timeout)
            return self.returncode
        if not self._done.wait(ANSWER_TIMEOUT_S):
            self._server.break_down(f"no exit report for job {self.pid} after a kill")
            self._done.wait(ANSWER_TIMEOUT_S)
            self._finish(None, lost=True)
        return self.returncode

    def _finish(self, code: int | None, lost: bool = False) -> None:
        if self._done.is_set():
            return
        self.lost = lost
        self.returncode = -signal.SIGKILL if code is None else code
        self._done.set()
        self._started.set()


class JobServer:
    """One job server process for the coordinator (start with :meth:`start_job`, end with
    :meth:`close`; also a context manager).

    Must be created by a thread that outlives the server (the coordinator's own): the
    server's death signal follows the thread that started it.

    Args:
        workdir: a trusted folder of this run (the server's cwd and ``job-server.log``).
        env: the environment the server starts with (jobs get their own with each request).
        ready_timeout_s: how long a first job waits for the server's imports before it is
            launched another way.
        entry: ``module:function`` the child runs with the job's argv (the grading job).
        preload: modules imported once before any fork.
        path: extra import folders (tests' fake jobs).
    """

    def __init__(self, workdir: Path, env: dict[str, str], ready_timeout_s: float = 60.0,
                 entry: str = GRADE_JOB_ENTRY, preload: tuple[str, ...] = PRELOAD,
                 path: tuple[str, ...] = ()) -> None:
        for name in (entry.partition(":")[0], *preload):
            if not name or "," in name:
                raise ValueError(f"module name {name!r}: a dotted name without commas")
        self.log_path = Path(workdir) / "job-server.log"
        self.ready_timeout_s = ready_timeout_s
        self.info: dict = {}
        self.broken = ""
        self._lock = threading.Lock()
        self._jobs: dict[int, ForkedJob] = {}
        self._next = 0
        self._ready = threading.Event()
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-I", "-c", _SERVER_BOOT, str(ROOT), str(os.getpid()),
                     str(theirs.fileno()), entry, ",".join(preload), os.pathsep.join(path),
                     str(workdir)],
                    cwd=workdir, env={**env, **_SERVER_ENV}, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=log, pass_fds=(theirs.fileno(),),
                    start_new_session=True)
        except BaseException:
            self._sock.close()
            raise
        finally:
            theirs.close()
        self._reader = threading.Thread(target=self._read, name="job-server-reader",
                                        daemon=True)
        self._reader.start()

    def __enter__(self) -> JobServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # The reader thread: every answer of the server lands here.
    def _read(self) -> None:
        why = "the job server exited"
        try:
            while True:
                packet = self._sock.recv(_PACKET)
                if not packet:
                    break
                message = json.loads(packet)
                if not isinstance(message, dict):
                    raise ValueError("not a JSON object")
                if "ready" in message:
                    self.info = message
                    if not message["ready"] or message.get("threads") != 1:
                        why = f"the job server is not usable: {message}"
                        break
                    self._ready.set()
                    continue
                with self._lock:
                    job = self._jobs.get(message["id"])
                if job is None:
                    raise ValueError(f"an answer about no job: {message}")
                if "pid" in message:
                    job.pid = int(message["pid"])
                    job._started.set()
                elif "error" in message:  # not clean, or the fork failed: stop using it
                    job.error = str(message["error"])
                    why = f"the job server did not fork: {job.error}"
                    break
                elif "exit" in message:
                    with self._lock:
                        self._jobs.pop(job.id, None)
                    job._finish(int(message["exit"]))
                else:
                    raise ValueError(f"an answer of no known kind: {message}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            why = f"the job server's answer could not be read: {type(exc).__name__}: {exc}"
        self.break_down(why)

    def break_down(self, why: str) -> None:
        """Stop using the server (and stop it): every job it still holds counts as lost."""
        with self._lock:
            if not self.broken:
                self.broken = why
            jobs = list(self._jobs.values())
            self._jobs.clear()
        self._ready.set()  # wake a caller waiting for readiness: it sees ``broken``
        self._kill_server()
        for job in jobs:
            job._finish(None, lost=True)

    def _kill_server(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def start_job(self, argv: list[str], log, cwd: Path | str,
                  env: dict[str, str]) -> ForkedJob:
        """Fork one job (``log``: an open file for its stdout and stderr; ``cwd``, ``env``:
        its working directory and whole environment).

        Raises:
            ServerUnavailable: the server is not ready within ``ready_timeout_s``, broken,
                or did not fork the job; the caller launches the job another way.
        """
        if not self._ready.wait(self.ready_timeout_s):
            self.break_down(f"the job server was not ready after {self.ready_timeout_s:g} s")
        with self._lock:
            if self.broken:
                raise ServerUnavailable(self.broken)
            self._next += 1
            job = ForkedJob(self._next, self)
            self._jobs[job.id] = job
            request = {"id": job.id, "argv": [str(a) for a in argv], "cwd": str(cwd),
                       "env": dict(env)}
            try:
                socket.send_fds(self._sock, [json.dumps(request).encode()], [log.fileno()])
            except OSError as exc:
                self._jobs.pop(job.id, None)
                raise ServerUnavailable(f"the job server took no request: {exc}") from exc
        if not job._started.wait(ANSWER_TIMEOUT_S):
            self.break_down(f"the job server did not fork within {ANSWER_TIMEOUT_S:g} s")
        if job.lost or not job.pid:
            raise ServerUnavailable(job.error or self.broken or "the job did not start")
        return job

    def close(self) -> None:
        """Hang up: the server kills the jobs still running and exits (killed if it does not
        within :data:`ANSWER_TIMEOUT_S`)."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.proc.wait(ANSWER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        with self._lock:
            self.broken = self.broken or "closed"
        self._kill_server()
        self._reader.join(ANSWER_TIMEOUT_S)
        self._sock.close()
