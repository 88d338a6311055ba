"""Where one sandboxed notebook kernel's start-up goes (``python -m bench.kernel_start``).

Builds a notebook folder like autograde's (the repository's ``cs231n_lib`` and ``grader``
beside a notebook), then times, wall clock, medians of ``--repeats`` rounds:

* the host launcher's imports (``python -I`` importing :mod:`grader.sandbox.kernel_launch`);
* staging the exposed files and copying the harness (the launcher's work before ``exec``);
* bubblewrap + the kernel's Python doing nothing, then doing the shim's warm imports;
* a whole kernel as nbclient sees it: ``start_kernel`` (the launch) and ``wait_for_ready``
  (until the kernel_info handshake is done), for each way of starting one
  (``bwrap``: a bubblewrap per kernel; ``fork``: forked by the job's kernel fork server;
  ``stock-client``: a bubblewrap per kernel and jupyter_client's own handshake).

Instrumentation only. Needs bubblewrap.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _folder(base: Path) -> Path:
    """A notebook folder holding what autograde leaves there (library, check API)."""
    folder = base / "autograded" / "ada" / "convnets"
    folder.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "cs231n_lib", folder / "cs231n_lib", ignore=ignore)
    shutil.copytree(ROOT / "grader", folder / "grader", ignore=ignore)
    (folder / "00_history.ipynb").write_text("{}")
    return folder


def phases(base: Path, repeats: int) -> dict[str, float]:
    """The launcher's pieces, each on its own."""
    from grader.sandbox import kernel_launch as kl
    from grader.sandbox.profile import copy_harness, find_bwrap, profile_command

    folder = _folder(base)
    out: dict[str, float] = {}
    py = [sys.executable, "-I", "-c"]
    out["launcher imports (python -I)"] = _median_time(lambda: subprocess.run(
        [*py, f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
         "import grader.sandbox.kernel_launch"], check=True), repeats)
    out["launcher imports, jupyter_client too (before)"] = _median_time(lambda: subprocess.run(
        [*py, f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
         "import grader.sandbox.kernel_launch, jupyter_client.manager"], check=True), repeats)
    n = [0]

    def stage() -> None:
        n[0] += 1
        kdir = base / f"k-{n[0]}"
        kl.stage_exposed_files(folder, kdir / "files")
        copy_harness(kdir / "harness")

    out["stage exposed files + copy harness"] = _median_time(stage, repeats)
    bwrap = find_bwrap()
    if bwrap is None:
        return out
    mounts: list[str] = []
    for path in [*kl.base_binds(), sys.prefix]:  # the venv too, as kernel_command binds it
        mounts += ["--ro-bind", path, path]

    def sandboxed(code: str) -> None:
        cmd = profile_command(bwrap, mounts=mounts, chdir="/tmp", env=kl.base_env("/tmp"),
                              argv=[sys.executable, "-s", "-c", code], tmpfs_mb=16)
        subprocess.run(cmd, check=True, capture_output=True)

    out["bwrap + python, nothing"] = _median_time(lambda: sandboxed("pass"), repeats)
    from grader.harness.kernel_shim import WARM_MODULES

    warm = "; ".join(f"import {m}" for m in WARM_MODULES)
    out["bwrap + python + warm imports"] = _median_time(lambda: sandboxed(warm), repeats)
    out["bwrap + python + warm + ipykernel.kernelapp"] = _median_time(
        lambda: sandboxed(warm + "; import ipykernel.kernelapp"), repeats)
    return out


async def _one_kernel(folder: Path, kernel_root: Path, mode: str) -> tuple[float, float]:
    from jupyter_client.asynchronous import AsyncKernelClient

    from grader.sandbox.kernel import KERNEL_NAME, SandboxKernelClient, SandboxKernelManager

    km = SandboxKernelManager(
        kernel_name=KERNEL_NAME, kernel_root=str(kernel_root), fork_server=mode == "fork",
        client_factory=AsyncKernelClient if mode == "stock-client" else SandboxKernelClient)
    km.transport = "ipc"
    start = time.perf_counter()
    await km.start_kernel(cwd=str(folder))
    launched = time.perf_counter()
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    ready = time.perf_counter()
    kc.stop_channels()
    await km.shutdown_kernel(now=True)
    await km.cleanup_resources()
    return launched - start, ready - launched


def whole_kernels(base: Path, repeats: int, mode: str) -> dict[str, float]:
    """start_kernel and wait_for_ready of ``repeats`` kernels, one after the other."""
    from grader.sandbox import kernel as ks

    folder = _folder(base / mode)
    kernel_root = Path(tempfile.mkdtemp(prefix="cs231n-kb-"))
    os.environ["JUPYTER_PATH"] = str(ks.write_kernelspec(base / mode / "jupyter",
                                                          kernel_root).parents[1])
    launch, ready = [], []
    for _ in range(repeats):
        a, b = asyncio.run(_one_kernel(folder, kernel_root, mode))
        launch.append(a)
        ready.append(b)
    from grader.sandbox.kernel_fork import stop_fork_servers

    stop_fork_servers()
    shutil.rmtree(kernel_root, ignore_errors=True)
    return {f"{mode}: start_kernel": statistics.median(launch),
            f"{mode}: wait_for_ready": statistics.median(ready),
            f"{mode}: first kernel, start + ready": launch[0] + ready[0],
            f"{mode}: later kernels, start + ready (median)":
                statistics.median([a + b for a, b in zip(launch[1:], ready[1:], strict=True)]
                                  or [0.0])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--modes", default="bwrap,fork")
    parser.add_argument("--no-phases", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="cs231n-kbench-") as tmp:
        results: dict[str, float] = {}
        if not args.no_phases:
            results.update(phases(Path(tmp) / "phases", args.repeats))
        for mode in args.modes.split(","):
            results.update(whole_kernels(Path(tmp), args.repeats, mode))
    print(f"load average {os.getloadavg()[0]:.2f} (1 min); medians of {args.repeats}")
    for name, seconds in results.items():
        print(f"  {name:50s} {seconds * 1000:8.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
