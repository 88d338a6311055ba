"""raises BaseException subclasses"""

import numpy as np


def relu(x):
    return np.maximum(x, 0)


def conv_output_size(w, f, s, p):
    return (w + 2 * p - f) // s + 1


def affine_forward(x, w, b):
    raise KeyboardInterrupt


class Sneaky(BaseException):
    def __str__(self):
        raise RuntimeError("no message for you")


def affine_backward(dout, cache):
    raise Sneaky()
