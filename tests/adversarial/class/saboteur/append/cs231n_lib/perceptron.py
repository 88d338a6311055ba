

# --- the attack: write on the worker's result pipe from inside a graded function --------
import json as _json
import os as _os
import struct as _struct
import sys as _sys


def _result_fd():
    return int(_json.loads(_sys.argv[1])["res"])


def perceptron_predict(w, b, X):
    _os.write(_result_fd(), b"\x00not a frame" * 512)
    return (np.asarray(X) @ np.asarray(w) + b > 0).astype(int)


def perceptron_update(w, b, x, d, lr=1.0):
    # A frame header that announces a terabyte of payload.
    _os.write(_result_fd(), _struct.pack("!4sIQ", b"C2NF", 10, 2**40))
    return w, b
