"""Building the bubblewrap command line and the rlimits for the sandboxed worker.

The library checks start one such sandbox per submission, the zygote
(:mod:`grader.harness.zygote`): the same profile, plus every library composed for the
submission read-only at ``/compositions/<name>/cs231n_lib`` and an empty mount point at
``/submission/cs231n_lib``. Each forked worker binds its own composition there, covers
``/compositions`` and takes a fresh ``/tmp`` and ``/dev/shm`` in a mount namespace of its own.

The profile (measured with bubblewrap 0.8 on Debian 12): read-only binds of ``/usr`` (shared
libraries), the Python install (base interpreter and the site-packages in use), the harness
(a private copy of ``recipes.py``, ``worker.py``, ``transport.py``) and the submission's
``cs231n_lib``; a small private ``/tmp``; ``--remount-ro /``; every namespace unshared (no
network); uid/gid 65534; no capabilities; ``--die-with-parent``; ``--new-session``;
``--clearenv`` and a minimal environment. Nothing else of the host is visible: reading the
grader's registry, the reference library or ``/etc`` fails with ENOENT.

Note: when the grader runs as root, bubblewrap maps the sandbox's uid 65534 to host uid 0
(it writes ``65534 0 1``). The worker has no capabilities and sees only read-only binds,
but ``RLIMIT_NPROC`` does not bind host root, which is why the worker also installs a
seccomp filter that forbids creating processes (see :mod:`grader.harness.worker`).

rlimits are set in the child between fork and exec (so they cover bubblewrap and the
worker): address space, CPU seconds, file size, open files, core dumps, and processes
(where that rlimit binds, i.e. not for uid 0).
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import site
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SANDBOX_HARNESS = "/harness"
SANDBOX_SUBMISSION = "/submission"
#: Where the zygote sees every library composed for a submission (``<name>/cs231n_lib``).
SANDBOX_COMPOSITIONS = "/compositions"
SANDBOX_UID = 65534
UNAVAILABLE_LINE = "SANDBOX UNAVAILABLE: running with rlimits only"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker.

    ``cpu_s`` is a per-call CPU budget (the worker re-arms the soft ``RLIMIT_CPU`` before
    each call); ``cpu_total_s`` is the hard limit over the worker's life. ``timeout_s``
    (wall clock, per call) is enforced by the parent.
    """

    memory_mb: int = 1024
    cpu_s: float = 10.0
    cpu_total_s: int = 600
    fsize_mb: int = 8
    nofile: int = 256
    nproc: int = 64
    tmpfs_mb: int = 16


def find_bwrap() -> str | None:
    return shutil.which("bwrap")


def base_binds() -> list[str]:
    """Host directories the interpreter needs, read-only, at their real paths."""
    paths: list[str] = []
    candidates = [sys.base_prefix, sys.base_exec_prefix,
                  str(Path(os.path.realpath(sys.executable)).parent.parent)]
    candidates += site_dirs()
    for cand in candidates:
        real = os.path.realpath(cand)
        if not os.path.isdir(real) or real == "/":
            continue
        if real == "/usr" or real.startswith("/usr/"):
            continue  # covered by the /usr bind
        if any(real == p or real.startswith(p + "/") for p in paths):
            continue
        paths = [p for p in paths if not p.startswith(real + "/")] + [real]
    return paths


def site_dirs() -> list[str]:
    """The site-packages directories of the running interpreter (NumPy lives there)."""
    dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    dirs += [p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages"))]
    out: list[str] = []
    for d in dirs:
        real = os.path.realpath(d)
        if os.path.isdir(real) and real not in out:
            out.append(real)
    return out


def python_executable() -> str:
    """The real interpreter binary (a venv's ``bin/python`` is a symlink to it)."""
    return os.path.realpath(sys.executable)


def runs_as_root() -> bool:
    """As root, bubblewrap's user namespace would map the sandbox to host uid 0: avoid it."""
    return os.geteuid() == 0


def _private_parents(mounts: Sequence[str]) -> list[str]:
    """Directories bubblewrap creates on its own tmpfs root to hold the mount points.

    It copies the host's mode, so ``/root`` (0700) would stop uid 65534 from reaching a
    Python installed under it. These are the sandbox's own directories, never a host path:
    parents that lie inside a bind are left alone (a ``--chmod`` there would change the host).
    """
    host, own, i = [], [], 0  # mount points showing a host path / the sandbox's own tmpfs
    while i < len(mounts):
        if mounts[i] in ("--bind", "--ro-bind", "--ro-bind-try", "--bind-try"):
            host.append(mounts[i + 2].rstrip("/") or "/")
            i += 3
        elif mounts[i] in ("--tmpfs", "--dir"):
            own.append(mounts[i + 1].rstrip("/") or "/")
            i += 2
        else:
            i += 1
    parents: list[str] = []
    for dest in host + own:
        parent = os.path.dirname(dest)
        while parent not in ("/", ""):
            inside_host = any(parent == b or parent.startswith(b + "/") for b in host)
            if not inside_host and parent not in own and parent not in parents:
                parents.append(parent)
            parent = os.path.dirname(parent)
    return sorted(parents, key=lambda p: p.count("/"))


def profile_command(
    bwrap: str,
    *,
    mounts: Sequence[str],
    chdir: str,
    env: dict[str, str],
    argv: Sequence[str],
    tmpfs_mb: int,
    as_root: bool | None = None,
) -> list[str]:
    """The profile every sandboxed process shares, around its own ``mounts`` (bwrap options).

    ``/usr`` and the merged-usr links, ``/proc``, ``/dev``, a private ``/tmp`` of ``tmpfs_mb``
    (before ``mounts``: a tmpfs after a bind under /tmp would hide it), then ``mounts``, then
    ``--remount-ro /``, every namespace unshared, no capabilities, ``--die-with-parent``,
    ``--new-session``, ``--clearenv`` and ``env``; ``-- argv`` last.

    Identity: not as root, a user namespace maps uid/gid 65534 inside to the caller's
    unprivileged uid. As root (``as_root``, default: the current euid), no user namespace
    (it would map to host root); bubblewrap keeps only CAP_SETUID/CAP_SETGID and ``argv``
    must give up root first thing (:func:`grader.harness.privileges.drop_to`).
    """
    as_root = runs_as_root() if as_root is None else as_root
    if as_root:
        identity = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                    "--unshare-cgroup-try", "--cap-drop", "ALL",
                    "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        identity = ["--unshare-all", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
                    "--cap-drop", "ALL"]
    chmods: list[str] = []
    for parent in _private_parents(["--tmpfs", "/tmp", *mounts]):
        chmods += ["--chmod", "0755", parent]
    cmd = [bwrap, *system_binds(), "--proc", "/proc", "--dev", "/dev",
           "--perms", "01777", "--size", str(tmpfs_mb << 20), "--tmpfs", "/tmp", *mounts,
           *chmods, "--remount-ro", "/", *identity,
           "--die-with-parent", "--new-session",
           "--hostname", "sandbox", "--chdir", chdir, "--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return [*cmd, "--", *argv]


def copy_harness(dst: Path) -> Path:
    """A private copy of :mod:`grader.harness` as ``dst/grader/harness`` (a sandbox's
    ``PYTHONPATH`` entry): only the harness goes into a sandbox, never the checks."""
    from grader import harness

    pkg = dst / "grader"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""The sandbox\'s view of grader: the harness only."""\n')
    shutil.copytree(Path(harness.__file__).resolve().parent, pkg / "harness",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dst


def bwrap_command(
    bwrap: str,
    *,
    harness_dir: str,
    package_dir: str | None,
    argv: Sequence[str],
    env: dict[str, str],
    limits: Limits = Limits(),
    libraries: Mapping[str, str] | None = None,
) -> list[str]:
    """The worker's (or the zygote's) full ``bwrap ... -- argv`` command line.

    ``harness_dir`` is bound at ``/harness``; ``package_dir`` (the submission's
    ``cs231n_lib``) at ``/submission/cs231n_lib``; both read-only. ``libraries`` (the
    zygote: name -> a composed ``cs231n_lib``) are bound read-only at
    ``/compositions/<name>/cs231n_lib`` and an empty ``/submission/cs231n_lib`` is made for
    each forked worker to bind its own over.
    """
    mounts = ["--size", str(limits.tmpfs_mb << 20), "--tmpfs", "/dev/shm"]
    for path in base_binds():
        mounts += ["--ro-bind", path, path]
    mounts += ["--ro-bind", harness_dir, SANDBOX_HARNESS]
    mounts += ["--dir", SANDBOX_SUBMISSION]
    if package_dir is not None:
        mounts += ["--ro-bind", package_dir, f"{SANDBOX_SUBMISSION}/cs231n_lib"]
    if libraries is not None:
        mounts += ["--dir", f"{SANDBOX_SUBMISSION}/cs231n_lib", "--dir", SANDBOX_COMPOSITIONS]
        for name, path in sorted(libraries.items()):
            mounts += ["--ro-bind", path, f"{SANDBOX_COMPOSITIONS}/{name}/cs231n_lib"]
    return profile_command(bwrap, mounts=mounts, chdir="/tmp", env=env, argv=argv,
                           tmpfs_mb=limits.tmpfs_mb)


def system_binds() -> list[str]:
    """``/usr`` read-only, and ``/lib``, ``/lib64``, ``/bin`` as on the host (merged-usr links)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("lib", "lib64", "lib32", "bin", "sbin"):
        target = f"/{name}"
        if os.path.islink(target):
            args += ["--symlink", os.readlink(target), target]
        elif os.path.isdir(target):
            args += ["--ro-bind", target, target]
    return args


def base_env(tmpdir: str = "/tmp") -> dict[str, str]:
    """The environment every sandboxed process starts from (nothing of the grader's)."""
    threads = "1"
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "HOME": tmpdir,
        "TMPDIR": tmpdir,
        "MPLCONFIGDIR": f"{tmpdir}/mpl",
        "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": threads,
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "LANG": "C.UTF-8",
    }


def worker_env(pythonpath: Sequence[str], tmpdir: str = "/tmp") -> dict[str, str]:
    """The worker's whole environment (nothing is inherited from the grader)."""
    return {**base_env(tmpdir), "PYTHONPATH": os.pathsep.join(pythonpath),
            "PYTHONHASHSEED": "0"}


def _user_process_count(uid: int) -> int:
    count = 0
    try:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid == uid:
                        count += 1
                except OSError:
                    pass
    except OSError:
        return 0
    return count


def nproc_limit(limits: Limits, uid: int = SANDBOX_UID) -> int:
    """RLIMIT_NPROC for a sandbox that runs as ``uid`` (a count per uid, host wide): the
    processes and threads that uid has now, plus this sandbox's allowance."""
    return _user_process_count(uid) + limits.nproc


def rlimits(limits: Limits) -> list[tuple[int, tuple[int, int]]]:
    """The ``(resource, (soft, hard))`` pairs the child sets before exec."""
    mem = limits.memory_mb << 20
    out = [
        (resource.RLIMIT_AS, (mem, mem)),
        (resource.RLIMIT_CPU, (int(limits.cpu_total_s), int(limits.cpu_total_s))),
        (resource.RLIMIT_FSIZE, (limits.fsize_mb << 20, limits.fsize_mb << 20)),
        (resource.RLIMIT_NOFILE, (limits.nofile, limits.nofile)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]
    uid = os.getuid()
    if uid != 0 and hasattr(resource, "RLIMIT_NPROC"):
        # RLIMIT_NPROC counts every process of the uid: leave room for the ones running.
        n = _user_process_count(uid) + limits.nproc
        out.append((resource.RLIMIT_NPROC, (n, n)))
    return out


def make_preexec(limits: Limits) -> Callable[[], None]:
    pairs = rlimits(limits)  # computed before fork: the child only calls setrlimit

    def preexec() -> None:
        for res, value in pairs:
            try:
                resource.setrlimit(res, value)
            except (ValueError, OSError):
                pass

    return preexec


@functools.lru_cache(maxsize=4)
def probe_bwrap(bwrap: str | None) -> tuple[bool, str]:
    """Run a trivial command under the real profile: ``(works, description)``."""
    if bwrap is None:
        return False, "bubblewrap (bwrap) not found on PATH"
    try:
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.strip() or "bubblewrap"
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"{bwrap} cannot run: {exc}"
    true = shutil.which("true", path="/usr/bin:/bin") or "/usr/bin/true"
    cmd = profile_command(bwrap, mounts=[], chdir="/tmp", env={}, argv=[true],
                          tmpfs_mb=Limits().tmpfs_mb)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"{version} at {bwrap} cannot run: {exc}"
    ms = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        return False, f"{version} at {bwrap} fails: {proc.stderr.strip()[:300]}"
    return True, f"{version} at {bwrap}: works (probe {ms:.0f} ms)"


def sandbox_available(bwrap: str | None = None) -> bool:
    return probe_bwrap(bwrap if bwrap is not None else find_bwrap())[0]


def sandbox_status() -> str:
    """One line for ``doctor``: is the secure checker sandboxed here, and how."""
    works, what = probe_bwrap(find_bwrap())
    if works:
        return (f"sandbox: {what}; read-only Python and submission, private /tmp, no network, "
                f"uid {SANDBOX_UID}, no capabilities, rlimits, seccomp (no processes); library "
                "workers: forks of one zygote per submission, each in its own user/mount/IPC "
                "namespace, where the kernel allows it (else one sandbox each)")
    return f"{UNAVAILABLE_LINE} ({what})"
