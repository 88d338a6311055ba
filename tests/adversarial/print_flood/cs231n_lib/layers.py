"""prints 300 MB, then answers correctly"""

import sys

import numpy as np


def relu(x):
    return np.maximum(x, 0)


def conv_output_size(w, f, s, p):
    return (w + 2 * p - f) // s + 1


def affine_forward(x, w, b):
    line = "x" * (1 << 20)
    for _ in range(250):
        print(line)
    for _ in range(50):
        sys.stderr.write(line)
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)
