"""Data for the course: what ships with the dependencies, what is synthetic, and CIFAR-10.

- :func:`load_digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images, no
  network), split, normalised and shaped (N, 1, 8, 8) (or upsampled to 16x16).
- :func:`oriented_bars`: synthetic images of bars at a few orientations, the stimuli of
  Hubel and Wiesel's simple cells.
- :func:`sample_photo`: a real photograph that ships with matplotlib (Grace Hopper).
- :func:`load_cifar10`: CIFAR-10, downloaded once and verified (:mod:`cs231n_lib.cifar10`,
  re-exported here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cs231n_lib import _validate
from cs231n_lib.cifar10 import (
    CIFAR10_ARCHIVE,
    CIFAR10_CLASSES,
    CIFAR10_DIR,
    CIFAR10_MD5,
    CIFAR10_URL,
    DownloadError,
    cache_dir,
    cifar10_cache_dir,
    download_cifar10,
    extract_cifar10,
    load_cifar10,
    md5sum,
    read_cifar_batch,
)

__all__ = [
    "CIFAR10_ARCHIVE",
    "CIFAR10_DIR",
    "CIFAR10_URL",
    "CIFAR10_MD5",
    "CIFAR10_CLASSES",
    "DownloadError",
    "cache_dir",
    "cifar10_cache_dir",
    "load_digits",
    "oriented_bars",
    "sample_photo",
    "download_cifar10",
    "extract_cifar10",
    "read_cifar_batch",
    "load_cifar10",
    "md5sum",
]

# --------------------------------------------------------------------------- digits


def _check_fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    if not 0 < value < 1:
        raise ValueError(f"{name} must satisfy 0 < {name} < 1, got {value}")
    return float(value)


def load_digits(
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    seed: int = 0,
    size: int = 8,
    dtype: Any = np.float32,
) -> dict[str, np.ndarray]:
    """scikit-learn's handwritten digits, split and normalised for a ConvNet.

    1,797 grey images of the digits 0-9, 8x8 pixels with values 0-16 (UCI "optical
    recognition of handwritten digits"; bundled with scikit-learn, so no network).

    The split is stratified by class: ``test_fraction`` of all images for test, then
    ``val_fraction`` of the rest for validation. Pixels are scaled to [0, 1], then the
    per-pixel mean of the *training* images is subtracted and the result divided by their
    overall standard deviation (the same numbers are applied to validation and test).

    Args:
        test_fraction, val_fraction: in (0, 1).
        seed: seed of the split.
        size: 8 (original) or 16 (each pixel repeated 2x2, nearest-neighbour upsampling,
            which gives room for two 2x2 poolings).
        dtype: float32 or float64.

    Returns:
        dict with ``X_train``, ``X_val``, ``X_test`` of shape (N, 1, size, size), integer
        labels ``y_train``, ``y_val``, ``y_test`` (N,) in 0..9, and ``mean`` (1, size, size),
        ``std`` (a 0-d array), the normalisation.
    """
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    test_fraction = _check_fraction(test_fraction, "test_fraction")
    val_fraction = _check_fraction(val_fraction, "val_fraction")
    if size not in (8, 16):
        raise ValueError(f"size must be 8 (original) or 16 (upsampled 2x), got {size!r}")
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise ValueError(f"dtype must be a floating type, got {dt}")

    digits = _sk_load_digits()
    X = (digits.images / 16.0).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    if size == 16:
        X = X.repeat(2, axis=2).repeat(2, axis=3)
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=val_fraction, random_state=seed, stratify=y_rest
    )
    mean = X_train.mean(axis=0)
    std = (X_train - mean).std()
    out = {
        "X_train": (X_train - mean) / std,
        "y_train": y_train,
        "X_val": (X_val - mean) / std,
        "y_val": y_val,
        "X_test": (X_test - mean) / std,
        "y_test": y_test,
        "mean": mean,
        "std": np.asarray(std),
    }
    for key in ("X_train", "X_val", "X_test", "mean", "std"):
        out[key] = np.array(out[key], dtype=dt, order="C")
    return out


# --------------------------------------------------------------------------- bars


def oriented_bars(
    n: int,
    size: int = 16,
    angles: tuple[float, ...] = (0.0, 45.0, 90.0, 135.0),
    seed: int | None = 0,
    noise: float = 0.05,
    width: float = 1.0,
    dtype: Any = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic grey images of one bright bar each, labelled by the bar's orientation.

    Each image holds a bar of length about ``size/2`` through a random point near the
    centre, at one of ``angles`` (degrees, anticlockwise from horizontal), drawn as a
    Gaussian ridge of standard deviation ``width`` pixels across the bar, plus Gaussian pixel
    noise of standard deviation ``noise``. Values lie roughly in [0, 1].

    Args:
        n: number of images.
        size: image height = width in pixels (>= 5).
        angles: the orientations; label k means ``angles[k]``. At least 2 and distinct.
        seed: random seed.
        noise: standard deviation of the added noise (>= 0).
        width: bar half-thickness scale in pixels (> 0).
        dtype: floating dtype of the images.

    Returns:
        X: (n, 1, size, size) images; y: (n,) int64 labels in 0..len(angles) - 1, balanced
        (label i % K for image i, then shuffled).
    """
    n = _validate.positive_int(n, "n")
    size = _validate.positive_int(size, "size")
    if size < 5:
        raise ValueError(f"size must be >= 5 pixels to draw a bar, got {size}")
    angles = tuple(float(a) for a in angles)
    if len(angles) < 2 or len(set(a % 180 for a in angles)) != len(angles):
        raise ValueError(f"angles must hold >= 2 distinct orientations (mod 180), got {angles}")
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    width = _validate.positive_real(width, "width")
    rng = np.random.default_rng(seed)

    k = len(angles)
    y = rng.permutation(np.arange(n) % k).astype(np.int64)
    theta = np.deg2rad(np.asarray(angles))[y]
    centre = (size - 1) / 2 + rng.uniform(-size / 8, size / 8, size=(n, 2))
    half_len = size / 4 + rng.uniform(0, size / 8, size=n)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    # Image rows grow downwards, so "anticlockwise" direction is (dx, dy) = (cos, -sin).
    ux, uy = np.cos(theta), -np.sin(theta)
    dx = cols[None] - centre[:, 1, None, None]
    dy = rows[None] - centre[:, 0, None, None]
    along = dx * ux[:, None, None] + dy * uy[:, None, None]
    across = -dx * uy[:, None, None] + dy * ux[:, None, None]
    ridge = np.exp(-0.5 * (across / width) ** 2)
    ends = np.clip(half_len[:, None, None] + 0.5 - np.abs(along), 0.0, 1.0)
    X = ridge * ends + noise * rng.standard_normal((n, size, size))
    return X[:, None].astype(dtype), y


# --------------------------------------------------------------------------- photo


def sample_photo(dtype: Any = np.float32) -> np.ndarray:
    """A real photograph that ships with matplotlib: Grace Hopper in uniform.

    Returns:
        RGB image, shape (H, W, 3) = (600, 512, 3), values in [0, 1].
    """
    import matplotlib.cbook as cbook
    import matplotlib.image as mpimg

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        img = mpimg.imread(f, format="jpg")
    img = np.asarray(img)
    if img.dtype == np.uint8:
        img = img / 255.0
    return np.ascontiguousarray(img[..., :3], dtype=dtype)
