"""Digits, oriented bars, the sample photo, and CIFAR-10 download / verification / parsing.

No test touches the network: CIFAR-10 is exercised on a tiny archive in the real format
that the tests write, and ``urlopen`` is replaced.
"""

import io
import os
import pickle
import tarfile
import urllib.error

import numpy as np
import pytest

from cs231n_lib import cifar10, datasets
from cs231n_lib.datasets import (
    DownloadError,
    cache_dir,
    download_cifar10,
    load_cifar10,
    load_digits,
    md5sum,
    oriented_bars,
    read_cifar_batch,
    sample_photo,
)

# ------------------------------------------------------------------ digits


def test_digits_splits_shapes_and_normalisation():
    d = load_digits(seed=0)
    sizes = [len(d[f"y_{s}"]) for s in ("train", "val", "test")]
    assert sum(sizes) == 1797 and sizes[2] == 360  # 20% of 1,797 for test
    for s in ("train", "val", "test"):
        X = d[f"X_{s}"]
        assert X.shape[1:] == (1, 8, 8) and X.dtype == np.float32
        assert d[f"y_{s}"].dtype.kind == "i" and set(np.unique(d[f"y_{s}"])) == set(range(10))
    assert abs(d["X_train"].mean()) < 1e-5
    assert d["X_train"].std() == pytest.approx(1.0, rel=1e-4)
    assert d["std"].shape == () and d["mean"].shape == (1, 8, 8)
    # un-normalising recovers the original 0..16 grey levels / 16
    raw = d["X_test"] * d["std"] + d["mean"]
    assert np.allclose(raw * 16, np.round(raw * 16), atol=1e-4)


def test_digits_split_is_stratified_and_seeded():
    a, b = load_digits(seed=1), load_digits(seed=1)
    assert np.array_equal(a["X_test"], b["X_test"])
    counts = np.bincount(a["y_test"], minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # 360 / 10 per class, +-1
    assert not np.array_equal(load_digits(seed=2)["y_test"], a["y_test"])


def test_digits_upsampled():
    d = load_digits(size=16, dtype=np.float64)
    X = d["X_train"]
    assert X.shape[1:] == (1, 16, 16) and X.dtype == np.float64
    raw = X * d["std"] + d["mean"]
    assert np.allclose(raw[:, :, ::2, ::2], raw[:, :, 1::2, 1::2])  # 2x2 blocks


@pytest.mark.parametrize(
    "kwargs, match",
    [({"test_fraction": 1.0}, "test_fraction"), ({"size": 12}, "size must be 8"),
     ({"dtype": np.int32}, "floating")],
)
def test_digits_validate(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_digits(**kwargs)


# ------------------------------------------------------------------ bars


def orientation(img):
    """Principal-axis angle (degrees, anticlockwise from horizontal, in [0, 180))."""
    w = np.clip(img, 0, None)
    rows, cols = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    x, y = cols - (w * cols).sum() / w.sum(), -(rows - (w * rows).sum() / w.sum())
    cxx, cyy, cxy = (w * x * x).sum(), (w * y * y).sum(), (w * x * y).sum()
    return np.degrees(0.5 * np.arctan2(2 * cxy, cxx - cyy)) % 180


def test_oriented_bars_have_the_labelled_orientation():
    angles = (0.0, 45.0, 90.0, 135.0)
    X, y = oriented_bars(40, size=16, angles=angles, seed=3, noise=0.0)
    assert X.shape == (40, 1, 16, 16) and X.dtype == np.float32
    assert np.bincount(y).tolist() == [10, 10, 10, 10]
    for img, label in zip(X[:, 0], y, strict=True):
        diff = abs(orientation(img) - angles[label])
        assert min(diff, 180 - diff) < 8


def test_oriented_bars_seeded_and_validated():
    a = oriented_bars(5, seed=1)
    b = oriented_bars(5, seed=1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="distinct orientations"):
        oriented_bars(5, angles=(0, 180))
    with pytest.raises(ValueError, match="size must be >= 5"):
        oriented_bars(5, size=3)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        oriented_bars(0)


# ------------------------------------------------------------------ photo


def test_sample_photo_is_a_real_rgb_photograph():
    img = sample_photo()
    assert img.shape == (600, 512, 3) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1
    assert img.std() > 0.1  # not blank
    assert not np.allclose(img[..., 0], img[..., 2])  # colour, not grey


# ------------------------------------------------------------------ CIFAR-10


def cifar_batch_bytes(data, labels, label=b"training batch 1 of 5"):
    """A batch in the real CIFAR-10 python format (pickle protocol 2, bytes keys)."""
    batch = {
        b"batch_label": label,
        b"labels": list(map(int, labels)),
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    return pickle.dumps(batch, protocol=2)


def make_archive(path, rng, n=4):
    """A tiny cifar-10-python.tar.gz: five training batches, a test batch, the meta file."""
    truth = {}
    with tarfile.open(path, "w:gz") as tar:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for name in names:
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            labels = rng.integers(0, 10, n)
            truth[name] = (data, labels)
            blob = cifar_batch_bytes(data, labels)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        meta = pickle.dumps({b"label_names": [c.encode() for c in datasets.CIFAR10_CLASSES]},
                            protocol=2)
        info = tarfile.TarInfo("cifar-10-batches-py/batches.meta")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
    return truth


def test_read_cifar_batch_parses_the_real_layout(tmp_path, rng):
    data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(cifar_batch_bytes(data, [3, 0, 9]))
    X, y = read_cifar_batch(path)
    assert X.shape == (3, 3, 32, 32) and X.dtype == np.uint8
    assert y.tolist() == [3, 0, 9]
    # row = 1024 red values, then 1024 green, then 1024 blue, each 32x32 row-major
    assert X[1, 0, 0, 0] == data[1, 0] and X[1, 0, 0, 5] == data[1, 5]
    assert X[1, 0, 2, 0] == data[1, 64]
    assert X[2, 1, 0, 0] == data[2, 1024] and X[2, 2, 31, 31] == data[2, 3071]


def test_read_cifar_batch_refuses_foreign_globals(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / "evil"
    path.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2))
    with pytest.raises(ValueError, match="posix.getcwd|refusing"):
        read_cifar_batch(path)


def test_read_cifar_batch_rejects_wrong_shapes(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(cifar_batch_bytes(np.zeros((2, 100), np.uint8), [0, 1]))
    with pytest.raises(ValueError, match="\\(N, 3072\\) uint8"):
        read_cifar_batch(path)
    path.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a CIFAR-10 python batch"):
        read_cifar_batch(path)


def test_load_cifar10_from_a_verified_archive(tmp_path, rng, monkeypatch):
    truth = make_archive(tmp_path / "cifar-10-python.tar.gz", rng)
    monkeypatch.setattr(cifar10, "CIFAR10_MD5", md5sum(tmp_path / "cifar-10-python.tar.gz"))
    d = load_cifar10(tmp_path, download=False, num_val=2, normalize=False)
    assert d["X_train"].shape == (18, 3, 32, 32) and d["X_val"].shape == (2, 3, 32, 32)
    assert d["X_test"].shape == (4, 3, 32, 32)
    expected_train = np.concatenate([truth[f"data_batch_{i}"][0] for i in range(1, 6)])
    assert np.array_equal(d["X_train"].reshape(18, -1), expected_train[:18])
    assert np.array_equal(d["y_test"], truth["test_batch"][1])
    assert (tmp_path / "cifar-10-batches-py" / "test_batch").exists()
    norm = load_cifar10(tmp_path, download=False, num_val=2)  # reuses the extracted files
    assert norm["X_train"].dtype == np.float32
    assert np.allclose(norm["X_train"].mean(axis=0), 0, atol=1e-4)


def test_wrong_archive_fails_the_md5_check(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"this is not CIFAR-10")
    with pytest.raises(ValueError, match="MD5 checksum .* does not match the expected "
                                         "c58f30108f718f92721af3b95e74349a"):
        load_cifar10(tmp_path, download=False)
    with pytest.raises(ValueError, match="does not match"):
        download_cifar10(tmp_path)  # an archive already present is verified, not trusted


def test_offline_download_gives_a_clear_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(cifar10.urllib.request, "urlopen", offline)
    with pytest.raises(DownloadError) as info:
        load_cifar10(tmp_path)
    message = str(info.value)
    assert "could not download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in message
    assert f"place the archive at {tmp_path / 'cifar-10-python.tar.gz'}" in message
    assert not list(tmp_path.glob("*.part"))


class FakeResponse(io.BytesIO):
    def __init__(self, payload):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


def test_download_saves_verifies_and_caches(tmp_path, rng, monkeypatch):
    src = tmp_path / "src.tar.gz"
    make_archive(src, rng)
    payload = src.read_bytes()
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        return FakeResponse(payload)

    monkeypatch.setattr(cifar10.urllib.request, "urlopen", fake_urlopen)
    cache = tmp_path / "cache"
    archive = download_cifar10(cache, md5=md5sum(src), progress=False)
    assert archive == cache / "cifar-10-python.tar.gz" and archive.read_bytes() == payload
    download_cifar10(cache, md5=md5sum(src), progress=False)
    assert len(calls) == 1  # the second call only verifies the cached file
    # a corrupted download is deleted, never left looking complete
    with pytest.raises(ValueError, match="does not match"):
        download_cifar10(tmp_path / "other", md5="0" * 32, progress=False)
    assert not list((tmp_path / "other").iterdir())


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("CS231N_DATA", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert datasets.cifar10_cache_dir() == tmp_path / "env"
    monkeypatch.delenv("CS231N_DATA")
    assert cache_dir().parts[-2:] == (".cache", "cs231n_lib")


def test_extraction_refuses_unexpected_members(tmp_path, monkeypatch):
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    monkeypatch.setattr(cifar10, "CIFAR10_MD5", md5sum(path))
    with pytest.raises(ValueError, match="unexpected member '../escape'"):
        load_cifar10(tmp_path, download=False)
    assert not (tmp_path.parent / "escape").exists()
