"""The secure checker's plumbing: framing (grader.harness.transport), the bubblewrap command
line and rlimits (grader.sandbox.profile), the runner's fallback and refusal
(grader.sandbox.runner), what student code sees inside the sandbox, and how long it all
takes. Attacks are in test_adversarial.py.
"""

from __future__ import annotations

import io
import json
import logging
import os
import resource
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from grading_helpers import breaking_bwrap

from grader.harness import transport
from grader.harness.seccomp import seccomp_program
from grader.sandbox import profile as sbx
from grader.sandbox.runner import (
    RESULT_KINDS,
    SandboxUnavailable,
    SandboxUnavailableWarning,
    SecureRunner,
    WorkerStartFailed,
    expected_output_names,
)

ADV = Path(__file__).resolve().parent / "adversarial"


def call(function: str, *args, outputs=("out",)) -> dict:
    return {"kind": "call", "module": "cs231n_lib.probe", "function": function,
            "args": list(args), "outputs": list(outputs)}


# --------------------------------------------------------------------------- transport


def test_frame_round_trip_through_a_pipe(rng):
    recipe = {"kind": "call", "args": [rng.standard_normal((2, 3)).astype(np.float32),
                                       {"stride": 1, "pad": np.int64(2)}, [1.5, None, "s"]],
              "dout": np.arange(6).reshape(2, 3)}
    skeleton, arrays = transport.pack_tree(recipe)
    r, w = os.pipe()
    try:
        transport.write_frame(w, {"recipe": skeleton}, arrays)
        header, got = transport.read_frame(r, time.monotonic() + 5)
    finally:
        os.close(r)
        os.close(w)
    back = transport.unpack_tree(header["recipe"], got)
    assert back["args"][0].dtype == np.float32
    np.testing.assert_array_equal(back["args"][0], recipe["args"][0])
    assert back["args"][1] == {"stride": 1, "pad": 2} and type(back["args"][1]["pad"]) is int
    assert back["args"][2] == [1.5, None, "s"]
    np.testing.assert_array_equal(back["dout"], recipe["dout"])


def _npz(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


@pytest.mark.parametrize("case", ["compressed", "pickle", "lying_header", "not_zip",
                                  "too_many", "bad_name"])
def test_hostile_payloads_are_refused_before_loading(case):
    if case == "compressed":  # a zip bomb: 1 GB of zeros in a few kB
        payload = _npz({"a.npy": _npy(np.zeros(2, np.uint8)) + b"\0" * (8 << 20)},
                       zipfile.ZIP_DEFLATED)
    elif case == "pickle":
        payload = _npz({"a.npy": _npy(np.array([1, None], dtype=object), allow_pickle=True)})
    elif case == "lying_header":  # declares 10^12 elements, holds 16 bytes
        head = _npy(np.zeros(2))
        payload = _npz({"a.npy": head.replace(b"(2,)", b"(1000000000000,)")})
    elif case == "not_zip":
        payload = b"PK\x03\x04 not really"
    elif case == "too_many":
        payload = _npz({f"a{i}.npy": _npy(np.zeros(1)) for i in range(5)})
    else:
        payload = _npz({"../a.npy": _npy(np.zeros(1))})
    with pytest.raises(transport.TransportError):
        transport.decode_arrays(payload, max_members=4)


def test_frame_caps_are_checked_before_reading():
    r, w = os.pipe()
    try:
        os.write(w, struct.pack("!4sIQ", b"C2NF", 10, 1 << 40))
        with pytest.raises(transport.TransportError, match="payload"):
            transport.read_frame(r, time.monotonic() + 5)
        os.write(w, b"XXXX" + b"\0" * 12)
        with pytest.raises(transport.TransportError, match="magic"):
            transport.read_frame(r, time.monotonic() + 5)
        os.set_blocking(r, False)
        with pytest.raises(transport.ChannelTimeout):
            transport.read_frame(r, time.monotonic() + 0.05)
    finally:
        os.close(r)
        os.close(w)


# --------------------------------------------------------------------------- profile


def test_bwrap_command_line_has_the_whole_profile(tmp_path):
    cmd = sbx.bwrap_command("/usr/bin/bwrap", harness_dir=str(tmp_path / "h"),
                            package_dir=str(tmp_path / "s" / "cs231n_lib"),
                            argv=["python", "worker.py"], env=sbx.worker_env(["/harness"]))
    joined = " ".join(cmd)
    if os.geteuid() == 0:  # no user namespace (it would map to root); the worker drops
        identity = ["--unshare-net", "--unshare-pid", "--unshare-ipc",
                    "--cap-drop ALL --cap-add CAP_SETUID --cap-add CAP_SETGID"]
        assert "--unshare-user" not in cmd and "--unshare-all" not in cmd
    else:
        identity = ["--unshare-all", "--uid 65534", "--gid 65534", "--cap-drop ALL"]
    for flag in [*identity, "--die-with-parent", "--new-session", "--clearenv", "--remount-ro /",
                 "--setenv OPENBLAS_NUM_THREADS 1", "--setenv PYTHONDONTWRITEBYTECODE 1"]:
        assert flag in joined, flag
    assert "--share-net" not in cmd
    binds = [(cmd[i], cmd[i + 1], cmd[i + 2]) for i in range(len(cmd) - 2)
             if cmd[i] in ("--bind", "--ro-bind", "--dev-bind")]
    assert binds and all(kind == "--ro-bind" for kind, _, _ in binds)
    tmp_at = cmd.index("/tmp", cmd.index("--tmpfs"))
    assert all(cmd.index(dest) > tmp_at for _, _, dest in binds if dest.startswith("/tmp"))
    assert ("--ro-bind", str(tmp_path / "h"), "/harness") in binds
    assert cmd[cmd.index("--remount-ro") + 1] == "/" and cmd[-3] == "--"
    sources = [src for _, src, _ in binds]
    root = str(Path(__file__).resolve().parents[1])
    # Nothing of the repository is bound but (possibly) the venv's site-packages.
    assert all(not s.startswith(root) or "/.venv/" in s + "/" for s in sources), sources


def test_rlimits_cover_memory_cpu_files_and_core():
    pairs = dict(sbx.rlimits(sbx.Limits(memory_mb=512, cpu_total_s=30, fsize_mb=4)))
    assert pairs[resource.RLIMIT_AS] == (512 << 20, 512 << 20)
    assert pairs[resource.RLIMIT_CPU] == (30, 30)
    assert pairs[resource.RLIMIT_FSIZE] == (4 << 20, 4 << 20)
    assert pairs[resource.RLIMIT_CORE] == (0, 0)
    if os.getuid() != 0:  # RLIMIT_NPROC does not bind uid 0: seccomp refuses fork there
        assert resource.RLIMIT_NPROC in pairs


def test_seccomp_program_is_well_formed():
    for readonly in (False, True):
        for own_pid in (None, 4242):
            code = seccomp_program(readonly, own_pid=own_pid)
            assert len(code) % 8 == 0 and 0 < len(code) // 8 < 4096
    # The kernel's filter (no own_pid) is what it was; a worker's names its own pid.
    assert seccomp_program() == seccomp_program(own_pid=None)
    assert struct.pack("=I", 4242) in seccomp_program(own_pid=4242)
    with pytest.raises(ValueError, match="own_pid"):
        seccomp_program(own_pid=0)


def test_the_zygote_sees_every_composition_read_only(tmp_path):
    libraries = {"relu_forward": str(tmp_path / "a" / "cs231n_lib"),
                 "conv_forward_naive": str(tmp_path / "b" / "cs231n_lib")}
    cmd = sbx.bwrap_command("/usr/bin/bwrap", harness_dir=str(tmp_path / "h"), package_dir=None,
                            argv=["python", "zygote.py"], env={}, libraries=libraries)
    binds = [(cmd[i], cmd[i + 1], cmd[i + 2]) for i in range(len(cmd) - 2)
             if cmd[i] in ("--bind", "--ro-bind", "--dev-bind")]
    for name, path in libraries.items():
        assert ("--ro-bind", path, f"/compositions/{name}/cs231n_lib") in binds
    assert all(kind == "--ro-bind" for kind, _, _ in binds)
    # The forked worker's own mount point exists before the root is made read-only.
    made = cmd.index("/submission/cs231n_lib", cmd.index("--dir"))
    assert made < cmd.index("--remount-ro")


def test_library_names_are_checked():
    with pytest.raises(ValueError, match="library names"):
        SecureRunner(ADV / "honest", sandbox=False, libraries={"../x": ADV / "honest"})


def test_expected_output_names():
    assert expected_output_names({"kind": "call", "outputs": ["out", None]}) == ["out"]
    assert expected_output_names({"kind": "forward_backward", "outputs": ["dx", "dw", "db"],
                                  "forward_outputs": ["out"]}) == ["dx", "dw", "db", "out"]
    assert set(RESULT_KINDS) == {"ok", "exception", "timeout", "crash", "bad_output", "memory"}


# --------------------------------------------------------------------------- fallback


def test_missing_bwrap_is_loud_and_can_be_refused(monkeypatch, caplog):
    monkeypatch.setattr(sbx, "find_bwrap", lambda: None)
    assert sbx.sandbox_status().startswith("SANDBOX UNAVAILABLE: running with rlimits only")
    with pytest.raises(SandboxUnavailable, match="refusing to grade without the sandbox"):
        SecureRunner(ADV / "honest", require_sandbox=True)
    with caplog.at_level(logging.WARNING, logger="grader.sandbox.runner"):
        with pytest.warns(SandboxUnavailableWarning, match="SANDBOX UNAVAILABLE"):
            runner = SecureRunner(ADV / "honest")
    with runner:
        assert not runner.sandboxed
        assert "SANDBOX UNAVAILABLE: running with rlimits only" in caplog.text
        res = runner.run({"kind": "call", "module": "cs231n_lib.layers", "function": "relu",
                          "args": [np.array([-1.0, 2.0])], "outputs": ["out"]})
        assert res.ok and res.outputs["out"].tolist() == [0.0, 2.0]
        assert "no file writes" in runner.seccomp


def test_a_broken_bwrap_counts_as_missing():
    with pytest.raises(SandboxUnavailable, match="cannot run"):
        SecureRunner(ADV / "honest", bwrap="/nonexistent/bwrap", require_sandbox=True)


@pytest.mark.sandbox
def test_a_worker_that_will_not_start_stops_grading_instead_of_scoring_zero(bwrap, tmp_path):
    """Nothing of a submission runs before the worker's greeting, so a worker that cannot start
    is the sandbox failing: the call raises (the grading job then stops the run) rather than
    returning a "crash" that would cost the student the function."""
    runner = SecureRunner(ADV / "honest", bwrap=str(breaking_bwrap(tmp_path, bwrap)),
                          require_sandbox=True)
    assert runner.sandboxed  # the probe passed
    with runner, pytest.raises(WorkerStartFailed, match="would not start.*namespace failed"):
        runner.run({"kind": "call", "module": "cs231n_lib.layers", "function": "relu",
                    "args": [np.array([-1.0, 2.0])], "outputs": ["out"]})
    assert issubclass(WorkerStartFailed, SandboxUnavailable)


@pytest.mark.sandbox
def test_sandbox_status_with_bwrap(bwrap):
    status = sbx.sandbox_status()
    assert status.startswith("sandbox: bubblewrap") and "works" in status


# --------------------------------------------------------------------------- inside


PROBE = '''"""What the worker's environment looks like from student code."""
import os
import sys

import numpy as np


def host_uid():
    """The host uid behind this process's uid (through the user namespace, if any)."""
    uid = os.getuid()
    for line in open("/proc/self/uid_map"):
        inside, outside, count = map(int, line.split())
        if inside <= uid < inside + count:
            return outside + uid - inside
    return -1


def identity():
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    return np.array([
        os.getuid(), os.getgid(),
        int(status["CapEff"].strip(), 16),
        int(status["NoNewPrivs"].strip()),
        int(status["Seccomp"].strip()),
        len(os.environ),
        os.environ.get("OPENBLAS_NUM_THREADS") == "1",
        os.path.exists("/etc/passwd"),
        os.path.exists("/root"),
        len([p for p in os.listdir("/proc") if p.isdigit()]),
        sys.flags.dont_write_bytecode,
        host_uid(),
    ], dtype=np.int64)


def touch(path):
    open(path, "w").write("x")
    return np.array([1])


def relu(x):
    return np.maximum(x, 0)
'''


@pytest.fixture
def probe_tree(tmp_path) -> Path:
    pkg = tmp_path / "sub" / "cs231n_lib"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "probe.py").write_text(PROBE)
    return tmp_path / "sub"


@pytest.mark.sandbox
def test_what_student_code_sees(bwrap, probe_tree):
    with SecureRunner(probe_tree, require_sandbox=True) as runner:
        res = runner.run(call("identity"))
        assert res.ok, res
        (uid, gid, cap_eff, no_new_privs, seccomp, n_env, one_thread, etc, root,
         n_procs, no_bytecode, host_uid) = res.outputs["out"].tolist()
        assert (uid, gid) == (65534, 65534)
        # Never host root, even when the grader runs as root (issue: uid 65534 -> 0).
        assert host_uid == (65534 if os.geteuid() == 0 else os.geteuid()), host_uid
        assert cap_eff == 0 and no_new_privs == 1 and seccomp == 2
        assert n_env <= 16 and one_thread == 1 and no_bytecode == 1
        assert etc == 0
        assert n_procs <= 3  # a private PID namespace: bwrap's init and the worker
        res = runner.run(call("touch", "/tmp/ok"))  # the private /tmp is writable
        assert res.ok
        res = runner.run(call("touch", "/harness/grader/harness/recipes.py"))
        assert res.kind == "exception" and "Read-only" in res.error


# --------------------------------------------------------------------------- timing


def _timings(runner: SecureRunner, rng) -> dict[str, float]:
    t0 = time.perf_counter()
    runner.start()
    start = time.perf_counter() - t0
    tiny = call("relu", np.ones(3))
    for _ in range(5):
        runner.run(tiny)
    t0 = time.perf_counter()
    n = 100
    for _ in range(n):
        assert runner.run(tiny).ok
    per_call = (time.perf_counter() - t0) / n
    x = rng.standard_normal((50, 3, 32, 32))  # a CIFAR-sized conv batch, 3.1 MB
    t0 = time.perf_counter()
    for _ in range(50):
        res = runner.run(call("relu", x))
        assert res.ok and res.outputs["out"].shape == x.shape
    conv50 = time.perf_counter() - t0
    return {"start_s": start, "per_call_ms": per_call * 1000, "conv_50_calls_s": conv50}


@pytest.mark.sandbox
def test_timing_is_small_next_to_grading(bwrap, probe_tree, rng):
    with SecureRunner(probe_tree, require_sandbox=True) as runner:
        t = _timings(runner, rng)
    print("\nsecure checker timing (bwrap):", json.dumps({k: round(v, 4) for k, v in t.items()}))
    # Loose bounds: 2 shared cores. Measured here: ~0.09 s start, ~0.6 ms per call.
    assert t["start_s"] < 5
    assert t["per_call_ms"] < 50
    assert t["conv_50_calls_s"] < 10


def test_private_parents_are_opened_but_no_host_directory_is_chmodded():
    """bwrap copies /root's 0700 onto the directory it makes for a mount point below it; the
    sandbox opens those (its own) directories, never a path inside a bind (the host's)."""
    mounts = ["--ro-bind", "/root/.pyenv/versions/3.11", "/root/.pyenv/versions/3.11",
              "--ro-bind", "/root/.pyenv/versions/3.11/lib/s", "/root/.pyenv/versions/3.11/lib/s",
              "--bind", "/work/c/k/conn", "/work/c/k/conn",
              "--perms", "0777", "--size", "1024", "--tmpfs", "/work/c/nb",
              "--ro-bind", "/x/files/cs231n_lib", "/work/c/nb/cs231n_lib"]
    parents = sbx._private_parents(mounts)
    assert set(parents) == {"/root", "/root/.pyenv", "/root/.pyenv/versions", "/work",
                            "/work/c", "/work/c/k"}
    cmd = sbx.profile_command("bwrap", mounts=mounts, chdir="/", env={}, argv=["true"],
                              tmpfs_mb=1)
    chmodded = [cmd[i + 2] for i in range(len(cmd)) if cmd[i] == "--chmod"]
    assert set(chmodded) == set(parents)
    assert cmd.index("--remount-ro") > max(i for i in range(len(cmd)) if cmd[i] == "--chmod")
