"""Framing of requests and results between the trusted grader and the sandboxed worker.

One *frame* is::

    MAGIC (4 bytes) | header length (uint32, big-endian) | payload length (uint64) |
    header (UTF-8 JSON object) | payload (an uncompressed ``.npz`` archive, may be empty)

Arrays travel only in the payload and are read back with ``np.load(allow_pickle=False)``;
a nested value (a recipe: dicts, lists, numbers, strings, ndarrays) travels as JSON in which
every ndarray is replaced by ``{"__nd__": "<member name>"}``.

Both sides use this module, and the trusted side must assume the other end is hostile: every
length is capped *before* anything is allocated, the archive's members are checked (stored,
not compressed; ``.npy`` headers parsed and their declared sizes matched against the bytes
present; no object dtypes) before ``np.load`` sees them. Anything wrong raises
:class:`TransportError`.

This module runs inside the sandbox too, so it imports nothing but the standard library and
NumPy.
"""

from __future__ import annotations

import io
import json
import math
import os
import select
import struct
import time
import zipfile
from typing import Any

import numpy as np
import numpy.lib.format as npformat

MAGIC = b"C2NF"
_PREFIX = struct.Struct("!4sIQ")
ND_KEY = "__nd__"

MAX_HEADER_BYTES = 1 << 20  # 1 MiB of JSON
MAX_PAYLOAD_BYTES = 256 << 20  # 256 MiB of arrays
MAX_MEMBERS = 512
MAX_NDIM = 8


class TransportError(Exception):
    """A frame is malformed, too large, or holds something other than plain arrays."""


class ChannelClosed(TransportError):
    """The other end closed the pipe (the worker died, or the parent went away)."""


class ChannelTimeout(TransportError):
    """The deadline passed before a whole frame was read or written."""


# --------------------------------------------------------------------------- values


def pack_tree(value: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """Split a nested value into a JSON-able skeleton and ``{member name: ndarray}``."""
    arrays: dict[str, np.ndarray] = {}

    def walk(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            name = f"a{len(arrays)}"
            arrays[name] = v
            return {ND_KEY: name}
        if isinstance(v, dict):
            out = {}
            for key, item in v.items():
                if not isinstance(key, str):
                    raise TransportError(f"dict keys must be strings, got {key!r}")
                if key == ND_KEY:
                    raise TransportError(f"{ND_KEY!r} is a reserved key")
                out[key] = walk(item)
            return out
        if isinstance(v, list | tuple):
            return [walk(item) for item in v]
        if isinstance(v, np.generic):
            return walk(v.item())
        if v is None or isinstance(v, bool | int | float | str):
            return v
        raise TransportError(f"cannot send a {type(v).__name__}")

    return walk(value), arrays


def unpack_tree(skeleton: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of :func:`pack_tree`."""

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            if set(v) == {ND_KEY}:
                name = v[ND_KEY]
                if not isinstance(name, str) or name not in arrays:
                    raise TransportError(f"frame refers to a missing array {name!r}")
                return arrays[name]
            return {key: walk(item) for key, item in v.items()}
        if isinstance(v, list):
            return [walk(item) for item in v]
        return v

    return walk(skeleton)


# --------------------------------------------------------------------------- payload


def encode_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    """An uncompressed ``.npz`` of ``arrays`` (empty bytes for no arrays); never pickles."""
    if not arrays:
        return b""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            if not isinstance(arr, np.ndarray):
                raise TransportError(f"{name}: not an ndarray")
            if arr.dtype.hasobject:
                raise TransportError(f"{name}: object arrays cannot be sent")
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                npformat.write_array(member, np.asanyarray(arr), allow_pickle=False)
    return buf.getvalue()


def _check_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
        raise TransportError(f"{info.filename}: compressed members are not accepted")
    if not info.filename.endswith(".npy") or "/" in info.filename:
        raise TransportError(f"{info.filename}: unexpected member name")
    with zf.open(info) as member:
        try:
            version = npformat.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, fortran, dtype = npformat.read_array_header_2_0(member)
            else:
                raise TransportError(f"{info.filename}: .npy version {version}")
        except ValueError as exc:
            raise TransportError(f"{info.filename}: bad .npy header: {exc}") from None
        header_end = member.tell()
    if dtype.hasobject:
        raise TransportError(f"{info.filename}: object dtype {dtype}")
    if len(shape) > MAX_NDIM or any(int(d) < 0 for d in shape):
        raise TransportError(f"{info.filename}: bad shape {shape}")
    nbytes = math.prod(int(d) for d in shape) * dtype.itemsize
    if header_end + nbytes != info.file_size:
        raise TransportError(
            f"{info.filename}: header declares {nbytes} bytes of data, "
            f"member holds {info.file_size - header_end}"
        )


def decode_arrays(payload: bytes, *, max_members: int = MAX_MEMBERS) -> dict[str, np.ndarray]:
    """Read an ``.npz`` produced by :func:`encode_arrays`, trusting nothing in it."""
    if not payload:
        return {}
    try:
        zf = zipfile.ZipFile(io.BytesIO(payload))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise TransportError(f"payload is not a zip archive: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise TransportError(f"{len(infos)} arrays in one frame (limit {max_members})")
        if sum(info.file_size for info in infos) > len(payload):
            raise TransportError("archive declares more data than it holds")
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise TransportError("duplicate array names")
        try:
            for info in infos:
                _check_member(zf, info)
        except (zipfile.BadZipFile, OSError, EOFError, struct.error) as exc:
            raise TransportError(f"corrupt archive: {exc}") from None
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise TransportError(f"cannot load arrays: {exc}") from None


def encode_frame(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    payload = encode_arrays(arrays or {})
    return _PREFIX.pack(MAGIC, len(head), len(payload)) + head + payload


def decode_header(data: bytes) -> dict[str, Any]:
    try:
        header = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise TransportError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise TransportError("header is not a JSON object")
    return header


# --------------------------------------------------------------------------- pipes


def _wait(fd: int, event: int, deadline: float | None) -> None:
    if deadline is None:
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ChannelTimeout("deadline passed")
    poller = select.poll()
    poller.register(fd, event | select.POLLERR | select.POLLHUP)
    if not poller.poll(remaining * 1000):
        raise ChannelTimeout("deadline passed")


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    """Read exactly ``n`` bytes from ``fd`` (non-blocking fds need a ``deadline``)."""
    chunks: list[bytes] = []
    got = 0
    while got < n:
        _wait(fd, select.POLLIN, deadline)
        try:
            chunk = os.read(fd, min(n - got, 1 << 20))
        except BlockingIOError:
            continue
        except OSError as exc:
            raise ChannelClosed(f"read failed: {exc}") from None
        if not chunk:
            raise ChannelClosed("end of file")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def write_all(fd: int, data: bytes, deadline: float | None = None) -> None:
    view = memoryview(data)
    while view:
        _wait(fd, select.POLLOUT, deadline)
        try:
            written = os.write(fd, view[: 1 << 20])
        except BlockingIOError:
            continue
        except OSError as exc:  # EPIPE: the reader is gone
            raise ChannelClosed(f"write failed: {exc}") from None
        view = view[written:]


def write_frame(
    fd: int,
    header: dict[str, Any],
    arrays: dict[str, np.ndarray] | None = None,
    deadline: float | None = None,
) -> None:
    write_all(fd, encode_frame(header, arrays), deadline)


def read_frame(
    fd: int,
    deadline: float | None = None,
    *,
    max_header: int = MAX_HEADER_BYTES,
    max_payload: int = MAX_PAYLOAD_BYTES,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read one frame: ``(header, arrays)``. Caps are checked before reading the body."""
    magic, head_len, payload_len = _PREFIX.unpack(read_exact(fd, _PREFIX.size, deadline))
    if magic != MAGIC:
        raise TransportError(f"bad frame magic {magic!r}")
    if head_len > max_header:
        raise TransportError(f"header of {head_len} bytes (limit {max_header})")
    if payload_len > max_payload:
        raise TransportError(f"payload of {payload_len} bytes (limit {max_payload})")
    header = decode_header(read_exact(fd, head_len, deadline))
    arrays = decode_arrays(read_exact(fd, payload_len, deadline))
    return header, arrays
