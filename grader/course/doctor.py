"""``cs231n-grader doctor``: what this machine offers the course, in one screen."""

from __future__ import annotations

import importlib.metadata as md
import platform
import time

import numpy as np

from cs231n_lib.datasets import cifar10_cache_dir
from grader.sandbox.profile import sandbox_status


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def speed_probe() -> float:
    """Seconds for one fast conv forward+backward on a CIFAR-like batch (N=50, 32x32x3→32)."""
    from cs231n_lib.conv_fast import conv_backward_fast, conv_forward_fast

    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 3, 32, 32))
    w = rng.standard_normal((32, 3, 3, 3))
    b = np.zeros(32)
    start = time.perf_counter()
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    conv_backward_fast(out, cache)
    return time.perf_counter() - start


def doctor() -> int:
    """Print versions, sandbox and dataset status; return 0 (informational)."""
    print(f"python       {platform.python_version()} ({platform.machine()})")
    for dist in ("numpy", "nbgrader", "jupyterlab", "scikit-learn", "torch"):
        print(f"{dist:<12} {_version(dist)}")
    print(f"sandbox      {sandbox_status()}")
    cache = cifar10_cache_dir()
    ready = (cache / "cifar-10-batches-py").exists()
    print(f"CIFAR-10     {'cached at' if ready else 'not downloaded; cache'} {cache}")
    try:
        print(f"speed probe  conv fwd+bwd (50x3x32x32, 32 3x3 filters): {speed_probe():.3f} s")
    except (ImportError, NotImplementedError) as exc:
        print(f"speed probe  unavailable ({exc})")
    return 0
