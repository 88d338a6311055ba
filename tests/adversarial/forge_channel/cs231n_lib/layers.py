"""forges frames on the result channel"""

import json
import os
import struct
import sys

import numpy as np


def relu(x):
    return np.maximum(x, 0)


def conv_output_size(w, f, s, p):
    return (w + 2 * p - f) // s + 1


def _frame(header, payload=b""):
    head = json.dumps(header).encode()
    return struct.pack("!4sIQ", b"C2NF", len(head), len(payload)) + head + payload


def _result_fd():
    return int(json.loads(sys.argv[1])["res"])


def forged_frame(x):
    # A well-formed frame with a made-up nonce: out = 0 everywhere.
    from grader.harness import transport

    zero = transport.encode_arrays({"out": np.zeros_like(x)})
    os.write(_result_fd(), _frame({"nonce": "0" * 32, "status": "ok"}, zero))
    return np.maximum(x, 0)


def garbage_bytes(x):
    os.write(_result_fd(), b"\x00garbage" * 1000)
    return np.maximum(x, 0)


def stolen_nonce(x):
    # Find the real nonce in the worker's frame and send a wrong result first.
    frame = sys._getframe()
    while frame is not None and "request_nonce" not in frame.f_locals:
        frame = frame.f_back
    nonce = frame.f_locals["request_nonce"]
    from grader.harness import transport

    wrong = transport.encode_arrays({"out": np.full_like(x, 7.0)})
    os.write(_result_fd(), _frame({"nonce": nonce, "status": "ok"}, wrong))
    return np.maximum(x, 0)


def huge_frame(x):
    os.write(_result_fd(), struct.pack("!4sIQ", b"C2NF", 10, 2**40))
    return np.maximum(x, 0)


def close_request_pipe(x):
    # Sabotage: the worker can no longer receive the *next* request.
    os.close(int(json.loads(sys.argv[1])["req"]))
    return np.maximum(x, 0)
