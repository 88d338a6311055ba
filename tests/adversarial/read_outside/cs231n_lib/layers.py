"""reads and writes files outside the submission"""

import os

import numpy as np


def relu(x):
    return np.maximum(x, 0)


def conv_output_size(w, f, s, p):
    return (w + 2 * p - f) // s + 1


def affine_forward(path):
    with open(path, "rb") as f:
        return np.array([len(f.read())]), None


def list_dir(path):
    return np.array([len(os.listdir(path))])


def write_file(path, nbytes):
    with open(path, "wb") as f:
        f.write(b"x" * nbytes)
    return np.array([nbytes])
