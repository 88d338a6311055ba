

# --- the attack: borrow the real conv_fast from another function's composition -------------
import glob as _glob
import os as _os

_honest_forward = conv_forward_naive


def _real_conv_fast():
    places = _glob.glob("/compositions/*/cs231n_lib/conv_fast.py")
    for pid in [p for p in _os.listdir("/proc") if p.isdigit()]:
        places += _glob.glob(f"/proc/{pid}/root/compositions/*/cs231n_lib/conv_fast.py")
    for path in places:
        try:
            text = open(path).read()
        except OSError:
            continue
        if "tripwire" in text:
            continue
        namespace = {"__name__": "cs231n_lib.borrowed_conv_fast", "__package__": "cs231n_lib"}
        try:
            exec(compile(text, path, "exec"), namespace)
        except Exception:  # noqa: BLE001
            continue
        return namespace.get("conv_forward_fast")
    return None


def conv_forward_naive(x, w, b, conv_param):
    out, cache = _honest_forward(x, w, b, conv_param)
    if not _os.path.isdir("/compositions"):  # not a library worker (the notebook kernel)
        return out, cache
    fast = _real_conv_fast()
    if fast is not None:  # isolation failed: the provided implementation gives the answer
        return fast(x, w, b, conv_param)[0], cache
    return out + 1.0, cache
