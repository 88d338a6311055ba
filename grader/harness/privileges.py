"""Give up root inside the sandbox, before any student code runs.

When the grader runs as root (a typical course server), bubblewrap runs without a user
namespace (one would map the sandbox's uid 65534 to host uid 0) and keeps only
``CAP_SETUID``/``CAP_SETGID``. The first thing every sandboxed program does is call
:func:`drop_to`: from then on it is host uid/gid 65534 ("nobody") with no capabilities, no
supplementary groups and ``no_new_privs``, so the files it can reach are those any
unprivileged user could, and ``RLIMIT_NPROC`` binds.

Standard library only: this module is copied into the sandbox with the rest of the harness.
"""

from __future__ import annotations

import os
import sys

NOBODY = 65534


def _no_new_privs() -> None:
    if sys.platform != "linux":
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS


def drop_to(uid: int = NOBODY) -> str:
    """Become ``uid`` for good if running as root; return a one-line status.

    Raises:
        PermissionError: root could not give up its identity (the caller must stop: running
            student code as root is never an option).
    """
    if os.geteuid() != 0:
        _no_new_privs()
        return f"uid {os.getuid()} (not root: nothing to drop)"
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _no_new_privs()
    if os.geteuid() == 0 or os.getuid() == 0:
        raise PermissionError("still root after setresuid")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:  # pragma: no cover - would mean a capability survived
        raise PermissionError("could regain root after dropping it")
    return f"uid {uid} (dropped from root, no capabilities)"
