"""Shared plumbing: thread pinning, interleaved timing, targets, environment facts."""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import math
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- threads


def load_torch() -> tuple[Any, str | None]:
    """``(torch, None)`` or ``(None, reason)`` when PyTorch is not installed."""
    if importlib.util.find_spec("torch") is None:
        return None, "torch not installed (pip install -e '.[torch]')"
    try:
        import torch
    except Exception as exc:  # a broken install should skip a column, not the bench
        return None, f"import torch failed: {type(exc).__name__}: {exc}"
    return torch, None


@contextlib.contextmanager
def single_thread() -> Iterator[dict[str, Any]]:
    """Pin every BLAS / OpenMP pool (threadpoolctl) and torch to one thread.

    Yields a dict that is filled with what was pinned (threadpoolctl's report taken *inside*
    the limit, and torch's thread counts); the previous settings are restored on exit.
    """
    info: dict[str, Any] = {}
    torch, _ = load_torch()
    torch_threads = None
    if torch is not None:
        torch_threads = (torch.get_num_threads(), torch.get_num_interop_threads())
        torch.set_num_threads(1)
        # The inter-op pool can be sized only once per process, before any parallel work.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        info["threadpoolctl"] = "not installed: BLAS threads NOT pinned"
        limiter: Any = contextlib.nullcontext()
        threadpool_info = None
    else:
        limiter = threadpool_limits(limits=1)
    try:
        with limiter:
            if threadpool_info is not None:
                info["threadpools"] = threadpool_info()
            if torch is not None:
                info["torch_num_threads"] = torch.get_num_threads()
                info["torch_num_interop_threads"] = torch.get_num_interop_threads()
            yield info
    finally:
        if torch is not None and torch_threads is not None:
            torch.set_num_threads(torch_threads[0])


# ----------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """Per-call seconds of one contender over interleaved rounds."""

    samples: list[float]
    inner: int  # calls per sample (short calls are repeated so a sample lasts >= min_sample)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


#: ``cpu``: CPU seconds of this process (``time.process_time``). On a machine shared with
#: other jobs this leaves out the time the scheduler gave to someone else, which wall time
#: (``perf_counter``) would charge to whichever contender happened to be running. Everything
#: here runs on one thread, so on an idle machine the two agree.
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
_clock: list[str] = ["cpu"]


def set_clock(name: str) -> None:
    if name not in CLOCKS:
        raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {name!r}")
    _clock[0] = name


def clock_name() -> str:
    return _clock[0]


#: A call shorter than this (seconds) is repeated inside its sample; 0 in ``--quick`` mode.
MIN_SAMPLE = [0.02]


def _time_call(fn: Callable[[], Any], inner: int) -> float:
    clock = CLOCKS[_clock[0]]
    start = clock()
    for _ in range(inner):
        fn()
    return (clock() - start) / inner


def interleaved(
    contenders: dict[str, Callable[[], Any]],
    repeats: int,
    *,
    min_sample: float | None = None,
    budget: float | None = None,
    min_repeats: int = 3,
    warmup_round: bool = True,
) -> dict[str, Timing]:
    """Time every contender ``repeats`` times, one call of each per round (rotating order).

    Running the contenders back to back in every round means a burst of load from other
    processes hits all of them alike; :func:`paired_ratio` then compares them round by round.
    One warm-up call each (caches, allocator, lazy imports) is not counted. A call shorter
    than ``min_sample`` is repeated inside its sample; one more uncounted round follows the
    warm-up. After ``min_repeats`` rounds, stop
    early once ``budget`` seconds have been spent.
    """
    if min_sample is None:
        min_sample = MIN_SAMPLE[0]
    gc_was_enabled = gc.isenabled()
    gc.collect(1)  # a full collection costs ~0.3 s with torch loaded
    gc.disable()
    try:
        inner: dict[str, int] = {}
        for name, fn in contenders.items():
            first = _time_call(fn, 1)
            inner[name] = max(1, min(50, math.ceil(min_sample / max(first, 1e-9))))
        # One uncounted round: the first timed round after set-up is reliably slow
        # (allocator growth, page faults on fresh memory).
        if warmup_round:
            for name, fn in contenders.items():
                _time_call(fn, inner[name])
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)
        start = time.perf_counter()
        for r in range(max(1, repeats)):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                samples[name].append(_time_call(contenders[name], inner[name]))
            spent = time.perf_counter() - start
            if budget is not None and r + 1 >= min_repeats and spent > budget:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: Timing(samples[name], inner[name]) for name in contenders}


def summed(*timings: Timing) -> Timing:
    """Round-by-round sum of timings taken in the same :func:`interleaved` call."""
    return Timing([sum(s) for s in zip(*(t.samples for t in timings), strict=True)], 1)


def paired_ratio(num: Timing, den: Timing) -> float:
    """Median over rounds of ``num / den`` (both from the same interleaved rounds)."""
    if len(num.samples) == len(den.samples):
        return statistics.median(a / b for a, b in zip(num.samples, den.samples, strict=True))
    return num.median / den.median


# ----------------------------------------------------------------------------- targets


#: False in ``--quick`` mode: tiny shapes say nothing about the targets.
JUDGE = [True]


@dataclass
class Target:
    """One goal from the performance issue and whether this run met it."""

    name: str
    section: str
    measured: float | None
    op: str  # "<=" or ">="
    limit: float
    passed: bool | None = field(init=False)
    note: str = ""
    #: ``issue``: a target of the performance issue; ``check``: a consistency check of ours.
    kind: str = "issue"

    def __post_init__(self) -> None:
        if not JUDGE[0]:
            self.passed = None
            self.note = "not judged in --quick mode (tiny shapes)"
        elif self.measured is None or not math.isfinite(self.measured):
            self.passed = None
        elif self.op == "<=":
            self.passed = self.measured <= self.limit
        else:
            self.passed = self.measured >= self.limit

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "MISS", None: "n/a"}[self.passed]

    def cell(self) -> str:
        """``≤1.2 PASS``: the goal and the verdict, for a table cell."""
        sign = "≤" if self.op == "<=" else "≥"
        return f"{sign}{self.limit:g} {self.verdict}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- environment


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(("avx", "fma", "sse4")))
    return []


def environment(pinned: dict[str, Any]) -> dict[str, Any]:
    """Facts that make two result files comparable (or explain why they are not)."""
    import numpy as np

    torch, reason = load_torch()
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "numpy": np.__version__,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        # OPENBLAS_CORETYPE forces a kernel (e.g. Haswell on an AVX-512 CPU); record it.
        "env": {
            k: v
            for k, v in sorted(os.environ.items())
            if k.startswith(("OPENBLAS_", "OMP_", "MKL_", "GOTO", "BLIS_"))
        },
        "threadpools": pinned.get("threadpools", pinned.get("threadpoolctl")),
        "torch": None if torch is None else torch.__version__,
        "torch_skip_reason": reason,
    }
    blas = [p for p in env["threadpools"] or [] if isinstance(p, dict) and p["user_api"] == "blas"]
    env["blas"] = (
        {
            "library": blas[0].get("internal_api"),
            "version": blas[0].get("version"),
            "kernel": blas[0].get("architecture"),
            "threads": blas[0].get("num_threads"),
        }
        if blas
        else None
    )
    if torch is not None:
        env["torch_num_threads"] = pinned.get("torch_num_threads")
        env["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
        env["torch_mkl"] = bool(torch.backends.mkl.is_available())
        with contextlib.suppress(Exception):
            env["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        with contextlib.suppress(Exception):
            config = torch.__config__.show()
            keep = ("Math Kernel Library", "MKL-DNN", "OpenMP", "BLAS_INFO=")
            lines = [line.strip(" -") for line in config.splitlines()]
            env["torch_config"] = [
                (re.search(r"BLAS_INFO=\w+", line) or [line])[0]
                for line in lines
                if any(k in line for k in keep)
            ]
    return env
