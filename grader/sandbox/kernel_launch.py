"""The host-side launcher of one sandboxed notebook kernel (trusted; light on imports).

The kernelspec of :mod:`grader.sandbox.kernel` starts
``python -I -c _BOOT REPO CONNECTION_FILE KERNEL_ROOT``, which runs :func:`main` here: stage
the read-only copies of the notebook folder's library files, copy the harness, set the
rlimits and ``exec`` bubblewrap. This module imports only the standard library and the
sandbox profile, never jupyter_client or traitlets (0.3-0.8 s of imports per kernel, paid
before bubblewrap could even start); the kernel manager and the kernelspec live in
:mod:`grader.sandbox.kernel`, which re-exports the names below.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path, PurePosixPath

from grader.sandbox.files import copy_allowed
from grader.sandbox.profile import (
    SANDBOX_UID,
    Limits,
    base_binds,
    base_env,
    copy_harness,
    find_bwrap,
    nproc_limit,
    profile_command,
    runs_as_root,
)

KERNEL_NAME = "cs231n-sandbox"
ROOT = Path(__file__).resolve().parents[2]
#: Address space of the notebook kernel (NumPy, matplotlib, a small ConvNet in training).
KERNEL_MEMORY_MB = 4096
#: CPU seconds over the kernel's life (each notebook has a kernel of its own).
KERNEL_CPU_S = 900
KERNEL_FSIZE_MB = 64
KERNEL_TMPFS_MB = 256
#: The kernel's working directory: a tmpfs this large (its disk quota there).
KERNEL_CWD_MB = 64
#: Threads and processes the kernel's uid may add (ipykernel runs a handful of threads).
KERNEL_NPROC = 128
#: Environment passed through from nbgrader (it marks autograde runs).
PASS_ENV = ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING")
#: What of the notebook folder the kernel gets (read-only copies): these folders, these suffixes.
EXPOSED_DIRS = ("cs231n_lib", "grader")
EXPOSED_SUFFIXES = (".py", ".npz", ".json", ".txt", ".md")
MAX_EXPOSED_FILE = 16 << 20
MAX_EXPOSED_TOTAL = 64 << 20
MAX_EXPOSED_FILES = 500
#: Inside the sandbox: the harness (privilege drop, seccomp, the kernel shim).
SANDBOX_HARNESS = "/harness"
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from grader.sandbox.kernel_launch import main; raise SystemExit(main(sys.argv[2:]))")


def stage_exposed_files(folder: Path, dst: Path) -> list[str]:
    """Copy what the kernel may see of ``folder`` into ``dst``; return the relative paths.

    Only :data:`EXPOSED_DIRS`, only regular files with :data:`EXPOSED_SUFFIXES`, within the
    size caps (:func:`grader.sandbox.files.copy_allowed`: no link followed, no FIFO opened).
    """

    def allowed(rel: PurePosixPath) -> bool:
        return rel.parts[0] in EXPOSED_DIRS and len(rel.parts) > 1 and (
            rel.suffix in EXPOSED_SUFFIXES)

    return copy_allowed(folder, dst, allowed, max_file=MAX_EXPOSED_FILE,
                        max_total=MAX_EXPOSED_TOTAL, max_files=MAX_EXPOSED_FILES).copied


def _kernel_profile(cwd: str, *, exposed: Path | None, harness: Path | None,
                    exposed_at: str | None) -> tuple[list[str], dict[str, str]]:
    """The mounts (before the kernel's own) and the environment every kernel sandbox shares.

    ``cwd`` becomes a fresh tmpfs; ``exposed``'s entries are bound read-only under it, or
    (``exposed_at``, the fork server) the whole of ``exposed`` at that path instead.
    """
    ro = list(base_binds())
    if not any(sys.prefix == p or sys.prefix.startswith(p + "/") for p in ro):
        ro.append(sys.prefix)  # the venv itself (pyvenv.cfg, bin/python)
    mounts: list[str] = []
    for path in ro:
        mounts += ["--ro-bind", path, path]
    mounts += ["--ro-bind-try", "/etc/fonts", "/etc/fonts"]  # matplotlib text, nothing secret
    mounts += ["--perms", "0777", "--size", str(KERNEL_CWD_MB << 20), "--tmpfs", cwd]
    if exposed is not None and exposed_at is not None:
        mounts += ["--ro-bind", str(exposed), exposed_at]
    elif exposed is not None:
        for entry in sorted(os.listdir(exposed)):
            mounts += ["--ro-bind", str(exposed / entry), os.path.join(cwd, entry)]
    if harness is not None:
        mounts += ["--ro-bind", str(harness), SANDBOX_HARNESS]
    env = {
        **base_env("/tmp"),
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    env.update({k: os.environ[k] for k in PASS_ENV if k in os.environ})
    return mounts, env


def _shim_argv(config: dict, as_root: bool | None, args: list[str]) -> list[str]:
    shim = f"{SANDBOX_HARNESS}/grader/harness/kernel_shim.py"
    nproc = nproc_limit(Limits(nproc=KERNEL_NPROC)) if (
        runs_as_root() if as_root is None else as_root) else 0
    return [sys.executable, "-s", shim, json.dumps({"nproc": nproc, **config}), *args]


def kernel_command(
    connection_file: str,
    cwd: str,
    bwrap: str,
    kernel_args: list[str] | None = None,
    *,
    exposed: Path | None = None,
    harness: Path | None = None,
    as_root: bool | None = None,
) -> list[str]:
    """The ``bwrap … python /harness/…/kernel_shim.py CONN [ARGS]`` command line.

    ``exposed`` holds the read-only copies (:func:`stage_exposed_files`), bound under the
    tmpfs that stands at ``cwd``; ``harness`` a copy of :mod:`grader.harness`.
    """
    conn = os.path.realpath(connection_file)
    cwd = os.path.realpath(cwd)
    mounts, env = _kernel_profile(cwd, exposed=exposed, harness=harness, exposed_at=None)
    mounts += ["--bind", os.path.dirname(conn), os.path.dirname(conn)]
    launch = _shim_argv({}, as_root, [conn, *(kernel_args or [])])
    return profile_command(bwrap, mounts=mounts, chdir=cwd, env=env, argv=launch,
                           tmpfs_mb=KERNEL_TMPFS_MB, as_root=as_root)


#: Where the kernel fork server sees the read-only copies of the exposed files (each forked
#: kernel binds them under its own tmpfs at the notebook folder's path, then hides this).
FORK_SERVER_EXPOSED = "/exposed"


def fork_server_command(
    conns: str,
    cwd: str,
    bwrap: str,
    fd: int,
    *,
    exposed: Path,
    harness: Path,
    as_root: bool | None = None,
) -> list[str]:
    """The ``bwrap … kernel_shim.py CONFIG --fork-server FD`` command of a kernel fork server.

    The same profile as :func:`kernel_command`, but instead of one kernel's connection
    directory, ``conns`` (the parent of the connection directories of the job's forked
    kernels, each of which hides all but its own) is bound writable, and ``exposed`` is
    whole at :data:`FORK_SERVER_EXPOSED`. ``fd``: the server's end of its Unix socket.
    """
    conns, cwd = os.path.realpath(conns), os.path.realpath(cwd)
    mounts, env = _kernel_profile(cwd, exposed=exposed, harness=harness,
                                  exposed_at=FORK_SERVER_EXPOSED)
    mounts += ["--bind", conns, conns]
    config = {"cwd": cwd, "conns": conns, "exposed": FORK_SERVER_EXPOSED,
              "cwd_mb": KERNEL_CWD_MB, "tmp_mb": KERNEL_TMPFS_MB}
    launch = _shim_argv(config, as_root, ["--fork-server", str(fd)])
    return profile_command(bwrap, mounts=mounts, chdir=cwd, env=env, argv=launch,
                           tmpfs_mb=KERNEL_TMPFS_MB, as_root=as_root)


def _set_limits() -> None:
    for res, value in (
        (resource.RLIMIT_AS, KERNEL_MEMORY_MB << 20),
        (resource.RLIMIT_CPU, KERNEL_CPU_S),
        (resource.RLIMIT_FSIZE, KERNEL_FSIZE_MB << 20),
        (resource.RLIMIT_CORE, 0),
    ):
        # Never above an inherited hard limit (raising it would fail and stop the kernel).
        hard = resource.getrlimit(res)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(res, (value, value))


#: How a kernel's or the fork server's console log is opened: created here, never through a
#: link (O_EXCL, O_NOFOLLOW), out of the kernel's reach (cell outputs travel over the ipc
#: sockets, unaffected).
LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _exec_logged(command: list[str], log_path: Path) -> None:
    """Set the kernel rlimits, send stdout/stderr to ``log_path`` and exec ``command``."""
    _set_limits()
    log = os.open(log_path, LOG_FLAGS, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.execv(command[0], command)


def _private_dir(connection_file: str, kernel_root: str) -> Path | None:
    """The kernel's private directory, if the connection file sits where
    :class:`SandboxKernelManager` puts it (``<kernel_root>/k-*/conn/kernel.json``)."""
    conn = Path(os.path.realpath(connection_file))
    kdir = conn.parent.parent
    if conn.parent.name != "conn" or not kdir.name.startswith("k-"):
        return None
    if kdir.parent != Path(os.path.realpath(kernel_root)):
        return None
    return kdir


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print("usage: grader.sandbox.kernel CONNECTION_FILE KERNEL_ROOT [KERNEL ARGS]",
              file=sys.stderr)
        return 2
    connection_file, kernel_root, extra = argv[0], argv[1], argv[2:]
    bwrap = find_bwrap()
    if bwrap is None:
        print("grader.sandbox.kernel: bubblewrap (bwrap) not found", file=sys.stderr)
        return 3
    kdir = _private_dir(connection_file, kernel_root)
    if kdir is None:
        print("grader.sandbox.kernel: the connection file is not in a private kernel "
              "directory (use SandboxKernelManager)", file=sys.stderr)
        return 2
    exposed = kdir / "files"
    stage_exposed_files(Path(os.getcwd()), exposed)
    harness = copy_harness(kdir / "harness")
    if runs_as_root():
        # The kernel becomes uid 65534 inside: it must own its sockets' directory and read
        # its connection file. Both were made by our kernel manager a moment ago.
        conn_dir = Path(os.path.realpath(connection_file)).parent
        os.chown(conn_dir, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)
        os.chown(os.path.realpath(connection_file), SANDBOX_UID, SANDBOX_UID,
                 follow_symlinks=False)
        for path in (kdir, harness):
            path.chmod(0o755)
    # Extra arguments come from nbgrader's Execute.extra_arguments (trusted config).
    command = kernel_command(connection_file, os.getcwd(), bwrap, extra, exposed=exposed,
                             harness=harness)
    # exec: the kernel manager's process *is* bwrap, so killing it kills the kernel.
    _exec_logged(command, kdir / "kernel.log")
    return 0  # not reached


def fork_server_main(argv: list[str]) -> int:
    """``ZDIR FD``: start a kernel fork server for the working directory (never returns).

    ``ZDIR`` (made by :class:`grader.sandbox.kernel_fork.KernelForkServer`) receives
    ``files/`` (the staged exposed files), ``harness/`` and ``server.log``; ``ZDIR/conns``
    already exists. ``FD`` is the server's end of its socket, inherited.
    """
    zdir, fd = Path(argv[0]), int(argv[1])
    bwrap = find_bwrap()
    if bwrap is None:
        print("grader.sandbox.kernel: bubblewrap (bwrap) not found", file=sys.stderr)
        return 3
    exposed = zdir / "files"
    stage_exposed_files(Path(os.getcwd()), exposed)
    harness = copy_harness(zdir / "harness")
    if runs_as_root():
        os.chown(zdir / "conns", SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)
        for path in (zdir, harness):
            path.chmod(0o755)
    command = fork_server_command(str(zdir / "conns"), os.getcwd(), bwrap, fd,
                                  exposed=exposed, harness=harness)
    # The limits are inherited by every forked kernel (RLIMIT_CPU counts per process).
    _exec_logged(command, zdir / "server.log")
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
