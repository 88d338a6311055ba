"""The program that runs inside the sandbox: it imports the submission's ``cs231n_lib``
and performs recipes, one request at a time.

Started by :mod:`grader.sandbox.runner` as ``python -S -B worker.py '<json config>'`` with the
harness (this file, ``recipes.py``, ``transport.py``) and the submission on ``PYTHONPATH``.
It speaks to the trusted parent only over two dedicated pipe fds (config ``req``/``res``);
fd 1 and 2 belong to the student and go to a sink the parent caps.

Nothing this process sends is trusted: the student's code runs in it and may rewrite it.
The parent validates every frame, and compares outputs in its own process.

Before touching student code the worker installs a seccomp filter (x86-64) that forbids
creating processes (fork, vfork, exec, non-thread clone), non-Unix sockets, and namespace,
mount, ptrace and BPF calls. It is irreversible, and it also holds when the worker runs as
uid 0 outside the sandbox (where ``RLIMIT_NPROC`` does not bind).
"""

from __future__ import annotations

import json
import math
import platform
import resource
import struct
import sys
import time
import traceback
import types

# --------------------------------------------------------------------------- seccomp

_AUDIT_ARCH_X86_64 = 0xC000003E
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_EPERM, _EACCES, _ENOSYS = 1, 13, 38
_CLONE_THREAD = 0x00010000
_AF_UNIX = 1

# x86-64 system call numbers
_DENY_EPERM = {
    57: "fork", 58: "vfork", 59: "execve", 322: "execveat",
    272: "unshare", 308: "setns", 165: "mount", 166: "umount2", 155: "pivot_root",
    161: "chroot", 101: "ptrace", 310: "process_vm_readv", 311: "process_vm_writev",
    321: "bpf", 323: "userfaultfd", 298: "perf_event_open", 248: "add_key",
    249: "request_key", 250: "keyctl", 425: "io_uring_setup", 135: "personality",
}
_CLONE, _CLONE3, _SOCKET = 56, 435, 41
# With ``readonly_fs`` (the rlimits-only mode, where the host file system is visible):
_EROFS = 30
_OPEN, _OPENAT, _OPENAT2 = 2, 257, 437
_O_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000  # WRONLY RDWR CREAT TRUNC APPEND
_DENY_EROFS = {
    85: "creat", 87: "unlink", 263: "unlinkat", 82: "rename", 264: "renameat",
    316: "renameat2", 83: "mkdir", 258: "mkdirat", 84: "rmdir", 86: "link", 265: "linkat",
    88: "symlink", 266: "symlinkat", 90: "chmod", 91: "fchmod", 268: "fchmodat",
    92: "chown", 93: "fchown", 94: "lchown", 260: "fchownat", 76: "truncate",
    133: "mknod", 259: "mknodat", 132: "utime", 235: "utimes", 280: "utimensat",
    261: "futimesat", 188: "setxattr", 189: "lsetxattr", 190: "fsetxattr",
}


def seccomp_program(readonly_fs: bool = False) -> bytes:
    """The classic-BPF filter as ``struct sock_filter[]`` bytes (x86-64 only).

    ``readonly_fs`` also refuses (EROFS) every call that creates, changes or removes a file,
    and opening a file for writing.
    """
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    prog: list[tuple[int, int, int, int]] = []

    def emit(code: int, k: int, jt: int = 0, jf: int = 0) -> None:
        prog.append((code, jt, jf, k))

    emit(ld, 4)  # seccomp_data.arch
    emit(jeq, _AUDIT_ARCH_X86_64, 1, 0)
    emit(ret, _RET_KILL_PROCESS)
    emit(ld, 0)  # seccomp_data.nr
    emit(jge, 0x40000000, 0, 1)  # x32 ABI
    emit(ret, _RET_ERRNO | _ENOSYS)
    for nr in sorted(_DENY_EPERM):
        emit(jeq, nr, 0, 1)
        emit(ret, _RET_ERRNO | _EPERM)
    emit(jeq, _CLONE3, 0, 1)  # ENOSYS, so glibc falls back to clone for threads
    emit(ret, _RET_ERRNO | _ENOSYS)
    emit(jeq, _CLONE, 0, 4)
    emit(ld, 16)  # low half of args[0]: the clone flags
    emit(jset, _CLONE_THREAD, 0, 1)
    emit(ret, _RET_ALLOW)
    emit(ret, _RET_ERRNO | _EPERM)
    emit(jeq, _SOCKET, 0, 4)
    emit(ld, 16)  # socket family
    emit(jeq, _AF_UNIX, 0, 1)
    emit(ret, _RET_ALLOW)
    emit(ret, _RET_ERRNO | _EACCES)
    if readonly_fs:
        for nr in sorted(_DENY_EROFS):
            emit(jeq, nr, 0, 1)
            emit(ret, _RET_ERRNO | _EROFS)
        emit(jeq, _OPENAT2, 0, 1)
        emit(ret, _RET_ERRNO | _ENOSYS)
        for nr, offset in ((_OPEN, 24), (_OPENAT, 32)):  # the flags argument
            emit(jeq, nr, 0, 4)
            emit(ld, offset)
            emit(jset, _O_WRITE_FLAGS, 0, 1)
            emit(ret, _RET_ERRNO | _EROFS)
            emit(ret, _RET_ALLOW)
    emit(ret, _RET_ALLOW)
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


def install_seccomp(readonly_fs: bool = False) -> str:
    """Install :func:`seccomp_program` on every thread; returns a status line."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return f"seccomp: not installed (only x86-64 Linux, this is {platform.machine()})"
    import ctypes

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    code = seccomp_program(readonly_fs)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return f"seccomp: not installed (no_new_privs: errno {ctypes.get_errno()})"
    # seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog)
    rc = libc.syscall(ctypes.c_long(317), ctypes.c_long(1), ctypes.c_long(1), ctypes.byref(prog))
    if rc != 0:
        return f"seccomp: not installed (errno {ctypes.get_errno()})"
    extra = ", no file writes" if readonly_fs else ""
    return f"seccomp: no processes, no network sockets{extra}"


def die_with_parent() -> None:
    """PR_SET_PDEATHSIG(SIGKILL): without bubblewrap nothing else ends an orphaned worker."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)


# --------------------------------------------------------------------------- helpers


def _safe_str(exc: BaseException, limit: int = 2000) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:  # noqa: BLE001 - a hostile __str__
        text = f"{type(exc).__name__}: <unprintable>"
    return text[:limit]


def _safe_traceback(exc: BaseException, limit: int = 4000) -> str:
    try:
        frames = traceback.extract_tb(exc.__traceback__)[-6:]
        lines = [f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames]
        return "\n".join(lines)[-limit:]
    except BaseException:  # noqa: BLE001
        return ""


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _arm_cpu_limit(per_call: float) -> None:
    """Soft RLIMIT_CPU = CPU used so far + the per-call budget (never above the hard limit)."""
    if per_call <= 0:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(_cpu_used() + per_call)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass


class _Guard:
    """Undo the submission's monkeypatching of builtins and NumPy between calls.

    Nothing here protects the grade (comparison happens in the parent); it keeps one
    function's monkeypatching (``builtins.isinstance = ...``, ``np.allclose = ...``) from
    breaking the worker itself and the *other* functions of the same submission.
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self.modules = {name: sys.modules[name] for name in names if name in sys.modules}
        self.snapshots = {name: dict(vars(mod)) for name, mod in self.modules.items()}

    def restore(self) -> None:
        for name, mod in self.modules.items():
            sys.modules[name] = mod
            namespace, saved = vars(mod), self.snapshots[name]
            # Submodules imported since the snapshot (``numpy.random``) stay: removing the
            # attribute while sys.modules keeps the module sends NumPy's lazy __getattr__
            # into endless recursion on the next ``np.random``.
            added = [k for k in namespace if k not in saved]
            for key in added:
                if not isinstance(namespace[key], types.ModuleType):
                    del namespace[key]
            for key, value in saved.items():
                if namespace.get(key, _MISSING) is not value:
                    namespace[key] = value


_MISSING = object()
_GUARDED = ("builtins", "numpy", "numpy.linalg", "numpy.testing", "json", "struct", "zipfile",
            "io", "os", "sys", "math", "traceback", "resource", "time",
            "grader", "grader.harness", "grader.harness.recipes", "grader.harness.transport",
            "copy", "importlib")


# --------------------------------------------------------------------------- main


def serve(config: dict) -> int:
    import numpy  # noqa: F401  (imported before the student, and before seccomp)

    from grader.harness import privileges, recipes, transport

    req, res, nonce = int(config["req"]), int(config["res"]), str(config["nonce"])
    die_with_parent()
    # In the sandbox, as root: become uid 65534 (raises rather than run student code as root).
    # The rlimits-only fallback cannot: the host's Python may sit in a directory nobody
    # cannot read (/root), so that mode stays what it says it is, a weaker one.
    identity = privileges.drop_to() if config.get("drop_root") else "uid unchanged"
    readonly = bool(config.get("readonly_fs", False))
    status = install_seccomp(readonly) if config.get("seccomp", True) else "seccomp: disabled"
    if config.get("nproc"):
        n = int(config["nproc"])
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
        except (ValueError, OSError):
            pass
    transport.write_frame(res, {"status": "ready", "nonce": nonce, "seccomp": status,
                                "identity": identity, "python": sys.version.split()[0]})
    per_call = float(config.get("cpu_s", 0))
    guard = _Guard(_GUARDED + ("__main__",))
    while True:
        guard.restore()
        try:
            header, arrays = transport.read_frame(req)
        except transport.ChannelClosed:
            return 0
        if header.get("op") == "exit":
            return 0
        request_nonce = str(header.get("nonce", ""))
        reply: dict = {"nonce": request_nonce}
        outputs: dict = {}
        start = time.perf_counter()
        _arm_cpu_limit(per_call)
        try:
            recipe = transport.unpack_tree(header["recipe"], arrays)
            outputs = recipes.run_recipe(recipe)
            reply["status"] = "ok"
        except recipes.RecipeError as exc:
            reply.update(status="bad_output", error=_safe_str(exc))
        except MemoryError as exc:
            outputs = {}
            reply.update(status="memory", error=_safe_str(exc) or "MemoryError")
        except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
            reply.update(status="exception", error=_safe_str(exc),
                         traceback=_safe_traceback(exc))
        guard.restore()
        reply["seconds"] = time.perf_counter() - start
        try:
            transport.write_frame(res, reply, outputs)
        except transport.ChannelClosed:
            return 0
        except BaseException as exc:  # noqa: BLE001 - e.g. unsendable output
            transport.write_frame(res, {"nonce": request_nonce, "status": "bad_output",
                                        "error": _safe_str(exc)})


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    for path in config.get("site", []):
        if path not in sys.path:
            sys.path.append(path)
    return serve(config)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
