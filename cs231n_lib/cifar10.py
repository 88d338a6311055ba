"""CIFAR-10, downloaded once over https into a cache directory, verified, extracted, parsed.

:func:`load_cifar10` downloads the python archive (:data:`CIFAR10_URL`), checks its MD5,
extracts it and parses the batches. The "python version" of CIFAR-10 stores each batch as a
*pickle* (a dict with ``b'data'``, ``b'labels'``, ``b'batch_label'``, ``b'filenames'``).
Unpickling can run arbitrary code, so this module parses only batches extracted from the
archive whose MD5 matched :data:`CIFAR10_MD5`, and :func:`read_cifar_batch` uses a restricted
unpickler that refuses every global except the few NumPy array constructors the format needs.
Do not point :func:`read_cifar_batch` at files of unknown origin all the same.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from cs231n_lib import _validate

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")


class DownloadError(ConnectionError):
    """A data file could not be downloaded; the message says where to place it by hand."""


def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """Where downloads live: ``root``, else ``$CS231N_DATA``, else ``~/.cache/cs231n_lib``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("CS231N_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cs231n_lib"


def cifar10_cache_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder holding ``cifar-10-python.tar.gz`` and, once extracted,
    ``cifar-10-batches-py/`` (the same as :func:`cache_dir`)."""
    return cache_dir(root)


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex MD5 digest of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    _validate.path(path, "path")
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, expected: str) -> None:
    got = md5sum(path)
    if got != expected:
        raise ValueError(
            f"{path}: MD5 checksum {got} does not match the expected {expected}; the file is "
            f"corrupt, truncated or not the CIFAR-10 python archive. Delete it and download "
            f"it again from {CIFAR10_URL}"
        )


def download_cifar10(
    root: str | os.PathLike | None = None,
    url: str | None = None,
    md5: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download the CIFAR-10 python archive (~163 MB) once and verify its MD5.

    An archive already in the cache is only verified. The download goes to a ``.part`` file
    that is renamed after the checksum matches, so an interrupted download never looks
    complete.

    Args:
        root: cache folder (see :func:`cache_dir`).
        url, md5: default to :data:`CIFAR10_URL` and :data:`CIFAR10_MD5`.
        progress: show a tqdm progress bar (bytes).
        timeout: seconds to wait for the server.

    Returns:
        Path of the verified archive, ``cache_dir(root) / "cifar-10-python.tar.gz"``.

    Raises:
        DownloadError: the server could not be reached (offline, proxy, DNS); the message
            says where to place the archive by hand.
        ValueError: the (downloaded or cached) file has the wrong MD5.
    """
    url = CIFAR10_URL if url is None else url
    md5 = CIFAR10_MD5 if md5 is None else md5
    folder = cache_dir(root)
    archive = folder / CIFAR10_ARCHIVE
    if archive.exists():
        _verify(archive, md5)
        return archive
    folder.mkdir(parents=True, exist_ok=True)
    part = archive.with_name(archive.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc="CIFAR-10",
                disable=not progress,
            ) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"could not download {url} ({reason}); place the archive at {archive} "
            f"(MD5 {md5}) and call again, or set $CS231N_DATA to the folder that holds it"
        ) from exc
    try:
        _verify(part, md5)
    except ValueError:
        part.unlink(missing_ok=True)
        raise
    part.replace(archive)
    return archive


def extract_cifar10(archive: str | os.PathLike, dest: str | os.PathLike | None = None) -> Path:
    """Extract the batches of a verified CIFAR-10 archive.

    Only regular files named ``cifar-10-batches-py/<name>`` are written (no links, no
    absolute or ``..`` paths), into ``dest`` (default: the archive's folder).

    Returns:
        The folder ``dest / "cifar-10-batches-py"``.
    """
    archive = Path(_validate.path(archive, "archive"))
    dest = archive.parent if dest is None else Path(_validate.path(dest, "dest"))
    target = dest / CIFAR10_DIR
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if member.isdir():
                continue
            if (
                not member.isfile()
                or len(parts) != 2
                or parts[0] != CIFAR10_DIR
                or parts[1] in ("..", ".")
            ):
                raise ValueError(f"{archive}: unexpected member {member.name!r} in the archive")
            src = tar.extractfile(member)
            if src is None:  # pragma: no cover - isfile() members always have data
                continue
            tmp = target / (parts[1] + ".part")
            with src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out)
            tmp.replace(target / parts[1])
    return target


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that allows only the globals a CIFAR batch (an ndarray in a dict) needs."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"CIFAR batch refers to {module}.{name}, which a CIFAR-10 batch never needs; "
                "refusing to load it"
            )
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"
        elif module == "numpy.core.numeric":
            module = "numpy._core.numeric"
        return super().find_class(module, name)


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Parse one CIFAR-10 python batch file (e.g. ``data_batch_1`` or ``test_batch``).

    The format is a pickle (written by Python 2) of a dict with ``b'data'``, a (N, 3072)
    uint8 array whose rows hold the red, green then blue 32x32 planes in row-major order,
    ``b'labels'`` (N integers 0-9), ``b'batch_label'`` and ``b'filenames'``. It is read with a
    restricted unpickler (see the module docstring); call it only on files extracted from
    the checksum-verified archive.

    Returns:
        X: uint8 images (N, 3, 32, 32); y: int64 labels (N,).
    """
    raw = Path(_validate.path(path, "path")).read_bytes()
    try:
        batch = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a CIFAR-10 python batch ({exc})") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path}: not a CIFAR-10 python batch (no b'data' / b'labels' keys)")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"{path}: b'data' must be a (N, 3072) uint8 array, got {data.dtype} {data.shape}"
        )
    if labels.shape != (data.shape[0],):
        raise ValueError(
            f"{path}: {data.shape[0]} images but {labels.size} labels in b'labels'"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels must lie in 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(
    root: str | os.PathLike | None = None,
    download: bool = True,
    num_val: int = 1000,
    normalize: bool = True,
    dtype: Any = np.float32,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """CIFAR-10 for a Solver: downloaded once, MD5-verified, extracted, parsed.

    Args:
        root: cache folder (default ``$CS231N_DATA`` or ``~/.cache/cs231n_lib``).
        download: if False, never touch the network (an absent archive is an error).
        num_val: the last ``num_val`` training images become the validation set.
        normalize: subtract the per-pixel training mean (kept as ``mean``) and convert to
            ``dtype``; if False, return the raw uint8 images.
        progress: progress bar during the download.

    Returns:
        dict with ``X_train`` (50000 - num_val, 3, 32, 32), ``y_train``, ``X_val``, ``y_val``,
        ``X_test`` (10000, 3, 32, 32), ``y_test`` (labels index :data:`CIFAR10_CLASSES`).
    """
    num_val = _validate.nonnegative_int(num_val, "num_val")
    if num_val >= 50000:
        raise ValueError(f"num_val must be < 50000 (the training images), got {num_val}")
    folder = cache_dir(root)
    archive = folder / CIFAR10_ARCHIVE
    if download:
        archive = download_cifar10(root, progress=progress)
    elif not archive.exists():
        raise FileNotFoundError(
            f"CIFAR-10 is not in the cache and download=False; place {CIFAR10_URL} "
            f"at {archive} (MD5 {CIFAR10_MD5})"
        )
    else:
        _verify(archive, CIFAR10_MD5)
    batches = folder / CIFAR10_DIR
    stamp = batches / ".verified-md5"
    if not (stamp.exists() and stamp.read_text().strip() == CIFAR10_MD5) or not all(
        (batches / name).exists() for name in _CIFAR_FILES
    ):
        extract_cifar10(archive, folder)
        stamp.write_text(CIFAR10_MD5 + "\n")
    parts = [read_cifar_batch(batches / f"data_batch_{i}") for i in range(1, 6)]
    X_all = np.concatenate([p[0] for p in parts])
    y_all = np.concatenate([p[1] for p in parts])
    X_test, y_test = read_cifar_batch(batches / "test_batch")
    cut = X_all.shape[0] - num_val
    out = {
        "X_train": X_all[:cut],
        "y_train": y_all[:cut],
        "X_val": X_all[cut:],
        "y_val": y_all[cut:],
        "X_test": X_test,
        "y_test": y_test,
    }
    if normalize:
        mean = out["X_train"].mean(axis=0, dtype=np.float64)
        for key in ("X_train", "X_val", "X_test"):
            out[key] = (out[key] - mean).astype(dtype)
        out["mean"] = mean.astype(dtype)
    return out
