"""Runs inside the notebook kernel's sandbox: give up root, install seccomp, start ipykernel.

``python -s kernel_shim.py CONFIG_JSON CONNECTION_FILE [KERNEL ARGS]`` (no ``-P``: IPython
then leaves the working directory off ``sys.path``). The kernel runs
in this process (an ``exec`` would need the very system call that seccomp then forbids), with
the harness removed from ``sys.path`` and ``sys.modules`` so that the notebook's own
``import grader`` finds the check API in its working directory, like any kernel would.

``python -s kernel_shim.py CONFIG_JSON --fork-server FD`` is the kernel fork server of one
grading job (:mod:`grader.sandbox.kernel_fork` starts it): it gives up root, does the warm
imports (no thread, no socket, no zmq context is made by them), then forks one kernel per
request read from the Unix socket ``FD``, one at a time. Each forked kernel, before it runs
anything of a notebook, makes its own world with :func:`isolate`: a user and mount
namespace of its own (and an IPC namespace), a fresh size-capped tmpfs at the notebook
folder's path holding read-only binds of the exposed files (from ``/exposed``, where the
server sees them), a fresh ``/tmp`` and ``/dev/shm``, and of the connection directories only
its own; then a second user namespace sheds every capability over those mounts, and the
kernel's seccomp filter goes on with ``own_process_only`` (it cannot signal the server, or
leave SysV IPC objects behind). The server itself never runs notebook code.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import runpy
import socket
import sys

#: Third-party modules every course notebook's setup cell imports, imported here first (after
#: the privilege drop and seccomp, like any cell) so that a kernel started ahead of its notebook
#: (grader.sandbox.prewarm) has paid for them before the notebook runs. Nothing from the
#: notebook's folder, and not ``matplotlib.pyplot``: its backend set-up waits for IPython.
WARM_MODULES = ("numpy", "matplotlib", "matplotlib.figure", "matplotlib.backend_bases",
                "matplotlib.image", "matplotlib.colors", "IPython", "ipykernel.ipkernel")


#: Imported by the fork server only, after :data:`WARM_MODULES`: what ipykernel imports while
#: it starts (measured: 0.16 s of its 0.2 s, most of it the debugger's debugpy), none of which
#: starts a thread or opens a file (the zmq context, its threads and sockets are made in each
#: forked kernel, never before the fork; the server refuses to fork if it has a thread). Not
#: ``matplotlib_inline.backend_inline``: on import it hooks itself into the running IPython
#: shell, which exists only in the kernel.
SERVER_MODULES = ("zmq", "ipykernel.kernelapp", "ipykernel.zmqshell", "ipykernel.iostream",
                  "jupyter_client.session", "ipykernel.debugger", "IPython.core.debugger",
                  "IPython.core.completerlib", "IPython.extensions.storemagic", "psutil",
                  "sqlite3", "tornado.gen", "tornado.queues", "tornado.platform.asyncio")

# Linux constants (x86-64 and the other usual architectures)
_CLONE_NEWNS, _CLONE_NEWIPC, _CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV = 1, 2, 4
_MS_REMOUNT, _MS_BIND, _MS_MOVE, _MS_REC, _MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4
# x86-64 (the seccomp filter is x86-64 only too)
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT, _SYS_CAPSET = 428, 429, 126
_OPEN_TREE_CLONE, _O_CLOEXEC, _AT_FDCWD, _MOVE_MOUNT_F_EMPTY_PATH = 1, 0o2000000, -100, 4
#: Size of a request and of the fds it carries (log, nothing else).
_MAX_REQUEST = 1 << 16


def _warm(modules: tuple[str, ...]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - the notebook's own import reports it
            print(f"kernel sandbox: warm import of {module} failed: {exc!r}", file=sys.stderr)


def _run_kernel(connection_file: str, extra: list[str], status: str) -> None:
    """Forget the harness and run ipykernel in this process (after seccomp)."""
    if "/harness" in sys.path:
        sys.path.remove("/harness")
    for name in [m for m in sys.modules if m == "grader" or m.startswith("grader.")]:
        del sys.modules[name]
    # IPython puts the notebook's folder ('') on sys.path, as for any kernel.
    sys.argv = ["ipykernel_launcher", "-f", connection_file, *extra]
    print(f"kernel sandbox: {status}", file=sys.stderr, flush=True)
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    sys.path[0] = "/harness"  # instead of this script's folder
    from grader.harness import privileges
    from grader.harness.seccomp import install_seccomp

    privileges.drop_to()  # raises rather than run a notebook as root
    if config.get("nproc"):
        n = int(config["nproc"])
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    if argv[2:3] == ["--fork-server"]:
        return serve(config, int(argv[3]))
    connection_file, extra = argv[2], argv[3:]
    status = install_seccomp(any_socket=True)
    sys.path.remove("/harness")
    _warm(WARM_MODULES)
    _run_kernel(connection_file, extra, status)
    return 0


# --------------------------------------------------------------------------- fork server


def _libc():
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def _call(rc: int, what: str) -> None:
    if rc != 0:
        ctypes, _ = _libc()
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    ctypes, libc = _libc()

    def enc(value: str | None) -> bytes | None:
        return None if value is None else value.encode()

    _call(libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)),
          f"mount {fstype or src} on {dst}")


def _unshare_user(flags: int, inside: int, outside_uid: int, outside_gid: int) -> None:
    """unshare(CLONE_NEWUSER | flags) and map ``inside`` to our ids in the parent namespace."""
    _, libc = _libc()
    _call(libc.unshare(_CLONE_NEWUSER | flags), "unshare")
    # The credentials changed: dumpable went to 0 and /proc/self/*_map would belong to root.
    _call(libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{inside} {outside_uid} 1"),
                       ("gid_map", f"{inside} {outside_gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)
    _call(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")


def isolate(config: dict, conn_dir: str) -> None:
    """Give this (just forked) kernel its own mounts; keep no capability over them.

    ``config``: ``cwd`` (the notebook folder's path), ``exposed`` (where the read-only copies
    of the exposed files are), ``conns`` (the parent of every kernel's connection directory),
    ``cwd_mb``, ``tmp_mb``. ``conn_dir``: this kernel's connection directory, a child of
    ``conns``. Raises OSError if any step fails (the kernel then never starts).
    """
    uid, gid = os.geteuid(), os.getegid()
    conns, cwd, exposed = config["conns"], config["cwd"], config["exposed"]
    name = os.path.basename(conn_dir)
    if os.path.dirname(conn_dir) != conns or not name.startswith("c-"):
        raise OSError(f"connection directory {conn_dir!r} is not in {conns!r}")
    # Root of a user namespace of our own, owning a mount and an IPC namespace of our own.
    _unshare_user(_CLONE_NEWNS | _CLONE_NEWIPC, 0, uid, gid)
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    ctypes, libc = _libc()
    # Our connection directory, held as a detached copy while everything is covered.
    conn_fd = libc.syscall(ctypes.c_long(_SYS_OPEN_TREE), ctypes.c_int(_AT_FDCWD),
                           conn_dir.encode(), ctypes.c_uint(_OPEN_TREE_CLONE | _O_CLOEXEC))
    if conn_fd < 0:
        _call(-1, f"open_tree {conn_dir}")
    nosuid = _MS_NOSUID | _MS_NODEV
    # The same order as bubblewrap's: /tmp first (the folder and the connection directories
    # are often below it), then the folder's tmpfs, then the connection directory.
    _mount("tmpfs", "/tmp", "tmpfs", nosuid, f"size={int(config['tmp_mb'])}m,mode=1777")
    for path, size, mode in ((cwd, f"{int(config['cwd_mb'])}m", "0777"),
                             (conns, "64k", "0755")):
        if not os.path.isdir(path):  # it was under the old /tmp
            os.makedirs(path, 0o755)
        _mount("tmpfs", path, "tmpfs", nosuid, f"size={size},mode={mode}")
    os.mkdir(conn_dir, 0o700)
    _call(libc.syscall(ctypes.c_long(_SYS_MOVE_MOUNT), ctypes.c_int(conn_fd), b"",
                       ctypes.c_int(_AT_FDCWD), conn_dir.encode(),
                       ctypes.c_uint(_MOVE_MOUNT_F_EMPTY_PATH)), f"move_mount {conn_dir}")
    os.close(conn_fd)
    # The notebook folder: read-only binds of the exposed files on its fresh tmpfs.
    for entry in sorted(os.listdir(exposed)):
        src, dst = os.path.join(exposed, entry), os.path.join(cwd, entry)
        if os.path.isdir(src):
            os.mkdir(dst)
        else:
            open(dst, "x").close()
        _mount(src, dst, None, _MS_BIND | _MS_REC)
        _mount(None, dst, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | nosuid)
    _mount("tmpfs", exposed, "tmpfs", _MS_RDONLY | nosuid, "size=4k,mode=0755")
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", nosuid, "size=1m,mode=1777")
    os.chdir(cwd)  # the old working directory is the server's, now hidden
    # A second user namespace: we are our old uid again, with no capability over the mounts
    # above (they belong to the first namespace) and nothing left to unmount them with.
    _unshare_user(0, uid, 0, 0)
    _drop_capabilities()


def _drop_capabilities() -> None:
    """Give up the capabilities the second user namespace granted (they reach nothing but
    that namespace; a kernel needs none): effective, permitted and inheritable all empty."""
    ctypes, libc = _libc()
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable} words, all 0
    _call(libc.syscall(ctypes.c_long(_SYS_CAPSET), header, data), "capset")


def _threads() -> int:
    """Threads of this process as the kernel counts them (C threads too, e.g. a BLAS pool)."""
    return len(os.listdir("/proc/self/task"))


def _child(config: dict, ctl: socket.socket, log_fd: int, conn_file: str,
           extra: list[str], server_pid: int) -> None:
    """The forked kernel: never returns (ipykernel runs, then the process exits)."""
    code = 1
    try:
        _, libc = _libc()
        libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)  # dies with the server
        if os.getppid() != server_pid:  # the server died before the line above
            os._exit(1)
        os.setsid()  # its own session and process group (ipykernel interrupts with killpg)
        ctl_fd = ctl.detach()
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.closerange(3, 65536)  # the server's socket, the log's first fd, everything else
        del ctl_fd
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        isolate(config, os.path.dirname(conn_file))
        from grader.harness.seccomp import install_seccomp

        status = install_seccomp(any_socket=True, own_process_only=True)
        if "numpy" in sys.modules:  # not the server's random state: every kernel its own
            sys.modules["numpy"].random.seed()
        _run_kernel(conn_file, extra, f"forked; {status}")
        code = 0
    except BaseException as exc:  # noqa: BLE001 - reported in the kernel's log, then exit
        print(f"kernel sandbox: forked kernel failed: {exc!r}", file=sys.stderr, flush=True)
    finally:
        os._exit(code)


def _probe_isolation(config: dict) -> str:
    """Fork once, before serving: can a child make its namespaces and mounts and install its
    filter here (user namespaces allowed, the kernel new enough)? "ok" or what failed. The
    server then reports it, and the job starts kernels in a bubblewrap each if it failed."""
    conn_dir = os.path.join(config["conns"], "c-probe")
    os.mkdir(conn_dir, 0o700)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read)
            isolate(config, conn_dir)
            from grader.harness.seccomp import install_seccomp

            status = install_seccomp(any_socket=True, own_process_only=True)
            if "signals only to itself" not in status:
                raise OSError(status)
            os.write(write, b"ok")
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the server
            os.write(write, repr(exc).encode()[:500])
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        answer = fh.read().decode(errors="replace") or "the probe died"
    os.waitpid(pid, 0)
    os.rmdir(conn_dir)
    return answer


def serve(config: dict, fd: int) -> int:
    """The fork server's loop: one request at a time on socket ``fd`` (SOCK_SEQPACKET).

    Requests (JSON): ``{"op": "spawn", "conn": CONNECTION_FILE, "args": [...]}`` with the
    kernel's log fd attached (answer ``{"pid": N}``, N in the sandbox's pid namespace; a kernel
    still running is killed first), ``{"op": "poll"}`` (``{"exit": None | status}``),
    ``{"op": "ping"}``. The socket closing ends the server.
    """
    _, libc = _libc()
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # no kernel may read or write our memory
    sys.path.remove("/harness")
    _warm(WARM_MODULES)
    _warm(SERVER_MODULES)
    sys.path.insert(0, "/harness")
    import grader.harness.seccomp  # noqa: F401 - the child installs it after isolate()

    ctl = socket.socket(fileno=fd)
    server_pid = os.getpid()
    child: int | None = None
    exit_status: int | None = None
    probe = _probe_isolation(config)
    print(f"kernel fork server: pid {os.getpid()}, isolation probe: {probe}", file=sys.stderr,
          flush=True)
    ctl.send(json.dumps({"ready": os.getpid(), "threads": _threads(), "probe": probe}
                        ).encode())
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(ctl, _MAX_REQUEST, 1)
        except OSError:
            data, fds = b"", []
        if not data:
            break
        request = json.loads(data)
        op = request.get("op")
        if child is not None and exit_status is None:
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid:
                exit_status = os.waitstatus_to_exitcode(status)
        if op == "spawn":
            if child is not None and exit_status is None:  # one kernel at a time
                os.kill(child, 9)
                os.waitpid(child, 0)
            if _threads() != 1:
                answer = {"error": "the fork server has threads: no fork"}
            elif len(fds) != 1:
                answer = {"error": "a spawn request carries the kernel's log fd"}
            else:
                child, exit_status = os.fork(), None
                if child == 0:
                    _child(config, ctl, fds[0], str(request["conn"]),
                           [str(a) for a in request.get("args", [])], server_pid)
                answer = {"pid": child}
        elif op == "poll":
            answer = {"exit": exit_status if child is not None else 0}
        else:
            answer = {"pong": True}
        for extra_fd in fds:
            os.close(extra_fd)
        ctl.send(json.dumps(answer).encode())
    if child is not None and exit_status is None:
        os.kill(child, 9)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
