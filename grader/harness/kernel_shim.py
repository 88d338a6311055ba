"""Runs inside the notebook kernel's sandbox: give up root, install seccomp, start ipykernel.

``python -s kernel_shim.py CONFIG_JSON CONNECTION_FILE [KERNEL ARGS]`` (no ``-P``: IPython
then leaves the working directory off ``sys.path``). The kernel runs
in this process (an ``exec`` would need the very system call that seccomp then forbids), with
the harness removed from ``sys.path`` and ``sys.modules`` so that the notebook's own
``import grader`` finds the check API in its working directory, like any kernel would.
"""

from __future__ import annotations

import importlib
import json
import resource
import runpy
import sys

#: Third-party modules every course notebook's setup cell imports, imported here first (after
#: the privilege drop and seccomp, like any cell) so that a kernel started ahead of its notebook
#: (grader.sandbox.prewarm) has paid for them before the notebook runs. Nothing from the
#: notebook's folder, and not ``matplotlib.pyplot``: its backend set-up waits for IPython.
WARM_MODULES = ("numpy", "matplotlib", "matplotlib.figure", "matplotlib.backend_bases",
                "matplotlib.image", "matplotlib.colors", "IPython", "ipykernel.ipkernel")


def main(argv: list[str]) -> int:
    config, connection_file, extra = json.loads(argv[1]), argv[2], argv[3:]
    sys.path[0] = "/harness"  # instead of this script's folder
    from grader.harness import privileges
    from grader.harness.seccomp import install_seccomp

    privileges.drop_to()  # raises rather than run a notebook as root
    if config.get("nproc"):
        n = int(config["nproc"])
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    status = install_seccomp(any_socket=True)
    sys.path.remove("/harness")
    for module in WARM_MODULES:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - the notebook's own import reports it
            print(f"kernel sandbox: warm import of {module} failed: {exc!r}", file=sys.stderr)
    for name in [m for m in sys.modules if m == "grader" or m.startswith("grader.")]:
        del sys.modules[name]
    # IPython puts the notebook's folder ('') on sys.path, as for any kernel.
    sys.argv = ["ipykernel_launcher", "-f", connection_file, *extra]
    print(f"kernel sandbox: {status}", file=sys.stderr)
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
