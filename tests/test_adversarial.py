"""Cheating and misbehaving submissions against the secure checker (grader.sandbox.runner).

Each submission in ``tests/adversarial/<name>/`` has two honest functions (``relu``,
``conv_output_size``) and one way of cheating. For every one: the cheating call is not
``ok`` (or its output is wrong when compared, here, with an independently computed value),
the honest functions of the same submission still give correct outputs, the runner keeps
working, and the next submission runs normally. Every test runs under bubblewrap and in
the rlimits-only fallback (where bubblewrap is missing).
"""

from __future__ import annotations

import shutil
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox.runner import SandboxUnavailableWarning, SecureRunner

ROOT = Path(__file__).resolve().parents[1]
ADV = Path(__file__).resolve().parent / "adversarial"
LAYERS = "cs231n_lib.layers"


def call(function: str, *args, outputs=("out",), module: str = LAYERS) -> dict:
    return {"kind": "call", "module": module, "function": function, "args": list(args),
            "kwargs": {}, "outputs": list(outputs)}


@pytest.fixture(params=["bwrap", "rlimits"])
def sandboxed(request) -> bool:
    if request.param == "bwrap":
        request.getfixturevalue("bwrap")
        return True
    return False


def runner_for(tree: str | Path, sandboxed: bool, **kwargs) -> SecureRunner:
    path = tree if isinstance(tree, Path) else ADV / tree
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SandboxUnavailableWarning)
        return SecureRunner(path, sandbox=sandboxed, **kwargs)


def assert_honest(runner: SecureRunner, rng: np.random.Generator) -> None:
    """The submission's honest functions still give the right answers."""
    x = rng.standard_normal((3, 5))
    res = runner.run(call("relu", x))
    assert res.ok, res
    np.testing.assert_array_equal(res.outputs["out"], np.where(x > 0, x, 0.0))
    assert res.finite == {"out": True}
    res = runner.run(call("conv_output_size", 32, 5, 1, 2))
    assert res.ok, res
    assert int(res.outputs["out"]) == 32  # (32 + 2*2 - 5) / 1 + 1


def assert_next_submission_ok(sandboxed: bool, rng: np.random.Generator) -> None:
    with runner_for("honest", sandboxed) as runner:
        assert_honest(runner, rng)


def affine_case(rng: np.random.Generator):
    x = rng.standard_normal((2, 3))
    w = rng.standard_normal((3, 4))
    b = rng.standard_normal(4)
    expected = np.einsum("nd,dm->nm", x, w) + b
    return call("affine_forward", x, w, b, outputs=("out", None)), expected


def wrong_or_rejected(res, expected: np.ndarray) -> bool:
    if not res.ok:
        return True
    out = res.outputs["out"]
    return out.shape != expected.shape or not np.allclose(out, expected)


# --------------------------------------------------------------------------- cheats


def test_monkeypatching_numpy_does_not_fool_the_comparison(sandboxed, rng):
    with runner_for("patch_numpy", sandboxed) as runner:
        recipe, expected = affine_case(rng)
        res = runner.run(recipe)
        # The submission set np.allclose = lambda: True in *its* process; ours is intact.
        assert np.allclose(np.zeros(2), np.ones(2)) is False
        assert wrong_or_rejected(res, expected)
        assert res.ok and not np.allclose(res.outputs["out"], expected)
        assert_honest(runner, rng)  # np.dot and sys.modules["numpy"] were restored
    assert_next_submission_ok(sandboxed, rng)


def test_monkeypatching_builtins(sandboxed, rng):
    with runner_for("patch_builtins", sandboxed) as runner:
        recipe, expected = affine_case(rng)
        assert wrong_or_rejected(runner.run(recipe), expected)
        assert_honest(runner, rng)
    assert_next_submission_ok(sandboxed, rng)


def test_objects_that_equal_everything_are_rejected(sandboxed, rng):
    with runner_for("eq_true", sandboxed) as runner:
        recipe, _ = affine_case(rng)
        res = runner.run(recipe)
        assert res.kind == "bad_output" and "AlwaysEqual" in res.error
        res = runner.run({**recipe, "function": "affine_forward_subclass"})
        assert res.kind == "bad_output" and "EqualArray" in res.error
        assert_honest(runner, rng)
    assert_next_submission_ok(sandboxed, rng)


def test_os_exit_costs_only_that_call(sandboxed, rng):
    with runner_for("os_exit", sandboxed) as runner:
        recipe, _ = affine_case(rng)
        res = runner.run(recipe)
        assert res.kind == "crash" and "status 0" in res.error
        assert_honest(runner, rng)  # a fresh worker
        assert runner.restarts == 1
    assert_next_submission_ok(sandboxed, rng)


def test_sys_exit_is_an_exception(sandboxed, rng):
    with runner_for("sys_exit", sandboxed) as runner:
        recipe, _ = affine_case(rng)
        res = runner.run(recipe)
        assert res.kind == "exception" and res.error.startswith("SystemExit")
        assert_honest(runner, rng)
        assert runner.restarts == 0
    assert_next_submission_ok(sandboxed, rng)


def test_base_exceptions(sandboxed, rng):
    with runner_for("base_exception", sandboxed) as runner:
        recipe, _ = affine_case(rng)
        res = runner.run(recipe)
        assert res.kind == "exception" and res.error.startswith("KeyboardInterrupt")
        res = runner.run({"kind": "call", "module": LAYERS, "function": "affine_backward",
                          "args": [np.ones(2), None], "outputs": ["dx", "dw", "db"]})
        assert res.kind == "exception" and "Sneaky" in res.error  # its __str__ raises
        assert_honest(runner, rng)
    assert_next_submission_ok(sandboxed, rng)


def test_infinite_loop_times_out(sandboxed, rng):
    with runner_for("infinite_loop", sandboxed, timeout_s=1.0) as runner:
        recipe, _ = affine_case(rng)
        res = runner.run(recipe)
        assert res.kind == "timeout"
        assert res.seconds < 4
        assert_honest(runner, rng)
    assert_next_submission_ok(sandboxed, rng)


def test_cpu_limit_stops_a_loop_even_without_the_wall_clock(sandboxed, rng):
    with runner_for("infinite_loop", sandboxed, timeout_s=30.0, cpu_s=1) as runner:
        recipe, _ = affine_case(rng)
        res = runner.run(recipe)
        assert res.kind == "timeout" and "SIGXCPU" in res.error
        assert_honest(runner, rng)


def test_50_gb_allocation(sandboxed, rng):
    with runner_for("memory_bomb", sandboxed, memory_mb=1024) as runner:
        recipe, _ = affine_case(rng)
        res = runner.run(recipe)
        assert res.kind == "memory", res
        assert_honest(runner, rng)
        assert runner.restarts == 0
    assert_next_submission_ok(sandboxed, rng)


def test_300_mb_of_printing_neither_hangs_nor_corrupts(sandboxed, rng):
    with runner_for("print_flood", sandboxed, timeout_s=60) as runner:
        recipe, expected = affine_case(rng)
        res = runner.run(recipe)
        # Printing is not cheating: the answer is right and arrives intact.
        assert res.ok, res
        np.testing.assert_allclose(res.outputs["out"], expected, rtol=1e-12)
        assert res.seconds < 30
        assert_honest(runner, rng)
    assert_next_submission_ok(sandboxed, rng)


@pytest.mark.sandbox
def test_files_outside_the_submission_are_invisible(bwrap, rng):
    secret = ROOT / "grader" / "checks" / "registry.py"  # on the host, not in the sandbox
    assert secret.is_file()
    with runner_for("read_outside", True) as runner:
        for path in (secret, ROOT / "cs231n_lib" / "__init__.py", Path("/etc/passwd")):
            res = runner.run(call("affine_forward", str(path), outputs=("out", None)))
            assert res.kind == "exception" and "FileNotFoundError" in res.error, res
        res = runner.run(call("list_dir", str(ROOT / "grader")))
        assert res.kind == "exception" and "FileNotFoundError" in res.error
        # The repository's folder is at most the skeleton of the venv's read-only bind.
        res = runner.run(call("list_dir", str(ROOT)))
        assert res.kind == "exception" or int(res.outputs["out"][0]) <= 1
        # The sandbox's / shows nothing of the host beyond the read-only Python and /usr.
        res = runner.run(call("list_dir", "/harness/grader"))
        assert res.ok and int(res.outputs["out"][0]) == 2  # __init__.py and harness/
        res = runner.run(call("list_dir", "/harness/grader/harness"))
        harness = len(list((ROOT / "grader" / "harness").glob("*.py")))
        assert res.ok and int(res.outputs["out"][0]) == harness  # the harness, nothing more
        res = runner.run(call("write_file", "/submission/cs231n_lib/evil.py", 10))
        assert res.kind == "exception" and "Read-only" in res.error
        res = runner.run(call("write_file", "/tmp/big", 64 << 20))  # RLIMIT_FSIZE, small /tmp
        assert res.kind in ("exception", "crash")
        assert_honest(runner, rng)
    assert not (ADV / "read_outside" / "cs231n_lib" / "evil.py").exists()
    assert_next_submission_ok(True, rng)


def test_rlimits_only_mode_refuses_writes(tmp_path, rng):
    target = tmp_path / "gradebook.db"
    with runner_for("read_outside", False) as runner:
        res = runner.run(call("write_file", str(target), 10))
        assert res.kind == "exception" and "Read-only" in res.error
        assert_honest(runner, rng)
    assert not target.exists()


def test_network_is_unreachable(sandboxed, rng):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        with runner_for("network", sandboxed) as runner:
            res = runner.run(call("affine_forward", "127.0.0.1", port, outputs=("out", None)))
            assert res.kind == "exception" and ("PermissionError" in res.error
                                                or "unreachable" in res.error), res
            res = runner.run(call("udp", "127.0.0.1", port))
            assert res.kind == "exception"
            assert_honest(runner, rng)
    finally:
        server.close()
    assert_next_submission_ok(sandboxed, rng)


def test_processes_cannot_be_spawned(sandboxed, rng):
    with runner_for("spawn", sandboxed) as runner:
        runner.start()
        # The fork bomb below is safe only because seccomp refuses fork: check first.
        assert "no processes" in runner.seccomp, runner.seccomp
        recipe, _ = affine_case(rng)
        res = runner.run(recipe)
        assert res.kind == "exception" and "PermissionError" in res.error
        res = runner.run(call("fork_bomb"))
        assert res.kind == "exception" and "PermissionError" in res.error
        assert_honest(runner, rng)
    assert_next_submission_ok(sandboxed, rng)


def test_forging_the_result_channel(sandboxed, rng):
    x = rng.standard_normal((3, 5))
    relu = np.where(x > 0, x, 0.0)
    with runner_for("forge_channel", sandboxed) as runner:
        for function in ("forged_frame", "garbage_bytes", "huge_frame"):
            res = runner.run(call(function, x))
            assert res.kind == "crash", (function, res)
            assert_honest(runner, rng)
        # A frame carrying the nonce stolen from the worker's memory is accepted, but it
        # holds only what the submission computed: compared here, it is simply wrong.
        res = runner.run(call("stolen_nonce", x))
        assert wrong_or_rejected(res, relu)
        # The worker's own late frame for that call is skipped; later calls are unharmed.
        assert_honest(runner, rng)
        assert runner.restarts == 3
        # Closing the request pipe sabotages the next call: it is retried in a fresh worker.
        res = runner.run(call("close_request_pipe", x))
        assert res.ok and np.array_equal(res.outputs["out"], relu)
        assert_honest(runner, rng)
        assert runner.restarts == 4
    assert_next_submission_ok(sandboxed, rng)


def test_wrong_dtype_shape_and_nan(sandboxed, rng):
    x = rng.standard_normal((3, 5))
    with runner_for("bad_outputs", sandboxed) as runner:
        for function, word in [("strings", "<U3"), ("complex_values", "complex"),
                               ("objects", "object"), ("booleans", "bool"),
                               ("wrong_arity", "tuple"), ("python_list", "list")]:
            res = runner.run(call(function, x))
            assert res.kind == "bad_output" and word in res.error, (function, res)
        res = runner.run(call("wrong_shape", x))
        assert res.ok and res.outputs["out"].shape == (3, 4)  # the comparison catches it
        res = runner.run(call("nan_values", x))
        assert res.ok and res.finite == {"out": False}
        assert_honest(runner, rng)
    assert_next_submission_ok(sandboxed, rng)


def test_modules_that_fail_to_import(sandboxed, rng, tmp_path):
    tree = tmp_path / "submission"
    shutil.copytree(ADV / "syntax_error", tree)
    # Stored as *.broken so that ruff can lint the repository.
    (tree / "cs231n_lib" / "conv_naive.py.broken").rename(tree / "cs231n_lib" / "conv_naive.py")
    with runner_for(tree, sandboxed) as runner:
        res = runner.run(call("conv_forward_naive", np.ones(2), module="cs231n_lib.conv_naive"))
        assert res.kind == "exception" and res.error.startswith("SyntaxError")
        res = runner.run(call("max_pool", np.ones(2), module="cs231n_lib.pooling"))
        assert res.kind == "crash" and "status 3" in res.error
        assert_honest(runner, rng)
    assert_next_submission_ok(sandboxed, rng)


def test_missing_package(sandboxed, rng, tmp_path):
    with runner_for(tmp_path, sandboxed) as runner:
        res = runner.run(call("relu", np.ones(2)))
        assert res.kind == "exception" and "cs231n_lib" in res.error
    assert_next_submission_ok(sandboxed, rng)


# --------------------------------------------------------------------------- the zygote

ESCAPE = ADV / "fork_escape" / "cs231n_lib"
_PLACES = ("/tmp", "/dev/shm", "/", "/dev", "/submission", "/submission/cs231n_lib",
           "/harness", "/compositions", "/proc", "/usr")  # as in fork_escape/layers.py


def escape_runner() -> SecureRunner:
    """One zygote over three compositions: two of the hostile library, one honest."""
    return SecureRunner(ADV / "fork_escape", require_sandbox=True, libraries={
        "first": ESCAPE, "second": ESCAPE, "other": ADV / "honest" / "cs231n_lib"})


def assert_forked(runner: SecureRunner, zygote_starts: int = 1) -> None:
    """Every worker so far was a fork of the same zygote, which is still answering."""
    assert runner.fork_unavailable == "", runner.fork_unavailable
    assert len(runner.sandbox_seconds) == zygote_starts
    assert runner._zygote is not None and not runner._zygote.lost
    assert "signals only to itself" in runner.seccomp, runner.seccomp


def attack(runner: SecureRunner, function: str, library: str = "first") -> list[int]:
    """Run one of fork_escape's attacks in a worker over ``library`` (the current worker if
    it serves that library already: select() always starts a fresh one); its 0/1 findings."""
    if runner.selected != library:
        runner.select(library)
    res = runner.run(call(function))
    assert res.ok, res
    return res.outputs["out"].tolist()


def assert_others_unharmed(runner: SecureRunner, rng: np.random.Generator) -> None:
    """The honest composition, graded next in a fresh fork of the same zygote, is fine."""
    runner.select("other")
    assert_honest(runner, rng)
    assert_forked(runner)


@pytest.mark.sandbox
def test_a_forked_worker_leaves_nothing_for_the_next(bwrap, rng):
    with escape_runner() as runner:
        planted = dict(zip(_PLACES + ("shm", "msg", "sem", "mq"), attack(runner, "plant"),
                           strict=True))
        # Only its own fresh /tmp and /dev/shm are writable; no SysV IPC, no message queue.
        assert {k for k, v in planted.items() if v} == {"/tmp", "/dev/shm"}, planted
        assert attack(runner, "look")[len(_PLACES) + 2] == 1  # the same worker sees its state
        seen = attack(runner, "look", "second")  # same files, a fresh worker
        assert seen[:len(_PLACES)] == [0] * len(_PLACES), seen  # no planted file anywhere
        assert seen[len(_PLACES):] == [0, 0, 0, 0, 0, 1, 1], seen  # IPC, state, NumPy, 1 thread
        assert_forked(runner)
        assert_others_unharmed(runner, rng)


@pytest.mark.sandbox
def test_selecting_the_same_library_again_starts_a_fresh_worker(bwrap):
    """Functions with the same provided twins share a composition (grade_library), never a
    worker: select() of the library already selected still forks a new one."""
    with escape_runner() as runner:
        attack(runner, "plant")
        assert attack(runner, "look")[len(_PLACES) + 2] == 1  # state kept in this worker
        runner.select("first")
        assert attack(runner, "look")[len(_PLACES) + 2] == 0  # a fresh worker: none


@pytest.mark.sandbox
def test_a_forked_worker_cannot_signal_limit_or_stop_anyone_else(bwrap, rng):
    with escape_runner() as runner:
        struck = attack(runner, "strike")
        assert struck == [0] * len(struck), struck
        assert attack(runner, "own_signals") == [2]  # its own signals still work
        assert_others_unharmed(runner, rng)  # the zygote was neither killed, stopped nor limited


@pytest.mark.sandbox
def test_a_forked_worker_sees_no_other_process_and_no_other_composition(bwrap, rng):
    with escape_runner() as runner:
        succeeded, tried, listed, other, own = attack(runner, "pry")
        assert tried >= 6  # bwrap's init and the zygote at least
        assert (succeeded, listed, other, own) == (0, 0, 0, 1)
        assert_others_unharmed(runner, rng)  # and the honest composition is the honest one


@pytest.mark.sandbox
def test_crashes_and_timeouts_cost_a_fork_not_the_zygote(bwrap, rng):
    with SecureRunner(ADV / "os_exit", require_sandbox=True) as runner:
        recipe, _ = affine_case(rng)
        for _ in range(3):
            assert runner.run(recipe).kind == "crash"
            assert_honest(runner, rng)
        assert runner.restarts == 3
        assert_forked(runner)
    with SecureRunner(ADV / "infinite_loop", require_sandbox=True, timeout_s=1.0) as runner:
        res = runner.run(affine_case(rng)[0])
        assert res.kind == "timeout", res
        assert_honest(runner, rng)
        assert_forked(runner)


@pytest.mark.sandbox
def test_a_zygote_that_dies_is_replaced_once_then_grading_stops(bwrap, rng):
    from grader.sandbox.runner import WorkerStartFailed

    with escape_runner() as runner:
        runner.select("other")
        assert_honest(runner, rng)
        runner._zygote.proc.kill()  # the sandbox failing between calls: not the student
        runner._zygote.proc.wait()
        assert_honest(runner, rng)
        assert len(runner.sandbox_seconds) == 2 and runner._zygote is not None
        runner.bwrap = "/nonexistent/bwrap"
        runner._zygote.proc.kill()
        runner._zygote.proc.wait()
        with pytest.raises(WorkerStartFailed):
            runner.run(call("relu", np.ones(3)))


@pytest.mark.sandbox
def test_the_zygote_forks_one_worker_at_a_time(bwrap, rng):
    from grader.sandbox.runner import _StartFailed

    with escape_runner() as runner:
        runner.select("other")
        assert_honest(runner, rng)  # a worker is running
        zygote = runner._zygote
        with pytest.raises(_StartFailed, match="not been reaped"):
            runner._spawn(zygote)  # a second one while the first lives: refused
        assert zygote.lost  # and that zygote is not trusted again: the next call replaces it
        assert_honest(runner, rng)
        assert len(runner.sandbox_seconds) == 2


@pytest.mark.sandbox
def test_a_missing_library_costs_only_itself(bwrap, rng, tmp_path):
    with SecureRunner(ADV / "honest", require_sandbox=True, libraries={
            "gone": tmp_path / "nowhere" / "cs231n_lib", "other": ADV / "honest" / "cs231n_lib"},
            ) as runner:
        runner.select("gone")
        res = runner.run(call("relu", np.ones(3)))
        assert res.kind == "exception" and "no cs231n_lib" in res.error
        assert_others_unharmed(runner, rng)
