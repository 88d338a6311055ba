"""A Jupyter kernel inside bubblewrap, for nbgrader's autograde of untrusted notebooks.

Stock nbgrader runs a submission's notebooks in an ordinary kernel, which can read the
instructor's source notebooks (hidden tests), other students' work and ``gradebook.db``. The
kernel started here sees only: the Python install (read-only), its own notebook directory
(the scratch copy of the submission, writable), the directory of its connection file (where
the ``ipc`` sockets live) and a private ``/tmp``. No network, no capabilities, uid 65534,
rlimits on memory, CPU time and file size.

How it is wired (measured with nbclient 0.11 and bubblewrap 0.8): a kernelspec whose argv is
``python -m grader.sandbox.kernel {connection_file}``; the job sets
``KernelManager.transport = "ipc"`` (TCP would need the network namespace) and the
kernelspec asks for ``interrupt_mode = "message"``, because a SIGINT sent to bubblewrap
never reaches the kernel and nbgrader interrupts a cell that runs past its timeout.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path

from grader.sandbox.profile import base_binds, base_env, find_bwrap, profile_command

KERNEL_NAME = "cs231n-sandbox"
#: Address space of the notebook kernel (NumPy, matplotlib, a small ConvNet in training).
KERNEL_MEMORY_MB = 4096
#: CPU seconds over the kernel's life (all notebooks of one submission run in one kernel each).
KERNEL_CPU_S = 900
KERNEL_FSIZE_MB = 64
KERNEL_TMPFS_MB = 256
#: Environment passed through from nbgrader (it marks autograde runs).
PASS_ENV = ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING")


def grading_config_lines(runtime_dir: Path) -> str:
    """Lines for a scratch ``nbgrader_config.py`` that make autograde use this kernel."""
    runtime_dir.mkdir(parents=True, exist_ok=True)
    return (
        f"\n# Sandboxed kernel (grader.sandbox.kernel)\n"
        f"c.Execute.kernel_name = {KERNEL_NAME!r}\n"
        f'c.KernelManager.transport = "ipc"\n'
        f"c.KernelManager.connection_file = {str(runtime_dir / 'kernel.json')!r}\n"
    )


def write_kernelspec(jupyter_dir: Path) -> Path:
    """Install the sandboxed kernelspec under ``jupyter_dir/kernels`` (add it to JUPYTER_PATH)."""
    spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "grader.sandbox.kernel", "{connection_file}"],
        "display_name": "Python 3 (sandboxed for grading)",
        "language": "python",
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def kernel_command(
    connection_file: str, cwd: str, bwrap: str, kernel_args: list[str] | None = None
) -> list[str]:
    """The ``bwrap … python -m ipykernel_launcher -f CONN [ARGS]`` command line."""
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
    for path in (conn_dir, cwd):
        mounts += ["--bind", path, path]
    env = {
        **base_env("/tmp"),
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    env.update({k: os.environ[k] for k in PASS_ENV if k in os.environ})
    launch = [sys.executable, "-m", "ipykernel_launcher", "-f", conn, *(kernel_args or [])]
    return profile_command(bwrap, mounts=mounts, chdir=cwd, env=env, argv=launch,
                           tmpfs_mb=KERNEL_TMPFS_MB)


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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m grader.sandbox.kernel CONNECTION_FILE [KERNEL ARGS]",
              file=sys.stderr)
        return 2
    bwrap = find_bwrap()
    if bwrap is None:
        print("grader.sandbox.kernel: bubblewrap (bwrap) not found", file=sys.stderr)
        return 3
    # Extra arguments come from nbgrader's Execute.extra_arguments (trusted config).
    command = kernel_command(argv[0], os.getcwd(), bwrap, argv[1:])
    _set_limits()
    # The kernel's own console chatter goes to a log beside its connection file, not into
    # the grader's terminal (cell outputs travel over the ipc sockets, unaffected).
    log = os.open(os.path.splitext(argv[0])[0] + ".log",
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    # exec: the kernel manager's process *is* bwrap, so killing it kills the kernel.
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
