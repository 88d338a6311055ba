"""opens sockets"""

import socket

import numpy as np


def relu(x):
    return np.maximum(x, 0)


def conv_output_size(w, f, s, p):
    return (w + 2 * p - f) // s + 1


def affine_forward(host, port):
    with socket.create_connection((host, port), timeout=2):
        return np.array([1.0]), None


def udp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"hidden cases", (host, port))
    return np.array([1.0])
