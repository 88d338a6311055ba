"""returns wrong dtypes, shapes and NaN"""

import numpy as np


def relu(x):
    return np.maximum(x, 0)


def conv_output_size(w, f, s, p):
    return (w + 2 * p - f) // s + 1


def strings(x):
    return np.array(["1.0", "2.0"])


def complex_values(x):
    return x + 0j


def objects(x):
    return np.array([1.0, None], dtype=object)


def booleans(x):
    return x > 0


def wrong_shape(x):
    return np.maximum(x, 0)[:, :-1]


def nan_values(x):
    out = np.maximum(x, 0)
    out[0, 0] = np.nan
    return out


def wrong_arity(x):
    return np.maximum(x, 0), None, None


def python_list(x):
    return np.maximum(x, 0).tolist()
