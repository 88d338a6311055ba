"""The kernel fork server of a grading job: sandboxed kernels in tens of milliseconds (trusted).

A sandboxed kernel started from scratch spends ~1 s in Python, NumPy, matplotlib, IPython and
ipykernel imports before it can answer. The notebooks of one submission all run in the same
folder (same exposed files, same working directory path), so one sandbox per job can pay for
the imports once: :class:`KernelForkServer` starts ``kernel_shim.py --fork-server`` in the
kernel profile of :mod:`grader.sandbox.kernel_launch` (bubblewrap, uid 65534, no network),
and forks one kernel per notebook from it. Each forked kernel makes its own mount, user and
IPC namespaces before any notebook code runs (:func:`grader.harness.kernel_shim.isolate`:
fresh tmpfs working directory with read-only binds of the exposed files, fresh ``/tmp`` and
``/dev/shm``, only its own connection directory), sheds its capabilities and installs the
kernel seccomp filter with ``own_process_only``. Kernels run one at a time. Before it
serves, the server forks one probe child that must do all of that; if it cannot (no user
namespaces on this host, say), the server is not used.

:class:`ForkedKernelProvisioner` is what jupyter_client sees: ``poll``/``wait`` ask the server
(which reaps the kernel), ``kill``/``send_signal`` use a pidfd on the kernel's host pid. When
the server is missing, dead or refuses, the notebook's kernel is started the old way, in a
bubblewrap of its own (never unsandboxed), and a warning says so. (A kernel that was forked
and then dies, before or after its handshake, is a dead kernel like any other: nbclient
reports it; it is not started again.)

What a forked kernel shares with the server, unlike a kernel started from scratch: the
state of the imported modules as they were after import (NumPy's global random state is
re-seeded in every kernel, Python's ``random`` re-seeds itself at fork) and the hash seed of
``str`` (so set iteration order is the same in every kernel of a job). The server itself has
no seccomp filter (its children need ``unshare`` and ``mount`` before they install theirs);
it runs only this harness, reads requests only from the job, and no kernel can reach it: its
socket is closed in every kernel, it is not dumpable, and a kernel may signal only itself.

The server is started from the job's main thread (bubblewrap's ``--die-with-parent`` follows
the thread that started it) and is stopped at the end of the job (:func:`stop_fork_servers`,
also ``atexit``); the server and its kernels die with the job process in any case.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from grader.sandbox.kernel_launch import (
    EXPOSED_DIRS,
    EXPOSED_SUFFIXES,
    LOG_FLAGS,
    MAX_EXPOSED_FILES,
    PASS_ENV,
    ROOT,
)
from grader.sandbox.profile import SANDBOX_UID, runs_as_root

log = logging.getLogger(__name__)

_FORK_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
              "from grader.sandbox.kernel_launch import fork_server_main; "
              "raise SystemExit(fork_server_main(sys.argv[2:]))")
#: Seconds the server may take to become ready (imports in the sandbox: ~1-3 s).
SERVER_READY_S = 60.0
#: Seconds one request may take (a fork answers in milliseconds).
REQUEST_S = 10.0
#: Starts of a server per folder before the job gives up on forking (then every notebook
#: gets a bubblewrap of its own).
MAX_SERVER_STARTS = 2
#: Entries :func:`_folder_state` looks at before it stops (staging copies at most
#: ``MAX_EXPOSED_FILES`` files anyway).
_MAX_STATE_ENTRIES = 10 * MAX_EXPOSED_FILES


class ForkServerError(RuntimeError):
    """The fork server is missing, dead, or refused a request."""


def _folder_state(cwd: str) -> tuple:
    """What of ``cwd`` the kernels are shown (the exposed files' paths, sizes, mtimes, inodes):
    a server staged an older state must not serve (lstat only: nothing followed or opened)."""
    out: list[tuple] = []
    seen = 0
    for top in EXPOSED_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(cwd, top)):
            dirnames.sort()
            seen += len(dirnames) + len(filenames)
            if seen > _MAX_STATE_ENTRIES:  # a hostile folder only slows its own grading
                return (*out, "too many entries")
            for name in sorted(filenames):
                if not name.endswith(EXPOSED_SUFFIXES):
                    continue
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                out.append((path, stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns,
                            st.st_ino))
    return tuple(out)


def _status_fields(pid: int) -> tuple[int, list[int]] | None:
    """``(PPid, NSpid list)`` of a host process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    ppid, nspid = -1, []
    for line in text.splitlines():
        if line.startswith("PPid:"):
            ppid = int(line.split()[1])
        elif line.startswith("NSpid:"):
            nspid = [int(x) for x in line.split()[1:]]
    return ppid, nspid


def _host_pid(ancestor: int, ns_pid: int) -> int | None:
    """The host pid of the descendant of ``ancestor`` whose pid in its namespace is ``ns_pid``."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _status_fields(int(entry))
        if fields is None or len(fields[1]) < 2 or fields[1][-1] != ns_pid:
            continue
        pid, hops = int(entry), 0
        while pid > 1 and hops < 8:  # bwrap -> its init -> server -> kernel
            got = _status_fields(pid)
            if got is None:
                break
            pid, hops = got[0], hops + 1
            if pid == ancestor:
                return int(entry)
    return None


class ForkedKernel:
    """One kernel forked by the server: its pids and a pidfd to signal it race-free."""

    def __init__(self, server: KernelForkServer, ns_pid: int, host_pid: int) -> None:
        self.server, self.ns_pid, self.pid = server, ns_pid, host_pid
        self.pidfd: int | None = os.pidfd_open(host_pid)
        # The pid could have been reused between the lookup and pidfd_open: check again.
        if _host_pid(server.proc.pid, ns_pid) != host_pid:
            self.close()
            raise ForkServerError("the forked kernel vanished before it could be watched")
        self.exit_code: int | None = None

    def poll(self) -> int | None:
        if self.exit_code is not None:
            return self.exit_code
        try:
            answer = self.server.request({"op": "poll"})
        except ForkServerError:
            self.exit_code = -signal.SIGKILL  # the server is gone, and its kernels with it
        else:
            self.exit_code = answer.get("exit")
        return self.exit_code

    def send_signal(self, signum: int) -> None:
        if self.pidfd is None:
            return
        try:
            signal.pidfd_send_signal(self.pidfd, signum)
        except ProcessLookupError:
            pass  # already exited

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class KernelForkServer:
    """The sandboxed fork server for one notebook folder (``cwd``) under ``kernel_root``."""

    def __init__(self, cwd: str, kernel_root: str) -> None:
        self.cwd, self.kernel_root = os.path.realpath(cwd), kernel_root
        self.state = _folder_state(self.cwd)
        self.zdir = Path(tempfile.mkdtemp(prefix="z-", dir=kernel_root))
        (self.zdir / "conns").mkdir(mode=0o700)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self._lock = threading.Lock()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _FORK_BOOT, str(ROOT), str(self.zdir),
                 str(theirs.fileno())],
                cwd=self.cwd, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        try:
            self.sock.settimeout(SERVER_READY_S)
            hello = json.loads(self.sock.recv(1 << 16) or b"{}")
        except (OSError, ValueError) as exc:
            self.stop()
            raise ForkServerError(f"the fork server did not start ({exc!r}); "
                                  f"{self.log_tail()}") from exc
        if "ready" not in hello:
            self.stop()
            raise ForkServerError(f"the fork server did not start; {self.log_tail()}")
        if hello.get("threads") != 1:
            self.stop()
            raise ForkServerError(f"the fork server has {hello.get('threads')} threads")
        if hello.get("probe") != "ok":  # a forked kernel could not isolate itself here
            self.stop()
            raise ForkServerError(f"a forked kernel cannot isolate itself here: "
                                  f"{hello.get('probe')}")
        self.sock.settimeout(REQUEST_S)

    def log_tail(self) -> str:
        try:
            return "its log: " + (self.zdir / "server.log").read_text()[-1500:]
        except OSError:
            return "no log"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def request(self, message: dict, fds: tuple[int, ...] = ()) -> dict:
        """One request, one answer (raises ForkServerError if the server is gone)."""
        with self._lock:
            try:
                if fds:
                    socket.send_fds(self.sock, [json.dumps(message).encode()], list(fds))
                else:
                    self.sock.send(json.dumps(message).encode())
                data = self.sock.recv(1 << 16)
            except OSError as exc:
                raise ForkServerError(f"the fork server does not answer ({exc!r})") from exc
        if not data:
            raise ForkServerError(f"the fork server is gone; {self.log_tail()}")
        answer = json.loads(data)
        if "error" in answer:
            raise ForkServerError(f"the fork server refused: {answer['error']}")
        return answer

    def new_conn_dir(self) -> Path:
        """A fresh connection directory for the next kernel (only it will see it)."""
        conn = Path(tempfile.mkdtemp(prefix="c-", dir=self.zdir / "conns"))
        if runs_as_root():
            os.chown(conn, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)
        return conn

    def spawn(self, connection_file: str, args: list[str]) -> ForkedKernel:
        """Fork a kernel for ``connection_file`` (in a directory from :meth:`new_conn_dir`)."""
        conn = Path(connection_file)
        if conn.parent.parent != self.zdir / "conns":
            raise ForkServerError(f"{connection_file} is not in this server's connection dirs")
        if runs_as_root():
            os.chown(conn, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)
        # The kernel's console goes to a log out of its reach (O_EXCL: never through a link).
        logfd = os.open(self.zdir / f"{conn.parent.name}.log", LOG_FLAGS, 0o600)
        try:
            answer = self.request({"op": "spawn", "conn": str(conn), "args": list(args)},
                                  (logfd,))
        finally:
            os.close(logfd)
        ns_pid = int(answer["pid"])
        host_pid = None
        for _ in range(50):  # the fork is done; /proc shows it at once, barring a race
            host_pid = _host_pid(self.proc.pid, ns_pid)
            if host_pid is not None:
                break
            time.sleep(0.002)
        if host_pid is None:
            raise ForkServerError(f"forked kernel {ns_pid} not found on the host")
        return ForkedKernel(self, ns_pid, host_pid)

    def stop(self) -> None:
        """Close the socket (the server's loop ends), kill the sandbox, remove the folder."""
        try:
            self.sock.close()
        except OSError:
            pass
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()  # bubblewrap: its pid namespace, server and kernel, goes with it
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.zdir, ignore_errors=True)  # never follows symlinks


#: ``key -> server`` of this process (one grading job, one folder at a time in practice).
_SERVERS: dict[tuple, KernelForkServer] = {}
_STARTS: dict[tuple, int] = {}


def _key(cwd: str, kernel_root: str) -> tuple:
    return (os.path.realpath(cwd), os.path.realpath(kernel_root),
            tuple(os.environ.get(k) for k in PASS_ENV))


def fork_server_for(cwd: str, kernel_root: str) -> KernelForkServer | None:
    """The live server for this folder, started if need be; None means: a bubblewrap of its
    own for this kernel (not on the main thread, too many failed starts, or start failed)."""
    key = _key(cwd, kernel_root)
    server = _SERVERS.get(key)
    if server is not None and (not server.alive() or server.state != _folder_state(key[0])):
        if not server.alive():
            log.warning("kernel fork server for %s died; %s", key[0], server.log_tail())
        _SERVERS.pop(key).stop()
        server = None
    if server is not None:
        return server
    if threading.current_thread() is not threading.main_thread():
        return None  # --die-with-parent would follow a thread that may end before the job
    if _STARTS.get(key, 0) >= MAX_SERVER_STARTS:
        return None
    _STARTS[key] = _STARTS.get(key, 0) + 1
    for other in [k for k in _SERVERS if k[1] == key[1]]:  # one server per kernel root
        _SERVERS.pop(other).stop()
    try:
        server = KernelForkServer(key[0], kernel_root)
    except (ForkServerError, OSError) as exc:
        log.warning("kernel fork server not started (%s): kernels start in a bubblewrap "
                    "of their own", exc)
        return None
    _SERVERS[key] = server
    return server


def stop_fork_servers() -> None:
    """Stop every fork server of this process (end of a grading job)."""
    while _SERVERS:
        _SERVERS.popitem()[1].stop()
    _STARTS.clear()


atexit.register(stop_fork_servers)


class ForkedKernelProvisioner(LocalProvisioner):  # type: ignore[misc]
    """jupyter_client's local provisioner, but the kernel comes from the job's fork server.

    The kernel manager (:class:`grader.sandbox.kernel.SandboxKernelManager`) sets
    ``fork_server`` and the connection file before the launch; without a server, or when it
    fails, :meth:`launch_kernel` falls back to the kernelspec's command (a bubblewrap of the
    kernel's own) after the manager moved the connection file to a private directory.
    """

    fork_server: KernelForkServer | None = None
    forked: ForkedKernel | None = None

    @property
    def has_process(self) -> bool:
        return self.forked is not None or super().has_process

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        km = self.parent
        if self.fork_server is not None:
            extra = cmd[len(self.kernel_spec.argv):]
            try:
                self.forked = self.fork_server.spawn(km.connection_file, extra)
            except (ForkServerError, OSError) as exc:
                log.warning("kernel fork server failed (%s): this notebook's kernel starts "
                            "in a bubblewrap of its own", exc)
                self.fork_server = None
                cmd = km.own_sandbox_command(extra)
                self.connection_info = km.get_connection_info()
            else:
                self.pid, self.pgid = self.forked.pid, None
                self.cwd = kwargs.get("cwd")
                return self.connection_info
        return await super().launch_kernel(cmd, **kwargs)

    async def poll(self) -> int | None:
        if self.forked is not None:
            return self.forked.poll()
        return await super().poll()

    async def wait(self) -> int | None:
        if self.forked is None:
            return await super().wait()
        while (code := self.forked.poll()) is None:
            await _sleep(0.01)
        self.forked.close()
        self.forked = None
        return code

    async def send_signal(self, signum: int) -> None:
        if self.forked is not None:
            self.forked.send_signal(signum)
            return
        await super().send_signal(signum)

    async def kill(self, restart: bool = False) -> None:
        if self.forked is not None:
            self.forked.send_signal(signal.SIGKILL)
            return
        await super().kill(restart=restart)

    async def terminate(self, restart: bool = False) -> None:
        if self.forked is not None:
            self.forked.send_signal(signal.SIGTERM)
            return
        await super().terminate(restart=restart)

    async def cleanup(self, restart: bool = False) -> None:
        if self.forked is not None:
            self.forked.close()
        await super().cleanup(restart=restart)


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
