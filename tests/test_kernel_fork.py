"""grader.sandbox.kernel_fork: kernels forked by the job's fork server share nothing.

Real kernels (bubblewrap needed): a hostile notebook runs in a forked kernel and tries to
leave something for the next notebook's kernel (files, a FIFO and a symlink in its working
directory and ``/tmp``, a file in ``/dev/shm``, SysV shared memory, a file in its connection
directory) and to kill the fork server (its parent, pid 1, ``kill(-1)``, its process group,
a SIGIO owner); the next kernel, forked by the same server, sees none of it. When the server
fails, the next notebook's kernel starts in a bubblewrap of its own, with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from grader.sandbox import kernel as ks
from grader.sandbox import kernel_fork as kf

HOSTILE = r"""
import ctypes, json, os, signal
libc = ctypes.CDLL(None, use_errno=True)
def attempt(fn):
    try:
        fn()
        return "ok"
    except BaseException as exc:
        return type(exc).__name__ + (f":{exc.errno}" if getattr(exc, "errno", None) else "")
def sysv_shm():
    if libc.shmget(0x5EED, 4096, 0o1000 | 0o666) < 0:  # IPC_CREAT
        raise OSError(ctypes.get_errno(), "shmget")
def setown():
    import fcntl
    r, w = os.pipe()
    fcntl.fcntl(r, fcntl.F_SETOWN, os.getppid())
from ipykernel.connect import get_connection_file
conn_dir = os.path.dirname(get_connection_file())
out = {
    "cwd_file": attempt(lambda: open("left_by_a.txt", "w").write("x")),
    "cwd_fifo": attempt(lambda: os.mkfifo("left_fifo")),
    "cwd_link": attempt(lambda: os.symlink("/etc/passwd", "left_link")),
    "tmp_file": attempt(lambda: open("/tmp/left_by_a.txt", "w").write("x")),
    "tmp_fifo": attempt(lambda: os.mkfifo("/tmp/left_fifo")),
    "shm_file": attempt(lambda: open("/dev/shm/left_by_a", "w").write("x")),
    "conn_file": attempt(lambda: open(os.path.join(conn_dir, "left_by_a"), "w").write("x")),
    "sysv_shm": attempt(sysv_shm),
    "kill_parent": attempt(lambda: os.kill(os.getppid(), signal.SIGKILL)),
    "kill_init": attempt(lambda: os.kill(1, signal.SIGKILL)),
    "kill_all": attempt(lambda: os.kill(-1, signal.SIGKILL)),
    "kill_group0": attempt(lambda: os.kill(0, signal.SIGKILL)),
    "setown": attempt(setown),
    "parent_mem": attempt(lambda: open(f"/proc/{os.getppid()}/mem", "rb").read(1)),
    "conns_seen": sorted(os.listdir(os.path.dirname(conn_dir))),
    "own_signal": attempt(lambda: os.kill(os.getpid(), 0)),
    "caps": [line.split()[1] for line in open("/proc/self/status")
             if line.startswith(("CapEff", "CapPrm"))],
    "uid": os.getuid(),
}
print(json.dumps(out))
"""

LOOK = r"""
import json, os
from ipykernel.connect import get_connection_file
print(json.dumps({
    "cwd": sorted(os.listdir(".")),
    "tmp": sorted(os.listdir("/tmp")),
    "shm": sorted(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else [],
    "conn_dir": sorted(os.listdir(os.path.dirname(get_connection_file()))),
}))
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A notebook folder with a library file, a kernel root, the kernelspec on JUPYTER_PATH."""
    nb_dir = tmp_path / "autograded" / "ada" / "convnets"
    (nb_dir / "cs231n_lib").mkdir(parents=True)
    (nb_dir / "cs231n_lib" / "__init__.py").write_text("LEARNER = True\n")
    root = Path(tempfile.mkdtemp(prefix="cs231n-kf-"))  # short: socket paths <= 107 bytes
    monkeypatch.setenv("JUPYTER_PATH",
                       str(ks.write_kernelspec(tmp_path / "jupyter", root).parents[1]))
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    yield nb_dir, root
    kf.stop_fork_servers()
    shutil.rmtree(root, ignore_errors=True)


def _run(nb_dir: Path, root: Path, source: str) -> tuple[dict, object]:
    """Run one cell in a fresh sandboxed kernel; its printed JSON and the provisioner."""
    import nbformat
    from nbclient import NotebookClient
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    config.SandboxKernelManager.kernel_root = str(root)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    client = NotebookClient(nb, kernel_name=ks.KERNEL_NAME, timeout=60,
                            kernel_manager_class=ks.SandboxKernelManager, config=config,
                            resources={"metadata": {"path": str(nb_dir)}})
    seen: dict = {}

    def grab(**_) -> None:
        prov = client.km.provisioner
        seen["forked"] = prov.forked is not None
        seen["server"] = prov.fork_server

    client.on_cell_executed = grab
    client.execute()
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"], outputs
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream"
                   and o.name == "stdout")
    return json.loads(text.strip().splitlines()[-1]), seen


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_hostile_kernel_leaves_nothing_for_the_next_and_cannot_reach_the_server(
        bwrap, folder):
    nb_dir, root = folder
    got, first = _run(nb_dir, root, HOSTILE)
    assert first["forked"], "the kernel was not forked"
    # Inside its own world it may write; nothing of it reaches the host folder.
    for key in ("cwd_file", "cwd_fifo", "cwd_link", "tmp_file", "tmp_fifo", "shm_file",
                "conn_file"):
        assert got[key] == "ok", (key, got)
    assert sorted(p.name for p in nb_dir.iterdir()) == ["cs231n_lib"]
    # Neither SysV IPC nor signals to anyone but itself (seccomp: EPERM).
    for key in ("sysv_shm", "kill_parent", "kill_init", "kill_all", "kill_group0", "setown"):
        assert got[key] == "PermissionError:1" or got[key] == "OSError:1", (key, got)
    assert got["own_signal"] == "ok"
    assert got["caps"] == ["0000000000000000"] * 2 and got["uid"] == 65534, got
    assert got["parent_mem"].startswith(("PermissionError", "OSError")), got
    assert len(got["conns_seen"]) == 1, got  # its own connection directory only

    look, second = _run(nb_dir, root, LOOK)
    assert second["forked"] and second["server"] is first["server"]  # the server survived
    assert second["server"].alive()
    assert look["cwd"] == ["cs231n_lib"], look
    # Its /tmp holds its own IPython directory and the mount points of its folder and
    # connection directory (as in a bubblewrap of its own); nothing the first one left.
    assert not [n for n in look["tmp"] if n.startswith("left")] and look["shm"] == [], look
    assert ".ipython" in look["tmp"]
    assert "left_by_a" not in look["conn_dir"], look


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_failing_server_means_a_bubblewrap_of_its_own(bwrap, folder, monkeypatch, caplog):
    nb_dir, root = folder
    _, first = _run(nb_dir, root, "print('{}')")
    assert first["forked"]

    def refuse(self, connection_file, args):
        raise kf.ForkServerError("refused for the test")

    spawn = kf.KernelForkServer.spawn
    monkeypatch.setattr(kf.KernelForkServer, "spawn", refuse)
    with caplog.at_level(logging.WARNING, logger=kf.__name__):
        look, second = _run(nb_dir, root, LOOK)
    assert not second["forked"]
    assert "bubblewrap of its own" in caplog.text
    assert look["cwd"] == ["cs231n_lib"], look
    monkeypatch.setattr(kf.KernelForkServer, "spawn", spawn)

    # A server that died is replaced: the next kernel is forked by a new one.
    first["server"].proc.kill()
    first["server"].proc.wait()
    _, third = _run(nb_dir, root, "print('{}')")
    assert third["forked"] and third["server"] is not first["server"]


def test_host_pid_follows_the_namespace_pid_under_an_ancestor():
    me = os.getpid()
    # This process is its own namespace pid outside any pid namespace (NSpid has one entry):
    # nothing matches, rather than a wrong process.
    assert kf._host_pid(os.getppid(), me) is None


@pytest.mark.skipif(not (os.uname().sysname == "Linux" and os.uname().machine == "x86_64"),
                    reason="the seccomp filter is x86-64 Linux only")
def test_own_process_only_lets_a_process_signal_itself_and_nothing_else():
    """In a forked child of the test: the filter as a forked kernel installs it."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - reported through the pipe
        code = 0
        try:
            import ctypes
            import fcntl
            import signal

            from grader.harness.seccomp import install_seccomp

            os.setsid()
            status = install_seccomp(any_socket=True, own_process_only=True)
            libc = ctypes.CDLL(None, use_errno=True)

            def errno_of(fn) -> int:
                try:
                    fn()
                    return 0
                except OSError as exc:
                    return exc.errno or -1

            def shm() -> None:
                if libc.shmget(0x5EEE, 4096, 0o1000 | 0o600) < 0:
                    raise OSError(ctypes.get_errno(), "shmget")

            got = {
                "status": "signals only to itself" in status,
                "self": errno_of(lambda: os.kill(os.getpid(), 0)),
                "own_group": errno_of(lambda: os.killpg(os.getpid(), 0)),
                "parent": errno_of(lambda: os.kill(os.getppid(), 0)),
                "all": errno_of(lambda: os.kill(-1, 0)),
                "group0": errno_of(lambda: os.kill(0, 0)),
                "raise": errno_of(lambda: signal.pthread_kill(__import__("threading")
                                                              .get_ident(), 0)),
                "shm": errno_of(shm),
                "setown": errno_of(lambda: fcntl.fcntl(read, fcntl.F_SETOWN, os.getppid())),
                "getown": errno_of(lambda: fcntl.fcntl(read, fcntl.F_GETOWN)),
            }
            os.write(write, json.dumps(got).encode())
        except BaseException as exc:  # noqa: BLE001
            os.write(write, json.dumps({"error": repr(exc)}).encode())
            code = 1
        os._exit(code)
    os.close(write)
    data = os.read(read, 4096)
    os.waitpid(pid, 0)
    os.close(read)
    got = json.loads(data)
    assert got == {"status": True, "self": 0, "own_group": 0, "parent": 1, "all": 1,
                   "group0": 1, "raise": 0, "shm": 1, "setown": 1, "getown": 0}, got


def test_the_folder_state_sees_exposed_files_only(tmp_path):
    """A server staged the exposed files once: a change to them means a new server; the
    notebooks nbgrader writes between kernels do not."""
    (tmp_path / "cs231n_lib").mkdir()
    lib = tmp_path / "cs231n_lib" / "conv.py"
    lib.write_text("x = 1\n")
    before = kf._folder_state(str(tmp_path))
    (tmp_path / "00_history.ipynb").write_text("{}")
    (tmp_path / "cs231n_lib" / "notes.bin").write_bytes(b"\0")
    assert kf._folder_state(str(tmp_path)) == before
    lib.write_text("x = 22\n")
    assert kf._folder_state(str(tmp_path)) != before


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_server_that_cannot_start_means_a_bubblewrap_of_its_own(bwrap, folder, monkeypatch,
                                                                   caplog):
    """E.g. its isolation probe failed (no user namespaces here): never an unsandboxed kernel."""
    nb_dir, root = folder

    def cannot(self, cwd, kernel_root):
        raise kf.ForkServerError("a forked kernel cannot isolate itself here: (test)")

    monkeypatch.setattr(kf.KernelForkServer, "__init__", cannot)
    with caplog.at_level(logging.WARNING, logger=kf.__name__):
        look, seen = _run(nb_dir, root, LOOK)
    assert not seen["forked"] and seen["server"] is None
    assert "not started" in caplog.text and "bubblewrap of their own" in caplog.text
    assert look["cwd"] == ["cs231n_lib"], look
