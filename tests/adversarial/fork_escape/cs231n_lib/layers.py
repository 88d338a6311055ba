"""tries to leave something behind for the next forked worker, or to reach the zygote

Every attack returns 1 where it worked and 0 where it was refused; the test asserts which.
"""

import builtins
import ctypes
import os
import resource
import signal
import threading
import time

import numpy as np

STATE = {"planted": 0}
_LIBC = ctypes.CDLL(None, use_errno=True)
_PLACES = ("/tmp", "/dev/shm", "/", "/dev", "/submission", "/submission/cs231n_lib",
           "/harness", "/compositions", "/proc", "/usr")


def relu(x):
    return np.maximum(x, 0)


def conv_output_size(w, f, s, p):
    return (w + 2 * p - f) // s + 1


def _worked(action):
    try:
        action()
        return 1
    except OSError:
        return 0


def _write(path):
    with open(path, "w") as f:
        f.write("planted by the previous worker")


def plant():
    """Leave files, IPC objects, module state, a patched NumPy and a thread behind."""
    files = [_worked(lambda d=d: _write(os.path.join(d, "planted"))) for d in _PLACES]
    shm = _LIBC.shmget(0x5EC12E7, 4096, 0o1666)  # IPC_CREAT | 0666
    msg = _LIBC.msgget(0x5EC12E7, 0o1666)
    sem = _LIBC.semget(0x5EC12E7, 1, 0o1666)
    mq = _LIBC.mq_open(b"/planted", os.O_CREAT | os.O_RDWR, 0o666, None)
    STATE["planted"] = 1
    np.maximum = lambda a, b: a * 0 - 7
    builtins.planted = True

    def keep_patching():
        while True:
            np.maximum = lambda a, b: a * 0 - 7
            time.sleep(0.001)

    threading.Thread(target=keep_patching, daemon=True).start()
    ipc = [int(shm >= 0), int(msg >= 0), int(sem >= 0), int(mq >= 0)]
    return np.array(files + ipc, dtype=np.int64)


def look():
    """What of plant() this worker sees: files, IPC objects, state, NumPy, threads."""
    files = [int(os.path.exists(os.path.join(d, "planted"))) for d in _PLACES]
    shm = _LIBC.shmget(0x5EC12E7, 0, 0)
    msg = _LIBC.msgget(0x5EC12E7, 0)
    ipc = [int(shm >= 0), int(msg >= 0)]
    seen = [STATE["planted"], int(hasattr(builtins, "planted")),
            int(np.maximum(np.ones(2), 0)[0] != 1), threading.active_count(),
            len(os.listdir("/proc/self/task"))]
    return np.array(files + ipc + seen, dtype=np.int64)


def _signal(pid, sig):
    return _worked(lambda: os.kill(pid, sig))


def _foreign_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]


def strike():
    """Signal, limit and reschedule every other process, its parent and pid 1 first; mount."""
    ppid = os.getppid()
    done = [_signal(1, signal.SIGKILL), _signal(ppid, signal.SIGKILL),
            _signal(ppid, signal.SIGSTOP), _signal(0, signal.SIGSTOP),
            _signal(-1, signal.SIGKILL)]
    done.append(_worked(lambda: resource.prlimit(ppid, resource.RLIMIT_NOFILE, (3, 3))))
    done.append(_worked(lambda: os.sched_setaffinity(ppid, {0})))
    done.append(_worked(lambda: os.setpriority(os.PRIO_PROCESS, ppid, 19)))
    done.append(_worked(lambda: os.close(os.pidfd_open(ppid))))
    done.append(int(_LIBC.syscall(200, ppid, signal.SIGKILL) == 0))  # tkill
    done.append(int(_LIBC.syscall(430, b"tmpfs", 0) >= 0))  # fsopen: a mount of its own
    done.append(int(_LIBC.mount(b"none", b"/tmp", b"tmpfs", 0, None) == 0))
    for pid in _foreign_pids():
        done.append(_signal(pid, signal.SIGKILL))
    return np.array(done, dtype=np.int64)


def _read(path, size=64):
    with open(path, "rb") as f:
        return f.read(size)


def pry():
    """Read other processes' /proc entries and the other functions' compositions."""
    got = []
    for pid in _foreign_pids():
        for leaf in ("environ", "mem", "maps", "fd/0"):
            got.append(_worked(lambda pid=pid, leaf=leaf: _read(f"/proc/{pid}/{leaf}")))
        got.append(_worked(lambda pid=pid: os.listdir(f"/proc/{pid}/root/compositions")))
        got.append(_worked(lambda pid=pid: os.listdir(f"/proc/{pid}/cwd")))
    listed = os.listdir("/compositions") if os.path.isdir("/compositions") else []
    other = _worked(lambda: _read("/compositions/other/cs231n_lib/layers.py"))
    own = _read("/submission/cs231n_lib/layers.py", 200)
    return np.array([sum(got), len(got), len(listed), other,
                     int(b"tries to leave" in own)], dtype=np.int64)


def own_signals():
    """Signalling itself still works (Python's own machinery needs it)."""
    hits = []
    signal.signal(signal.SIGUSR1, lambda *a: hits.append(1))
    os.kill(os.getpid(), signal.SIGUSR1)
    signal.raise_signal(signal.SIGUSR1)
    return np.array([len(hits)], dtype=np.int64)
