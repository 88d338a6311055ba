"""The next notebook's sandboxed kernel boots while this one runs (trusted; grading job only).

A sandboxed kernel (:mod:`grader.sandbox.kernel`) in a bubblewrap of its own takes 1–2 s to
become ready (bubblewrap, Python, ipykernel, the warm imports of the kernel shim) and a
submission has ten notebooks. A kernel forked by the job's fork server
(:mod:`grader.sandbox.kernel_fork`) is ready in a few hundred milliseconds and starts no
spare (the server runs one kernel at a time); this module matters when the kernels are not
forked (``c.SandboxKernelManager.fork_server = False``, or the server failed).
:class:`PrewarmedExecute` is nbgrader's ``Execute`` with one change: as soon as a notebook's
kernel is up, it starts the *next* notebook's kernel, exactly as ``Execute`` would have started
it (same kernel manager class, kernelspec, arguments, working directory and environment), and
the next notebook takes that kernel instead of starting one. Each notebook still gets a kernel
of its own that no notebook code has touched before: a spare kernel has run nothing but its
start-up, its private directory and tmpfs working directory are its own, and it is shut down
with its notebook. A grading job grades one submission, so a spare never outlives it
(:func:`discard_spare` at the end of the job; the job runner kills any kernel left behind).
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any

from jupyter_core.utils import run_sync
from nbgrader.preprocessors import Execute
from traitlets import List, Unicode

#: The one spare kernel of this process: ``(key, kernel manager)`` or None.
_SPARE: list[Any] = [None]


def _shutdown(km: Any) -> None:
    try:
        run_sync(km.shutdown_kernel)(now=True)
    except Exception:  # noqa: BLE001 - already dead; cleanup_resources still runs below
        pass
    try:
        run_sync(km.cleanup_resources)()
    except Exception:  # noqa: BLE001
        pass


def discard_spare() -> None:
    """Shut the spare kernel down, if any (end of a grading job)."""
    held, _SPARE[0] = _SPARE[0], None
    if held is not None:
        _shutdown(held[1])


atexit.register(discard_spare)


class PrewarmedExecute(Execute):
    """nbgrader's ``Execute``, with the next notebook's kernel started ahead of time."""

    notebooks = List(Unicode(), help="Notebook names (stems) in the order nbgrader grades "
                     "them: no spare kernel is started after the last one").tag(config=True)

    def _key(self, km: Any) -> tuple:
        """What a kernel was started for: it serves only a notebook with the same."""
        path = self.resources.get("metadata", {}).get("path") or ""
        return (type(km), km.kernel_name, os.path.realpath(path) if path else "",
                tuple(self._kernel_arguments(km)), os.environ.get("NBGRADER_EXECUTION", ""))

    def _kernel_arguments(self, km: Any) -> list[str]:
        """``extra_arguments`` as nbclient's ``async_start_new_kernel`` completes them."""
        args = list(self.extra_arguments)
        if (getattr(km, "ipykernel", False) and self.ipython_hist_file
                and not any(a.startswith("--HistoryManager.hist_file") for a in args)):
            args.append(f"--HistoryManager.hist_file={self.ipython_hist_file}")
        return args

    def _has_next(self) -> bool:
        name = Path(str(self.resources.get("unique_key") or "")).stem
        if name not in self.notebooks:
            return False
        return self.notebooks.index(name) < len(self.notebooks) - 1

    def create_kernel_manager(self) -> Any:
        held, _SPARE[0] = _SPARE[0], None
        if held is not None:
            key, km = held
            if key == self._key(km) and run_sync(km.is_alive)():
                self.log.debug("prewarm: using the kernel started ahead")
                self.km = km
                return km
            self.log.warning("prewarm: spare kernel not used (%s)",
                             "dead" if key == self._key(km) else "started for another notebook")
            _shutdown(km)  # started for something else, or died: never reused
        return super().create_kernel_manager()

    def start_new_kernel_client(self) -> Any:
        client = super().start_new_kernel_client()
        # This notebook's kernel is ready now: start the next one, which boots (on the other
        # core) while this notebook's cells run; not earlier, or the two boots compete.
        # Not when this kernel was forked by the job's fork server: the next one is forked in
        # milliseconds when its notebook starts, and the server runs one kernel at a time.
        forked = getattr(getattr(self.km, "provisioner", None), "forked", None) is not None
        if self._has_next() and not forked:
            discard_spare()
            km = self.kernel_manager_class(kernel_name=self.kernel_name, config=self.config)
            path = self.resources.get("metadata", {}).get("path") or None
            kwargs = {"cwd": path} if path else {}
            try:
                run_sync(km.start_kernel)(extra_arguments=self._kernel_arguments(km), **kwargs)
                _SPARE[0] = (self._key(km), km)
            except Exception:  # noqa: BLE001 - the next notebook then starts its own kernel
                _shutdown(km)
        return client


def config_lines(notebooks: list[str]) -> str:
    """Lines for a scratch ``nbgrader_config.py``, after the autograde pipeline is set:
    nbgrader's ``Execute`` replaced by :class:`PrewarmedExecute` (``notebooks``: the
    assignment's notebook stems, sorted as nbgrader grades them)."""
    return (
        "\n# The next notebook's kernel starts early (grader.sandbox.prewarm)\n"
        "from nbgrader.preprocessors import Execute as _Execute\n"
        "from grader.sandbox.prewarm import PrewarmedExecute as _Prewarmed\n"
        "c.Autograde.autograde_preprocessors = [\n"
        "    _Prewarmed if p is _Execute else p for p in c.Autograde.autograde_preprocessors]\n"
        f"c.PrewarmedExecute.notebooks = {sorted(notebooks)!r}\n"
        'c.Execute.shutdown_kernel = "immediate"\n'
    )
