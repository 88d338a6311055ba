"""The fork server ("zygote") of the library checks: one sandbox per submission, one fork
per graded function.

Started by :class:`grader.sandbox.runner.SecureRunner` as
``python -S -B zygote.py '<json config>'`` inside bubblewrap, with every library composed for
the submission (one per graded function, :func:`grader.sandbox.library.compose_library`)
bound read-only at ``/compositions/<name>/cs231n_lib``. It imports NumPy and the harness,
never the submission, gives up root (:func:`grader.harness.privileges.drop_to`), stays
non-dumpable (nothing of the same uid can read its memory or ``/proc/<pid>/root``), and
answers requests from the trusted runner on a Unix ``SOCK_SEQPACKET`` control socket, one
JSON message each:

- ``spawn`` (with three fds by ``SCM_RIGHTS``: the request pipe's read end, the result pipe's
  write end, the stderr pipe's write end; and the worker's config): fork a worker over
  composition ``name``. Refused while the previous worker has not been reaped: workers run
  strictly one at a time.
- ``kill``: SIGKILL the worker and reap it; ``wait``: reap it if it exits within ``timeout``
  seconds. Both answer its exit code as ``subprocess`` gives it (``-signal`` for a signal).
- ``exit``: kill the worker and stop.

A forked worker, before any code of the submission can run (:func:`isolate`): keeps only its
three pipes (stdin and stdout become ``/dev/null``); enters a user, mount and IPC namespace of
its own (the zygote is uid 65534; the child maps that uid to itself); binds its own
composition at ``/submission/cs231n_lib`` read-only, covers ``/compositions`` with an empty
read-only tmpfs, and gets a fresh ``/tmp`` and ``/dev/shm``; then enters a second user
namespace and clears its capability sets, so nothing can change that mount namespace again.
Then it runs :func:`grader.harness.worker.serve`, which installs the worker's seccomp filter
with ``own_process_only`` (signals, limits and scheduling calls for its own pid only; no SysV
IPC or message queues; no fork, exec, unshare or mount). A fork starts with CPU time at zero;
the worker re-arms its per-call CPU limit as before, and inherits the sandbox's rlimits.

Standard library (and NumPy, pre-imported for the workers) only.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import sys

COMPOSITIONS = "/compositions"
SUBMISSION_LIB = "/submission/cs231n_lib"
#: A composition's name: a graded function's name (a registry key).
NAME = re.compile(r"^[A-Za-z0-9_]{1,80}$")
MAX_MESSAGE = 64 << 10
#: A forked worker that could not isolate itself exits with this code (before any student code).
ISOLATION_FAILED = 111
_WORKER_FDS = (3, 4)  # the worker's request and result pipes, after isolate()
_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWIPC = 0x00020000, 0x10000000, 0x08000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_PR_SET_DUMPABLE = 4


class IsolationError(OSError):
    """A forked worker could not build its own namespaces (it then exits, never serves)."""


def _libc():
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        import ctypes

        err = ctypes.get_errno()
        raise IsolationError(err, f"{what}: {os.strerror(err)}")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _enter_user_namespace(flags: int) -> None:
    """unshare(CLONE_NEWUSER | flags), keeping this uid and gid (65534) as they are."""
    ctypes, libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    # A process that dropped root is not dumpable, and then its /proc/self/*_map belong to
    # root: make them ours for the two writes, then hide the process again.
    _check(libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    try:
        _check(libc.unshare(ctypes.c_int(_CLONE_NEWUSER | flags)), "unshare")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    finally:
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    ctypes, libc = _libc()
    args = [None if v is None else v.encode() for v in (source, target, fstype)]
    _check(libc.mount(*args, ctypes.c_ulong(flags), None if data is None else data.encode()),
           f"mount {target}")


def _drop_capabilities() -> None:
    """capset(): empty effective, permitted and inheritable sets, for good (no exec after)."""
    ctypes, libc = _libc()

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    _check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def _own_fds(req: int, res: int, err: int) -> None:
    """Keep only fd 0/1 (/dev/null), 2 (the stderr pipe), 3 (requests), 4 (results)."""
    high = [_dup_high(fd) for fd in (req, res, err)]  # above every target, then dup2 down
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(high[2], 2)
    os.dup2(high[0], _WORKER_FDS[0])
    os.dup2(high[1], _WORKER_FDS[1])
    os.closerange(_WORKER_FDS[1] + 1, os.sysconf("SC_OPEN_MAX"))


def _dup_high(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD, 10)


def isolate(name: str, tmpfs_mb: int) -> None:
    """Put this freshly forked process in a private view of the sandbox (see the module
    docstring). Raises :class:`IsolationError`; the caller must then exit."""
    if not NAME.match(name) or not os.path.isdir(os.path.join(COMPOSITIONS, name, "cs231n_lib")):
        raise IsolationError(0, f"no composition {name!r}")
    _enter_user_namespace(_CLONE_NEWNS | _CLONE_NEWIPC)
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    lib = os.path.join(COMPOSITIONS, name, "cs231n_lib")
    _mount(lib, SUBMISSION_LIB, None, _MS_BIND)
    _mount(None, SUBMISSION_LIB, None,
           _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    _mount("none", COMPOSITIONS, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC,
           "size=4k,mode=0555")
    size = f"size={int(tmpfs_mb) << 20},mode=1777"
    _mount("none", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, size)
    _mount("none", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, size)
    os.chdir("/tmp")
    # A second user namespace does not own the mount namespace: whatever capability might
    # remain, none of it reaches the mounts made above. Then clear the sets themselves.
    _enter_user_namespace(0)
    _drop_capabilities()


def _child(name: str, fds: list[int], config: dict) -> int:
    """In the forked worker: isolate, then serve. Returns the exit code (never returns to
    the zygote's loop: the caller ``os._exit``s)."""
    # Signal dispositions stay Python's own (SIGPIPE ignored, SIGINT raises), as in a worker
    # started on its own: the zygote installs no handler of its own.
    try:
        _own_fds(*fds)
        isolate(name, int(config.get("tmpfs_mb", 16)))
    except BaseException as exc:  # noqa: BLE001 - report and stop, never serve
        try:
            os.write(2, f"worker isolation failed: {exc}\n".encode())
        except OSError:
            pass
        return ISOLATION_FAILED
    from grader.harness import worker

    config = {**config, "req": _WORKER_FDS[0], "res": _WORKER_FDS[1], "drop_root": False,
              "own_process_only": True}
    # What a worker started on its own would see (none of the zygote's own config).
    sys.argv = [worker.__file__, json.dumps(config)]
    return worker.serve(config)


class Zygote:
    """The zygote's state: its control socket and at most one live worker."""

    def __init__(self, ctl: socket.socket, names: set[str], base: dict) -> None:
        self.ctl = ctl
        self.names = names
        self.base = base  # worker config shared by every fork (cpu_s, nproc, site, ...)
        self.pid: int | None = None
        self.pidfd: int | None = None

    def reply(self, message: dict) -> None:
        self.ctl.send(json.dumps(message).encode())

    def fork(self, name: str, fds: list[int], config: dict) -> int:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                self.ctl.detach()  # its fd is closed below; the object must not close a reuse
                code = _child(name, fds, config)
            finally:
                os._exit(code)
        return pid

    def spawn(self, message: dict, fds: list[int]) -> dict:
        try:
            name = str(message.get("name", ""))
            if self.pid is not None:
                return {"ok": False, "error": "the previous worker has not been reaped"}
            if len(fds) != 3:
                return {"ok": False, "error": f"spawn needs 3 fds, got {len(fds)}"}
            if name not in self.names:
                return {"ok": False, "error": f"no composition {name!r}"}
            config = {**self.base, "nonce": str(message.get("nonce", ""))}
            try:
                self.pid = self.fork(name, fds, config)
            except OSError as exc:  # EAGAIN, ENOMEM: say so; the runner replaces the zygote
                return {"ok": False, "error": f"fork failed: {exc}"}
            self.pidfd = os.pidfd_open(self.pid)
            return {"ok": True, "pid": self.pid}
        finally:
            for fd in fds:
                os.close(fd)

    def wait(self, timeout: float) -> int | None:
        """The worker's exit code once reaped, or None if it still runs after ``timeout``."""
        if self.pid is None:
            return None
        assert self.pidfd is not None
        ready, _, _ = select.select([self.pidfd], [], [], max(0.0, timeout))
        if not ready:
            return None
        _, status = os.waitpid(self.pid, 0)
        os.close(self.pidfd)
        self.pid = self.pidfd = None
        return os.waitstatus_to_exitcode(status)

    def kill(self) -> int | None:
        if self.pid is None:
            return None
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.wait(30.0)

    def serve(self) -> int:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.ctl, MAX_MESSAGE, 4)
            except (ConnectionError, OSError):
                data, fds = b"", []
            if not data:
                self.kill()
                return 0
            try:
                message = json.loads(data)
                op = message.get("op")
            except (ValueError, AttributeError):
                message, op = {}, None
            if op == "spawn":
                self.reply(self.spawn(message, fds))
                continue
            for fd in fds:
                os.close(fd)
            if op == "kill":
                self.reply({"status": self.kill()})
            elif op == "wait":
                self.reply({"status": self.wait(float(message.get("timeout", 0)))})
            elif op == "exit":
                self.kill()
                return 0
            else:
                self.reply({"error": f"unknown op {op!r}"})


def probe(zygote: Zygote) -> str:
    """Fork one throw-away worker that isolates itself and exits: '' if that works, else why."""
    if not zygote.names:
        return "no compositions"
    name = min(zygote.names)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            zygote.ctl.detach()
            null = os.open("/dev/null", os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            isolate(name, 1)
            code = 0
        except BaseException as exc:  # noqa: BLE001
            try:
                os.write(2, f"zygote probe: {exc}\n".encode())
            except OSError:
                pass
            code = ISOLATION_FAILED
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        return f"a forked worker cannot isolate itself here (exit {code})"
    return ""


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    for path in config.get("site", []):
        if path not in sys.path:
            sys.path.append(path)
    import numpy  # noqa: F401  (every worker inherits it: what the fork saves)

    from grader.harness import privileges, recipes, transport, worker  # noqa: F401
    from grader.harness.seccomp import die_with_parent

    die_with_parent()
    identity = privileges.drop_to() if config.get("drop_root") else "uid unchanged"
    _, libc = _libc()
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    ctl = socket.socket(fileno=int(config["ctl"]))
    names = {n for n in os.listdir(COMPOSITIONS) if NAME.match(n)}
    zygote = Zygote(ctl, names, dict(config.get("worker", {})))
    why = probe(zygote)
    zygote.reply({"status": "ready", "fork": not why, "why": why, "identity": identity,
                  "compositions": len(names)})
    if why:
        return ISOLATION_FAILED
    return zygote.serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
