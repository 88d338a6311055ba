"""A Jupyter kernel inside bubblewrap, for nbgrader's autograde of untrusted notebooks.

Stock nbgrader runs a submission's notebooks in an ordinary kernel, which can read the
instructor's source notebooks (hidden tests), other students' work and ``gradebook.db``, and
leave symlinks or FIFOs in the folder nbgrader writes next. Here every kernel gets a private
directory of its own (:class:`SandboxKernelManager`) and sees only:

* the Python install, read-only;
* a fresh, size-capped tmpfs as its working directory (the real notebook folder's path), with
  read-only copies of the folder's library files (``cs231n_lib/``, ``grader/``: regular files
  only, no notebook: the ones nbgrader already graded hold the restored hidden tests). What the
  kernel writes there vanishes with it: nothing of the kernel ever reaches the real folder;
* its own connection directory (connection file and ``ipc`` sockets), fresh per kernel;
* a private ``/tmp``; no network, no capabilities; as root it becomes uid 65534 before any
  notebook code runs; seccomp (no processes, no network sockets); rlimits on memory, CPU
  time, file size and processes.

Wiring (nbclient 0.11, jupyter_client 8, bubblewrap 0.8): nbgrader's ``Execute`` uses
:class:`SandboxKernelManager` (``kernel_manager_class``) with the ``ipc`` transport (TCP would
need the network namespace) and a kernelspec whose argv starts this module with ``python -I``
from the repository's absolute path (never from the notebook folder, which a submission
controls). The kernelspec asks for ``interrupt_mode = "message"``: a SIGINT sent to bubblewrap
never reaches the kernel, and nbgrader interrupts a cell that runs past its timeout.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path, PurePosixPath

from jupyter_client.manager import AsyncKernelManager
from traitlets import Unicode

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
         "from grader.sandbox.kernel import main; raise SystemExit(main(sys.argv[2:]))")


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager that gives every kernel a fresh private directory.

    ``<kernel_root>/k-XXXX/conn/`` holds the connection file and the ``ipc`` sockets (the
    only host directory the kernel can write to); the launcher keeps its log and the copies
    of the library files beside it, out of the kernel's reach. A kernel can therefore never
    prepare anything for the next kernel or for the trusted code that writes the next file.
    """

    kernel_root = Unicode("", config=True, help="Directory for the per-kernel directories.")

    async def _async_pre_start_kernel(self, **kw):  # type: ignore[override]
        root = self.kernel_root or tempfile.gettempdir()
        os.makedirs(root, mode=0o700, exist_ok=True)
        kdir = Path(tempfile.mkdtemp(prefix="k-", dir=root))
        conn = kdir / "conn"
        conn.mkdir(mode=0o700)
        self._private_dir = kdir
        self.transport = "ipc"
        self.connection_file = str(conn / "kernel.json")
        self.ip = str(conn / "ipc")
        return await super()._async_pre_start_kernel(**kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        kdir = getattr(self, "_private_dir", None)
        if kdir is not None and not restart:
            shutil.rmtree(kdir, ignore_errors=True)  # rmtree never follows symlinks


def grading_config_lines(kernel_root: Path) -> str:
    """Lines for a scratch ``nbgrader_config.py`` that make autograde use this kernel."""
    kernel_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return (
        f"\n# Sandboxed kernel (grader.sandbox.kernel)\n"
        f"c.Execute.kernel_name = {KERNEL_NAME!r}\n"
        f'c.Execute.kernel_manager_class = "grader.sandbox.kernel.SandboxKernelManager"\n'
        f"c.SandboxKernelManager.kernel_root = {str(kernel_root)!r}\n"
        f'c.KernelManager.transport = "ipc"\n'
    )


def write_kernelspec(jupyter_dir: Path, kernel_root: Path) -> Path:
    """Install the sandboxed kernelspec under ``jupyter_dir/kernels`` (add it to JUPYTER_PATH).

    The launcher starts isolated: ``python -I`` (no current directory, no ``PYTHONPATH``, no
    user site) with the repository's absolute path as its only addition to ``sys.path``.
    """
    spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-I", "-c", _BOOT, str(ROOT), "{connection_file}",
                 str(kernel_root)],
        "display_name": "Python 3 (sandboxed for grading)",
        "language": "python",
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


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
    conn_dir = os.path.dirname(conn)
    cwd = os.path.realpath(cwd)
    ro = list(base_binds())
    if not any(sys.prefix == p or sys.prefix.startswith(p + "/") for p in ro):
        ro.append(sys.prefix)  # the venv itself (pyvenv.cfg, bin/python)
    mounts: list[str] = []
    for path in ro:
        mounts += ["--ro-bind", path, path]
    mounts += ["--ro-bind-try", "/etc/fonts", "/etc/fonts"]  # matplotlib text, nothing secret
    mounts += ["--bind", conn_dir, conn_dir]
    mounts += ["--perms", "0777", "--size", str(KERNEL_CWD_MB << 20), "--tmpfs", cwd]
    if exposed is not None:
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
    shim = f"{SANDBOX_HARNESS}/grader/harness/kernel_shim.py"
    nproc = nproc_limit(Limits(nproc=KERNEL_NPROC)) if (
        runs_as_root() if as_root is None else as_root) else 0
    launch = [sys.executable, "-s", shim, json.dumps({"nproc": nproc}), conn,
              *(kernel_args or [])]
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
    _set_limits()
    # The kernel's console chatter goes to a log in its private directory, out of its reach
    # (cell outputs travel over the ipc sockets, unaffected). O_EXCL: never through a link.
    log = os.open(kdir / "kernel.log",
                  os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    # exec: the kernel manager's process *is* bwrap, so killing it kills the kernel.
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
