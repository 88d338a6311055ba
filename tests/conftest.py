"""Shared test plumbing.

Tests that need a system tool (bubblewrap, Chromium) or an optional package (torch) skip
with a visible reason on a machine that lacks it, but fail under ``CI=true``, where
``.ci/run`` installs them: a skipped check must never hide in CI.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(available: bool, what: str) -> None:
    """Skip (laptop) or fail (CI) when ``what`` is missing."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is missing under CI=true; .ci/run must install it")
    pytest.skip(f"{what} not available on this machine")


@pytest.fixture(scope="session")
def torch():
    """PyTorch as an independent oracle (float64, one thread)."""
    require(importlib.util.find_spec("torch") is not None, "torch (pip install torch==2.13.0)")
    import torch as _torch

    _torch.set_num_threads(1)
    return _torch


@pytest.fixture(scope="session")
def bwrap() -> str:
    """Path of bubblewrap (apt-get install bubblewrap)."""
    path = shutil.which("bwrap")
    require(path is not None, "bubblewrap (apt-get install bubblewrap)")
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's Chromium (apt-get install chromium)."""
    path = shutil.which("chromium")
    require(path is not None, "chromium (apt-get install chromium)")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(231)
