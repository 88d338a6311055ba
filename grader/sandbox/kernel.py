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

Two ways to get there, the same rules either way:

* **forked** (the default, ``SandboxKernelManager.fork_server``): the grading job keeps one
  sandbox per notebook folder, the kernel fork server (:mod:`grader.sandbox.kernel_fork`),
  which has done the imports (NumPy, matplotlib, IPython, ipykernel) once, as uid 65534,
  with no thread, socket or zmq context. Each notebook's kernel is forked from it and, before
  anything else, makes a user, mount and IPC namespace of its own: a fresh tmpfs at the
  folder's path with read-only binds of the exposed files, a fresh ``/tmp`` and
  ``/dev/shm``, and of the connection directories (``<kernel_root>/z-*/conns/c-*``) only its
  own; a second user namespace then leaves it no capability over those mounts (and it
  drops the ones that namespace gave it), and its seccomp filter also refuses signals to
  any process but itself, SysV IPC and message queues (it cannot stop or reach the server,
  or leave anything for the next kernel). One kernel at a time; the server runs no
  notebook code. Ready in ~0.2 s instead of ~1 s.
* **a bubblewrap of its own** (``fork_server = False``; or whenever the server cannot be
  started, died, or refuses: a warning says so, and the job goes on): the launcher
  (:mod:`grader.sandbox.kernel_launch`) stages the exposed files into ``<kernel_root>/k-*/``
  and execs bubblewrap around the kernel shim.

Wiring (nbclient 0.11, jupyter_client 8, bubblewrap 0.8): nbgrader's ``Execute`` uses
:class:`SandboxKernelManager` (``kernel_manager_class``) with the ``ipc`` transport (TCP would
need the network namespace) and a kernelspec whose argv starts the launcher
(:mod:`grader.sandbox.kernel_launch`) with ``python -I`` from the repository's absolute path
(never from the notebook folder, which a submission controls); forked kernels come through
:class:`grader.sandbox.kernel_fork.ForkedKernelProvisioner`, which the manager sets itself
(no entry point), so nbgrader's ``Execute`` sees an ordinary kernel manager.
:class:`SandboxKernelClient` polls the kernel_info handshake in short slices. The kernelspec
asks for ``interrupt_mode = "message"``: a SIGINT sent to bubblewrap
never reaches the kernel, and nbgrader interrupts a cell that runs past its timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, DottedObjectName, Type, Unicode, default

from grader.sandbox.kernel_launch import (  # noqa: F401 - the kernel's names, in one place
    _BOOT,
    EXPOSED_DIRS,
    EXPOSED_SUFFIXES,
    KERNEL_CPU_S,
    KERNEL_CWD_MB,
    KERNEL_FSIZE_MB,
    KERNEL_MEMORY_MB,
    KERNEL_NAME,
    KERNEL_NPROC,
    KERNEL_TMPFS_MB,
    PASS_ENV,
    ROOT,
    SANDBOX_HARNESS,
    kernel_command,
    main,
    stage_exposed_files,
)

#: The handshake (nbclient's ``wait_for_ready``): how often it looks for the kernel_info
#: reply, how long it waits for an IOPub message after it, and after how long without a reply
#: it asks again (jupyter_client 8: it waits 1 s per ask, then 0.2 s for IOPub, and its final
#: flush of IOPub costs 0.2 s every time). A status message of the handshake that arrives
#: after the flush is harmless: nbclient matches every output to the request it answers.
HANDSHAKE_POLL_S = 0.02
HANDSHAKE_IOPUB_S = 0.02
HANDSHAKE_RESEND_S = 1.0
#: How soon a client socket tries again to connect to a kernel socket that is not bound yet
#: (libzmq: 100 ms; the client connects as soon as the kernel is launched, a forked kernel
#: binds a few tens of milliseconds later). A retry is one connect() on a Unix socket path.
RECONNECT_IVL_MS = 5


class SandboxKernelClient(AsyncKernelClient):
    """jupyter_client's asynchronous client with a handshake that polls in short slices.

    ``wait_for_ready`` follows jupyter_client 8's loop (ask kernel_info, wait for the reply,
    check that IOPub is connected, else ask again; flush IOPub), but looks for the reply every
    :data:`HANDSHAKE_POLL_S` while asking only every :data:`HANDSHAKE_RESEND_S` (a request
    sent before the kernel binds waits in the client's queue: it is not lost), so a kernel
    that is ready is seen within tens of milliseconds instead of up to 0.4-1.2 s later.
    """

    def _context_default(self) -> zmq.asyncio.Context:
        """The client's own context (as jupyter_client's), whose sockets retry a connection to
        a kernel socket not bound yet every :data:`RECONNECT_IVL_MS`."""
        self._created_context = True
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
        return context

    async def wait_for_ready(self, timeout: float | None = None) -> None:  # type: ignore[override]
        from queue import Empty

        now = time.monotonic
        deadline = now() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            asked = now()
            reply = None
            while reply is None and now() - asked < HANDSHAKE_RESEND_S:
                try:
                    msg = await self.shell_channel.get_msg(timeout=HANDSHAKE_POLL_S)
                except Empty:
                    if not await self._async_is_alive():
                        raise RuntimeError("Kernel died before replying to kernel_info") from None
                    if now() > deadline:
                        raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds"
                                           ) from None
                    continue
                if msg["msg_type"] == "kernel_info_reply":
                    reply = msg
            if reply is None:
                continue
            try:  # IOPub connected? (its subscription can lag the shell socket)
                await self.iopub_channel.get_msg(timeout=HANDSHAKE_IOPUB_S)
            except Empty:
                continue
            self._handle_kernel_info_reply(reply)
            break
        while True:  # flush the handshake's IOPub messages
            try:
                await self.iopub_channel.get_msg(timeout=HANDSHAKE_IOPUB_S)
            except Empty:
                break


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager that gives every kernel a fresh private directory.

    ``<kernel_root>/k-XXXX/conn/`` (a bubblewrap kernel) or the fork server's
    ``<kernel_root>/z-XXXX/conns/c-XXXX/`` (a forked kernel) holds the connection file and the
    ``ipc`` sockets (the only host directory the kernel can write to); the launcher or the
    server keeps the logs and the copies of the library files elsewhere, out of its reach. A
    kernel can therefore never prepare anything for the next kernel or for the trusted code
    that writes the next file.
    """

    kernel_root = Unicode("", config=True, help="Directory for the per-kernel directories.")
    fork_server = Bool(True, config=True, help="Fork kernels from the job's kernel fork "
                       "server (grader.sandbox.kernel_fork) instead of a bubblewrap each.")
    client_class = DottedObjectName("grader.sandbox.kernel.SandboxKernelClient")
    client_factory = Type(SandboxKernelClient, klass=AsyncKernelClient, config=True)

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        """This manager's own context (as jupyter_client's), with a short reconnect interval
        for every socket it and its clients make (see :data:`RECONNECT_IVL_MS`)."""
        self._created_context = True
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
        return context

    def _new_private_dir(self) -> Path:
        """``<kernel_root>/k-XXXX/conn/``: the launcher's directory of a bubblewrap kernel."""
        root = self.kernel_root or tempfile.gettempdir()
        os.makedirs(root, mode=0o700, exist_ok=True)
        kdir = Path(tempfile.mkdtemp(prefix="k-", dir=root))
        conn = kdir / "conn"
        conn.mkdir(mode=0o700)
        self._private_dir = kdir
        return conn

    async def _async_pre_start_kernel(self, **kw):  # type: ignore[override]
        from grader.sandbox.kernel_fork import ForkedKernelProvisioner, fork_server_for

        server = None
        if self.fork_server:
            root = self.kernel_root or tempfile.gettempdir()
            os.makedirs(root, mode=0o700, exist_ok=True)
            server = fork_server_for(kw.get("cwd") or os.getcwd(), root)
        if server is not None:
            # <kernel_root>/z-XXXX/conns/c-XXXX/: the server's, each kernel sees its own only.
            conn = server.new_conn_dir()
            self._private_dir = conn
        else:
            conn = self._new_private_dir()
        self.transport = "ipc"
        self.connection_file = str(conn / "kernel.json")
        self.ip = str(conn / "ipc")
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = ForkedKernelProvisioner(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        self.provisioner.fork_server = server
        return await super()._async_pre_start_kernel(**kw)

    def own_sandbox_command(self, extra_arguments: list[str]) -> list[str]:
        """After the fork server failed: move to a private directory of the kernel's own
        (new connection file, same keys) and return the kernelspec's bubblewrap command."""
        forked_dir = self._private_dir
        conn = self._new_private_dir()
        self.connection_file = str(conn / "kernel.json")
        self.ip = str(conn / "ipc")
        self._connection_file_written = False
        self.write_connection_file()
        shutil.rmtree(forked_dir, ignore_errors=True)
        return self.format_kernel_cmd(extra_arguments=extra_arguments)

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


