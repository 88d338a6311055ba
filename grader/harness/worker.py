"""The program that runs inside the sandbox: it imports the submission's ``cs231n_lib``
and performs recipes, one request at a time.

Under bubblewrap it is forked by the submission's zygote (:mod:`grader.harness.zygote`), which
isolates the fork and then calls :func:`serve`; without bubblewrap (or where a fork cannot
isolate itself) :mod:`grader.sandbox.runner` starts it as
``python -S -B worker.py '<json config>'``. Either way the harness (this file,
``recipes.py``, ``transport.py``) and the submission are on ``PYTHONPATH``.
It speaks to the trusted parent only over two dedicated pipe fds (config ``req``/``res``);
fd 1 and 2 belong to the student and go to a sink the parent caps.

Nothing this process sends is trusted: the student's code runs in it and may rewrite it.
The parent validates every frame, and compares outputs in its own process.

Before touching student code the worker installs a seccomp filter (x86-64) that forbids
creating processes (fork, vfork, exec, non-thread clone), non-Unix sockets, and namespace,
mount, ptrace and BPF calls. It is irreversible, and it also holds when the worker runs as
uid 0 outside the sandbox (where ``RLIMIT_NPROC`` does not bind). A forked worker's filter
(``own_process_only``) also keeps signals, rlimits and scheduling calls to its own pid and
refuses SysV IPC and message queues: the zygote runs as the same uid.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
import traceback
import types

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
    from grader.harness.seccomp import die_with_parent, install_seccomp

    req, res, nonce = int(config["req"]), int(config["res"]), str(config["nonce"])
    die_with_parent()
    # In the sandbox, as root: become uid 65534 (raises rather than run student code as root).
    # The rlimits-only fallback cannot: the host's Python may sit in a directory nobody
    # cannot read (/root), so that mode stays what it says it is, a weaker one.
    identity = privileges.drop_to() if config.get("drop_root") else "uid unchanged"
    readonly = bool(config.get("readonly_fs", False))
    own = bool(config.get("own_process_only", False))
    status = (install_seccomp(readonly, own_process_only=own) if config.get("seccomp", True)
              else "seccomp: disabled")
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
