"""grader.sandbox.kernel: the bubblewrap kernel that runs submitted notebooks at autograde.

Two halves:

* unit tests of the command line (``kernel_command``), the kernelspec and the nbgrader
  config lines, which run everywhere;
* one real notebook executed by nbclient with the sandboxed kernelspec, wired exactly as
  ``grader.course.autograde._sandboxed_kernel`` wires nbgrader (kernel name, ``ipc`` transport, a
  connection file in a private runtime dir, ``JUPYTER_PATH``). The notebook sits in a
  course-like tree (a gradebook, the source notebooks with hidden tests, another student's
  work) and each cell is one attack or one thing a student legitimately needs; the tests read
  the outputs. It runs once per module (~6 s, one kernel, a 3 s timeout cell).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import stat
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

import pytest

from grader.course.release import GRADER, LIBRARY
from grader.sandbox import kernel as ks
from grader.sandbox.profile import SANDBOX_UID

SECRET_ENV = "CS231N_TEST_SECRET_TOKEN"
#: Where a broken sandbox would let the kernel write (harmless, uniquely named, removed after).
PROBE = f"cs231n-kernel-sandbox-probe-{os.getpid()}.txt"
WRITE_TARGETS = {
    "root": Path("/") / PROBE,
    "stdlib": Path(socket.__file__).parent / PROBE,
    "site_packages": Path(sysconfig.get_paths()["purelib"]) / PROBE,
    "venv": Path(sys.prefix) / PROBE,
}
LOOP_TIMEOUT_S = 3
CELL_TIMEOUT_S = 120
WATCHDOG_S = 240


# --------------------------------------------------------------------------- command line


def _pairs(cmd: list[str], option: str) -> list[tuple[int, str, str]]:
    """``(index, src, dest)`` of every two-argument ``option`` before ``--``."""
    end = cmd.index("--")
    return [(i, cmd[i + 1], cmd[i + 2]) for i in range(end) if cmd[i] == option]


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    conn_dir = tmp_path / "runtime"
    cwd = tmp_path / "autograded" / "alice" / "convnets"
    conn_dir.mkdir()
    cwd.mkdir(parents=True)
    return conn_dir, cwd


def test_kernel_command_profile(dirs, monkeypatch, tmp_path):
    conn_dir, cwd = dirs
    exposed = tmp_path / "files"
    (exposed / "cs231n_lib").mkdir(parents=True)
    harness = tmp_path / "harness"
    monkeypatch.setenv(SECRET_ENV, "hunter2")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    cmd = ks.kernel_command(str(conn_dir / "kernel.json"), str(cwd), "/usr/bin/bwrap",
                            ["--HistoryManager.enabled=False"], exposed=exposed,
                            harness=harness)
    end = cmd.index("--")
    opts = cmd[:end]
    assert cmd[0] == "/usr/bin/bwrap"

    # A private /tmp first, then the binds (a tmpfs after a bind under /tmp would hide it).
    tmpfs = [i for i in range(end) if cmd[i] == "--tmpfs" and cmd[i + 1] == "/tmp"]
    assert len(tmpfs) == 1
    binds = _pairs(cmd, "--bind") + _pairs(cmd, "--ro-bind")
    under_tmp = [i for i, _, dest in binds if _under(dest, "/tmp")]
    assert under_tmp, "the test dirs live under /tmp; their binds must be in the command"
    assert tmpfs[0] < min(under_tmp)

    # Writable on the host: exactly the kernel's own connection dir.
    assert {(src, dest) for _, src, dest in _pairs(cmd, "--bind")} == {
        (str(conn_dir), str(conn_dir))}
    # The notebook folder is a fresh size-capped tmpfs; the library copies sit on it, read-only.
    cwd_tmpfs = [i for i in range(end) if cmd[i] == "--tmpfs" and cmd[i + 1] == str(cwd)]
    assert len(cwd_tmpfs) == 1 and cmd[cwd_tmpfs[0] - 2] == "--size"
    assert any(s == str(exposed / "cs231n_lib") and d == str(cwd / "cs231n_lib")
               and i > cwd_tmpfs[0] for i, s, d in _pairs(cmd, "--ro-bind"))
    assert any(s == str(harness) and d == ks.SANDBOX_HARNESS for _, s, d in binds)
    for weaker in ("--dev-bind", "--dev-bind-try", "--bind-try", "--bind-fd"):
        assert weaker not in opts
    # Read-only binds never expose the repository: the reference library, the hidden cases.
    for _, src, _ in _pairs(cmd, "--ro-bind"):
        assert not _under(str(LIBRARY), src) and not _under(str(GRADER), src), src
        assert not _under(str(cwd), src)
    # Root read-only after every bind (a bind after it could not create its mount point).
    remount = opts.index("--remount-ro")
    assert opts[remount + 1] == "/" and remount > max(i for i, _, _ in binds)

    for flag in ("--die-with-parent", "--new-session", "--clearenv", "--unshare-net",
                 "--unshare-pid"):
        assert flag in opts or (flag.startswith("--unshare") and "--unshare-all" in opts), flag
    assert "--share-net" not in opts
    assert opts[opts.index("--cap-drop") + 1] == "ALL"
    if os.geteuid() == 0:  # no user namespace (it maps to root): the shim drops to 65534
        assert "--unshare-user" not in opts and "--uid" not in opts
        assert [opts[i + 1] for i in range(end) if opts[i] == "--cap-add"] == [
            "CAP_SETUID", "CAP_SETGID"]
    else:
        assert opts[opts.index("--uid") + 1] == str(SANDBOX_UID)
    assert opts[opts.index("--chdir") + 1] == str(cwd)

    # Environment: cleared, then a minimal set; nothing of the grader's leaks in.
    setenv = [i for i in range(end) if cmd[i] == "--setenv"]
    assert opts.index("--clearenv") < min(setenv)
    env = {cmd[i + 1]: cmd[i + 2] for i in setenv}
    assert SECRET_ENV not in env and "hunter2" not in cmd
    assert env["NBGRADER_EXECUTION"] == "autograde"
    assert env["HOME"] == env["TMPDIR"] == "/tmp"

    launch = cmd[end + 1:]
    assert launch[:3] == [sys.executable, "-s",
                          f"{ks.SANDBOX_HARNESS}/grader/harness/kernel_shim.py"]
    assert launch[4:] == [str(conn_dir / "kernel.json"), "--HistoryManager.enabled=False"]


def test_kernel_command_binds_real_paths_not_symlinks(dirs, tmp_path):
    conn_dir, cwd = dirs
    (tmp_path / "link-cwd").symlink_to(cwd)
    (tmp_path / "link-rt").symlink_to(conn_dir)
    cmd = ks.kernel_command(str(tmp_path / "link-rt" / "kernel.json"),
                            str(tmp_path / "link-cwd"), "bwrap")
    assert {dest for _, _, dest in _pairs(cmd, "--bind")} == {str(conn_dir)}
    assert cmd[cmd.index("--chdir") + 1] == str(cwd)
    assert str(conn_dir / "kernel.json") in cmd[cmd.index("--"):]


def test_grading_config_lines_configure_nbgrader(tmp_path):
    from traitlets.config import Config

    root = tmp_path / "it's a \"kernels\" dir"
    lines = ks.grading_config_lines(root)
    assert root.is_dir()
    c = Config()
    exec(compile("c = get_config()\n" + lines, "nbgrader_config.py", "exec"),
         {"get_config": lambda: c})
    assert c.Execute.kernel_name == ks.KERNEL_NAME
    assert c.Execute.kernel_manager_class == "grader.sandbox.kernel.SandboxKernelManager"
    assert c.SandboxKernelManager.kernel_root == str(root)
    assert c.KernelManager.transport == "ipc"


def test_kernelspec_starts_the_launcher_isolated(tmp_path, monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager

    spec_dir = ks.write_kernelspec(tmp_path / "jupyter", tmp_path / "kernels")
    assert spec_dir == tmp_path / "jupyter" / "kernels" / ks.KERNEL_NAME
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    spec = KernelSpecManager().get_kernel_spec(ks.KERNEL_NAME)
    # python -I: neither the notebook folder (the cwd) nor PYTHONPATH can supply a module.
    assert spec.argv[:3] == [sys.executable, "-I", "-c"]
    assert spec.argv[3:] == [spec.argv[3], str(ks.ROOT), "{connection_file}",
                             str(tmp_path / "kernels")]
    assert "-m" not in spec.argv
    assert spec.interrupt_mode == "message"  # SIGINT to bwrap would never reach the kernel
    assert spec.language == "python"


def test_main_refuses_without_arguments_without_bwrap_or_outside_its_dir(
        monkeypatch, capsys, tmp_path):
    assert ks.main([]) == 2
    from grader.sandbox import kernel_launch

    monkeypatch.setattr(kernel_launch, "find_bwrap", lambda: None)
    assert ks.main(["/nonexistent/kernel.json", str(tmp_path)]) == 3
    assert "bubblewrap" in capsys.readouterr().err
    monkeypatch.setattr(kernel_launch, "find_bwrap", lambda: "/usr/bin/bwrap")
    assert ks.main([str(tmp_path / "kernel.json"), str(tmp_path)]) == 2
    assert "private kernel directory" in capsys.readouterr().err


def test_exposed_files_are_regular_library_files_only(tmp_path):
    folder = tmp_path / "nb"
    (folder / "cs231n_lib").mkdir(parents=True)
    (folder / "grader" / "checks").mkdir(parents=True)
    (folder / "cs231n_lib" / "conv_naive.py").write_text("x = 1\n")
    (folder / "grader" / "checks" / "visible.py").write_text("y = 2\n")
    (folder / "00_history.ipynb").write_text("{\"hidden\": \"tests\"}")
    (folder / "cs231n_lib" / "link.py").symlink_to(tmp_path / "secret")
    (tmp_path / "secret").write_text("gradebook")
    os.mkfifo(folder / "cs231n_lib" / "pipe.py")
    (folder / "elsewhere.py").write_text("z = 3\n")
    got = ks.stage_exposed_files(folder, tmp_path / "out")
    assert sorted(got) == ["cs231n_lib/conv_naive.py", "grader/checks/visible.py"]
    assert not (tmp_path / "out" / "00_history.ipynb").exists()


# --------------------------------------------------------------------------- a real kernel

SETUP = """\
import json, os, socket
def attempt(fn):
    try:
        fn()
        return "ok"
    except BaseException as exc:
        errno = getattr(exc, "errno", None)
        return type(exc).__name__ + (f":{errno}" if errno else "")
def read(path):
    with open(path, "rb") as fh:
        fh.read()
def write(path):
    with open(path, "w") as fh:
        fh.write("pwned")
def connect(host, port):
    with socket.socket() as s:
        s.settimeout(5)
        s.connect((host, port))
"""


def _cells(tree: dict[str, Path], port: int) -> list[tuple[str, str]]:
    reads = {name: str(path) for name, path in tree.items() if name.startswith("read_")}
    reads = {**reads, "rel_gradebook": "../../../gradebook.db",
             "rel_source": "../../../source/convnets/03_parameter_sharing.ipynb",
             "etc_passwd": "/etc/passwd",
             # beside it: a notebook nbgrader already graded (hidden tests restored), a
             # symlink to the gradebook and a FIFO left in the folder (never followed/opened)
             "graded_notebook": "00_history.ipynb",
             "planted_link": "cs231n_lib/planted.py", "planted_fifo": "cs231n_lib/fifo.py"}
    writes = {"notebook_dir": "written_by_kernel.txt", "rel_gradebook": "../../../gradebook.db",
              **{k: str(v) for k, v in WRITE_TARGETS.items()}}
    return [
        ("setup", SETUP),
        ("reads", f"print(json.dumps({{k: attempt(lambda p=p: read(p))"
                  f" for k, p in {reads!r}.items()}}))"),
        ("imports", "print(json.dumps({'grader_hidden': attempt(lambda: __import__("
                    "'grader.course.hidden_cases'))}))"),
        ("writes", f"print(json.dumps({{k: attempt(lambda p=p: write(p))"
                   f" for k, p in {writes!r}.items()}}))"),
        ("escape", "import subprocess\n"
                   "print(json.dumps({"
                   "'link': attempt(lambda: os.symlink('../../../gradebook.db', '01_next.ipynb')),"
                   "'fork': attempt(os.fork),"
                   "'subprocess': attempt(lambda: subprocess.run(['true'])),"
                   "'quota': attempt(lambda: open('big.bin', 'wb').write(b'x' * (200 << 20))),"
                   "'library': attempt(lambda: read('cs231n_lib/__init__.py')),"
                   "'check_api': attempt(lambda: __import__('grader.checks.stub_api')),"
                   "'library_ro': attempt(lambda: write('cs231n_lib/__init__.py'))}))"),
        ("net", f"print(json.dumps({{'loopback': attempt(lambda: connect('127.0.0.1', {port})),"
                f" 'outside': attempt(lambda: connect('1.1.1.1', 53))}}))"),
        ("who", "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'cwd': os.getcwd(),"
                " 'pid': os.getpid(),"
                " 'env': sorted(os.environ), 'pids': len([p for p in os.listdir('/proc')"
                " if p.isdigit()])}))"),
        ("loop", "while True:\n    pass"),
        ("after_loop", "print('still running after the interrupted cell')"),
        ("memory", "import numpy as np\n"
                   "print(json.dumps({'alloc': attempt(lambda: np.ones(50 * 10**9, np.uint8))}))"),
        ("figure", "import matplotlib.pyplot as plt\n"
                   "fig, ax = plt.subplots()\nax.plot([0, 1], [1, 0])\nplt.show()"),
    ]


def _course_tree(base: Path) -> dict[str, Path]:
    """The scratch course autograde builds, plus the real course around it."""
    course = base / "course"
    scratch = course / ".autograde" / "alice"
    nb_dir = scratch / "autograded" / "alice" / "convnets"
    files = {
        "read_gradebook": scratch / "gradebook.db",
        "read_source": scratch / "source" / "convnets" / "03_parameter_sharing.ipynb",
        "read_course_gradebook": course / "gradebook.db",
        "read_other_student": course / "submitted" / "bob" / "convnets" / "00_history.ipynb",
        "read_config": scratch / "nbgrader_config.py",
        "read_reference": LIBRARY / "conv_naive.py",
        "read_hidden_cases": GRADER / "hidden_cases.py",
    }
    for name, path in files.items():
        if _under(str(path), str(base)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"secret {name}\n")
    nb_dir.mkdir(parents=True)
    # What nbgrader leaves in the folder before the kernel starts: the library, the check
    # API, a notebook it already graded; plus what an earlier kernel could have planted.
    (nb_dir / "cs231n_lib").mkdir()
    (nb_dir / "cs231n_lib" / "__init__.py").write_text("LEARNER = True\n")
    (nb_dir / "grader" / "checks").mkdir(parents=True)
    (nb_dir / "grader" / "__init__.py").write_text("")
    (nb_dir / "grader" / "checks" / "__init__.py").write_text("")
    (nb_dir / "grader" / "checks" / "stub_api.py").write_text("OK = True\n")
    (nb_dir / "00_history.ipynb").write_text("secret graded notebook with hidden tests\n")
    (nb_dir / "cs231n_lib" / "planted.py").symlink_to(scratch / "gradebook.db")
    os.mkfifo(nb_dir / "cs231n_lib" / "fifo.py")
    # Short, as the coordinator makes it: a Unix socket path holds at most 107 bytes.
    kernels = Path(tempfile.mkdtemp(prefix="cs231n-k-"))
    return {**files, "nb_dir": nb_dir, "runtime": kernels}


def _watchdog(client, seconds: float) -> threading.Timer:
    """Kill the kernel if the run hangs (e.g. an interrupt that never arrives)."""

    def fire() -> None:
        km = getattr(client, "km", None)
        pid = getattr(getattr(km, "provisioner", None), "pid", None)
        if pid:
            os.kill(pid, signal.SIGKILL)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


def _host_uid(cell, found: dict) -> None:
    """``on_cell_executed``: the host's view of the kernel's uid (the kernel, in namespaces
    of its own, sees only its own mapping), from the pid the "who" cell printed."""
    if cell.metadata.get("probe") != "who":
        return
    from grader.sandbox.kernel_fork import _host_pid

    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    try:
        ns_pid = json.loads(text.strip().splitlines()[-1])["pid"]
    except (ValueError, KeyError, IndexError):
        return
    host_pid = _host_pid(os.getpid(), ns_pid)
    if host_pid is not None:
        status = Path(f"/proc/{host_pid}/status").read_text()
        found["uid"] = int(next(ln for ln in status.splitlines() if ln.startswith("Uid:"))
                           .split()[1])


@pytest.fixture(scope="module", params=["fork", "bwrap"])
def run(tmp_path_factory, request):
    """Execute the probe notebook once in the sandboxed kernel: {"cells": {tag: cell}, ...}.

    Twice: forked by the job's kernel fork server, and in a bubblewrap of its own."""
    if shutil.which("bwrap") is None:
        return None  # the tests request the ``bwrap`` fixture, which skips or fails
    import nbformat
    from nbclient import NotebookClient
    from traitlets.config import Config

    base = tmp_path_factory.mktemp("kernel_sandbox")
    tree = _course_tree(base)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    cells = []
    for tag, source in _cells(tree, port):
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["probe"] = tag
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    gradebook_before = tree["read_gradebook"].read_bytes()

    ks.grading_config_lines(tree["runtime"])  # creates the kernels dir, as autograde does
    config = Config()
    config.KernelManager.transport = "ipc"
    config.SandboxKernelManager.kernel_root = str(tree["runtime"])
    config.SandboxKernelManager.fork_server = request.param == "fork"
    before = sorted(p.relative_to(tree["nb_dir"]).as_posix() for p in tree["nb_dir"].rglob("*"))
    client = NotebookClient(
        nb, kernel_name=ks.KERNEL_NAME, timeout=CELL_TIMEOUT_S,
        kernel_manager_class=ks.SandboxKernelManager,
        timeout_func=lambda c: LOOP_TIMEOUT_S if c.metadata.get("probe") == "loop"
        else CELL_TIMEOUT_S,
        allow_errors=True, interrupt_on_timeout=True,
        resources={"metadata": {"path": str(tree["nb_dir"])}}, config=config,
        on_cell_executed=lambda cell, **_: _host_uid(cell, host_uid),
    )
    host_uid: dict = {}
    error = None
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH",
                  str(ks.write_kernelspec(base / "jupyter", tree["runtime"]).parents[1]))
        mp.setenv(SECRET_ENV, "hunter2")
        mp.setenv("NBGRADER_EXECUTION", "autograde")
        timer = _watchdog(client, WATCHDOG_S)
        start = time.monotonic()
        try:
            client.execute()
        except Exception as exc:  # reported by every test through the fixture
            error = f"{type(exc).__name__}: {exc}"
        finally:
            timer.cancel()
            listener.close()
            from grader.sandbox import kernel_fork

            forked = bool(kernel_fork._SERVERS)  # a server was started and is still up
            kernel_fork.stop_fork_servers()  # the end of the job: the server's directory goes too
            escaped = [p for p in WRITE_TARGETS.values() if p.exists()]
            for path in escaped:
                path.unlink()
    return {"cells": {c.metadata["probe"]: c for c in nb.cells}, "error": error, "tree": tree,
            "folder_before": before,
            "seconds": time.monotonic() - start, "gradebook_before": gradebook_before,
            "escaped": escaped, "host_uid": host_uid.get("uid"), "mode": request.param,
            "forked": forked}


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs
                   if o.output_type == "stream" and o.name == "stdout")


def _stderr(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs
                   if o.output_type == "stream" and o.name == "stderr")


def _json(run, tag: str) -> dict:
    assert run["error"] is None, run["error"]
    cell = run["cells"][tag]
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert not errors, errors
    return json.loads(_stdout(cell).strip().splitlines()[-1])


@pytest.mark.parametrize("what", ["read_gradebook", "read_source", "rel_gradebook", "rel_source",
                                  "read_course_gradebook", "read_other_student", "read_config",
                                  "read_reference", "read_hidden_cases", "etc_passwd",
                                  "graded_notebook", "planted_link", "planted_fifo"])
@pytest.mark.slow
@pytest.mark.sandbox
def test_kernel_cannot_read_outside_its_notebook_dir(bwrap, run, what):
    assert _json(run, "reads")[what] == "FileNotFoundError:2"


@pytest.mark.slow
@pytest.mark.sandbox
def test_kernel_cannot_import_the_instructors_grader(bwrap, run):
    assert _json(run, "imports")["grader_hidden"] in ("ModuleNotFoundError", "ImportError")


@pytest.mark.slow
@pytest.mark.sandbox
def test_kernel_writes_only_into_its_own_tmpfs(bwrap, run):
    got = _json(run, "writes")
    assert got["notebook_dir"] == "ok"  # its working directory is writable ...
    # ... but it is a private tmpfs: nothing reaches the folder nbgrader writes into.
    after = sorted(p.relative_to(run["tree"]["nb_dir"]).as_posix()
                   for p in run["tree"]["nb_dir"].rglob("*"))
    assert after == run["folder_before"]
    for target in WRITE_TARGETS:
        assert got[target].split(":")[0] in ("OSError", "PermissionError"), (target, got)
    assert got["root"] == "OSError:30"  # EROFS
    assert run["escaped"] == []
    # Whatever ../../../gradebook.db meant inside, the real one is untouched.
    assert run["tree"]["read_gradebook"].read_bytes() == run["gradebook_before"]


@pytest.mark.slow
@pytest.mark.sandbox
def test_kernel_cannot_plant_spawn_or_fill_the_disk(bwrap, run):
    got = _json(run, "escape")
    assert got["link"] == "ok"  # inside its tmpfs only (see the folder check above)
    assert not (run["tree"]["nb_dir"] / "01_next.ipynb").is_symlink()
    assert got["fork"].startswith("PermissionError"), got  # seccomp
    assert got["subprocess"].startswith("PermissionError"), got
    assert got["quota"] == "OSError:28", got  # ENOSPC: the tmpfs is its disk quota
    assert got["library"] == "ok" and got["check_api"] == "ok", got
    assert got["library_ro"].startswith(("OSError:30", "PermissionError")), got


@pytest.mark.slow
@pytest.mark.sandbox
def test_kernel_has_no_network(bwrap, run):
    """A listener on the host's loopback is unreachable (own network namespace)."""
    got = _json(run, "net")
    assert got["loopback"].startswith(("ConnectionRefusedError", "OSError")), got
    assert got["outside"] in ("OSError:101", "OSError:113"), got  # ENETUNREACH, EHOSTUNREACH


@pytest.mark.slow
@pytest.mark.sandbox
def test_kernel_identity_environment_and_processes(bwrap, run):
    got = _json(run, "who")
    assert got["uid"] == SANDBOX_UID and got["gid"] == SANDBOX_UID
    # Never host root: as root the shim drops to 65534; otherwise the caller's own uid.
    assert run["host_uid"] == (SANDBOX_UID if os.geteuid() == 0 else os.geteuid())
    assert got["cwd"] == str(run["tree"]["nb_dir"])
    assert SECRET_ENV not in got["env"] and "NBGRADER_EXECUTION" in got["env"]
    assert got["pids"] < 10  # its own PID namespace, not the host's processes


@pytest.mark.slow
@pytest.mark.sandbox
def test_loop_is_interrupted_on_timeout_and_the_next_cell_runs(bwrap, run):
    assert run["error"] is None, run["error"]
    loop = run["cells"]["loop"]
    assert [o.ename for o in loop.outputs if o.output_type == "error"] == ["KeyboardInterrupt"]
    assert _stdout(run["cells"]["after_loop"]) == "still running after the interrupted cell\n"


@pytest.mark.slow
@pytest.mark.sandbox
def test_fifty_gigabytes_is_a_memory_error(bwrap, run):
    assert _json(run, "memory")["alloc"] == "MemoryError"


@pytest.mark.slow
@pytest.mark.sandbox
def test_matplotlib_figure_renders_as_png(bwrap, run):
    assert run["error"] is None, run["error"]
    cell = run["cells"]["figure"]
    assert not [o for o in cell.outputs if o.output_type == "error"]
    pngs = [o.data["image/png"] for o in cell.outputs
            if o.output_type == "display_data" and "image/png" in o.data]
    assert len(pngs) == 1
    assert base64.b64decode(pngs[0])[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.sandbox
def test_first_figure_writes_nothing_to_stderr(bwrap, run):
    assert run["error"] is None, run["error"]
    assert _stderr(run["cells"]["figure"]) == ""


@pytest.mark.slow
@pytest.mark.sandbox
def test_no_ipc_sockets_or_connection_files_are_left(bwrap, run):
    assert run["error"] is None, run["error"]
    nb_dir, runtime = run["tree"]["nb_dir"], run["tree"]["runtime"]
    for path in nb_dir.rglob("*"):
        assert not stat.S_ISSOCK(path.lstat().st_mode), path
    assert list(runtime.iterdir()) == []  # the kernel's private dir went with it


@pytest.mark.slow
@pytest.mark.sandbox
def test_the_fork_server_is_used_only_when_configured(bwrap, run):
    assert run["forked"] == (run["mode"] == "fork")


@pytest.mark.slow
@pytest.mark.sandbox
def test_whole_probe_notebook_is_quick(bwrap, run):
    """Kernel start in bwrap + every probe + the 3 s loop timeout, on 2 shared cores."""
    assert run["error"] is None, run["error"]
    assert run["seconds"] < LOOP_TIMEOUT_S + 30, run["seconds"]
