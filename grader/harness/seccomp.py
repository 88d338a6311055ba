"""The system-call filter every sandboxed program installs before running student code.

No new processes (fork, vfork, clone without CLONE_THREAD, exec), no sockets but AF_UNIX, no
namespaces, mounts, ptrace, BPF, keyrings or io_uring; ``clone3`` answers ENOSYS so that glibc
falls back to ``clone`` for threads. Classic BPF built by hand (x86-64 only; elsewhere the
filter is not installed and the status line says so). Standard library only.

``own_process_only`` (a process forked by a fork server: a library worker by the zygote,
:mod:`grader.harness.zygote`, or a notebook kernel by the kernel fork server,
:mod:`grader.harness.kernel_shim`) adds: signals only to the process itself or its own
process group (``kill``, ``tgkill``, ``rt_sigqueueinfo``, ``rt_tgsigqueueinfo``; ``tkill`` and
the pidfd calls are refused), no ``F_SETOWN``/``FIOSETOWN`` (a SIGIO sent elsewhere), no
changing another process's limits or CPU affinity (``prlimit64``, ``sched_setaffinity`` only
for pid 0 or itself; ``setpriority``, ``ioprio_set``, ``kcmp``, ``process_madvise`` refused), and no
SysV IPC or POSIX message queues (their objects outlive the process that made them). The
server and the previous child run as the same uid, so without these a child could stop,
starve or signal them. Every filter refuses the new mount API (``fsopen``, ``move_mount``,
``open_tree``, ...): a forked child's mounts are its isolation.
"""

from __future__ import annotations

import platform
import struct
import sys

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
    # the new mount API (a forked notebook kernel has capabilities in a user namespace of its
    # own; they reach no mount, and these calls are refused anyway)
    428: "open_tree", 429: "move_mount", 430: "fsopen", 431: "fsconfig", 432: "fsmount",
    433: "fspick", 442: "mount_setattr",
}
_CLONE, _CLONE3, _SOCKET = 56, 435, 41
# With ``own_process_only``: refused outright ...
_DENY_OTHERS = {
    200: "tkill", 434: "pidfd_open", 424: "pidfd_send_signal", 438: "pidfd_getfd",
    141: "setpriority", 251: "ioprio_set", 312: "kcmp", 440: "process_madvise",
    29: "shmget", 30: "shmat", 31: "shmctl", 67: "shmdt", 64: "semget", 65: "semop",
    66: "semctl", 220: "semtimedop", 68: "msgget", 69: "msgsnd", 70: "msgrcv", 71: "msgctl",
    240: "mq_open", 241: "mq_unlink", 242: "mq_timedsend", 243: "mq_timedreceive",
    244: "mq_notify", 245: "mq_getsetattr",
}
# ... allowed only when their first argument is the caller's own pid, or minus it (its own
# process group: ipykernel interrupts itself with killpg; a process that cannot fork is alone
# in a group it leads, and a group it does not lead has no number equal to its pid) ...
_OWN_PID_ONLY = {62: "kill", 234: "tgkill", 129: "rt_sigqueueinfo", 297: "rt_tgsigqueueinfo"}
# ... or, where the kernel reads 0 as "the caller", 0. (``sched_setscheduler``,
# ``sched_setparam`` and ``sched_setattr`` stay allowed: a notebook kernel's threads use them
# on their own thread ids, which a filter cannot tell from another process's pid; at worst a
# child makes its own server slower, which costs only its own submission's time.)
_OWN_PID_OR_ZERO = {302: "prlimit64", 203: "sched_setaffinity"}
# ... and no asking the kernel to send another process SIGIO/SIGURG for a file.
_FCNTL, _IOCTL = 72, 16
_F_SETOWN, _F_SETOWN_EX = 8, 15
_FIOSETOWN, _SIOCSPGRP = 0x8901, 0x8902
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


def seccomp_program(readonly_fs: bool = False, any_socket: bool = False,
                    own_pid: int | None = None) -> bytes:
    """The classic-BPF filter as ``struct sock_filter[]`` bytes (x86-64 only).

    ``own_pid`` (the pid of the process that will install it) confines signals, limits and
    scheduling calls to that process (or its own process group, for signals), refuses SysV
    IPC, message queues and ``F_SETOWN``/``FIOSETOWN`` (see the module docstring); ``None``
    leaves them alone.

    ``readonly_fs`` also refuses (EROFS) every call that creates, changes or removes a file,
    and opening a file for writing. ``any_socket`` lets every socket family through (the
    notebook kernel: libzmq aborts when it cannot make a TCP socket; its network namespace
    has nothing but its own loopback, so the namespace, not this filter, keeps it offline).
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
    if own_pid is not None:
        if not 0 < own_pid < 1 << 31:
            raise ValueError(f"own_pid must be a positive pid, got {own_pid}")
        for nr in sorted(_DENY_OTHERS):
            emit(jeq, nr, 0, 1)
            emit(ret, _RET_ERRNO | _EPERM)
        for nr in sorted(_OWN_PID_ONLY):
            emit(jeq, nr, 0, 5)
            emit(ld, 16)  # low half of args[0]: the kernel reads a pid_t (32 bits)
            emit(jeq, own_pid, 2, 0)
            emit(jeq, -own_pid & 0xFFFFFFFF, 1, 0)
            emit(ret, _RET_ERRNO | _EPERM)
            emit(ret, _RET_ALLOW)
        for nr in sorted(_OWN_PID_OR_ZERO):
            emit(jeq, nr, 0, 5)
            emit(ld, 16)
            emit(jeq, own_pid, 1, 0)
            emit(jeq, 0, 0, 1)
            emit(ret, _RET_ALLOW)
            emit(ret, _RET_ERRNO | _EPERM)
        for nr, cmds in ((_FCNTL, (_F_SETOWN, _F_SETOWN_EX)), (_IOCTL, (_FIOSETOWN, _SIOCSPGRP))):
            emit(jeq, nr, 0, 5)
            emit(ld, 24)  # low half of args[1]: the command
            emit(jeq, cmds[0], 1, 0)
            emit(jeq, cmds[1], 0, 1)
            emit(ret, _RET_ERRNO | _EPERM)
            emit(ret, _RET_ALLOW)
    if not any_socket:
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


def install_seccomp(readonly_fs: bool = False, any_socket: bool = False,
                    own_process_only: bool = False) -> str:
    """Install :func:`seccomp_program` on every thread; returns a status line.

    ``own_process_only`` confines signals and the like to this process (``os.getpid()`` now:
    install it after the last fork of this process's setup).
    """
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return f"seccomp: not installed (only x86-64 Linux, this is {platform.machine()})"
    import ctypes

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    import os

    code = seccomp_program(readonly_fs, any_socket, os.getpid() if own_process_only else None)
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
    sockets = "sockets only in its own network namespace" if any_socket else (
        "no network sockets")
    own = ", signals only to itself, no SysV IPC or message queues" if own_process_only else ""
    return f"seccomp: no processes, {sockets}{extra}{own}"


def die_with_parent() -> None:
    """PR_SET_PDEATHSIG(SIGKILL): without bubblewrap nothing else ends an orphaned worker."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)
