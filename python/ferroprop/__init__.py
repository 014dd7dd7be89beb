"""ferroprop: train multilayer perceptrons by backpropagation, in Rust, from NumPy.

>>> import ferroprop as fp
>>> net = fp.Network([784, 128, 10], activation="relu", loss="cross_entropy")
>>> hist = net.fit(X, y, epochs=10, batch_size=64, optimizer=fp.SGD(lr=0.1))  # doctest: +SKIP
"""

from . import datasets
from ._core import (
    SGD,
    Adam,
    AdamW,
    DivergenceError,
    Optimizer,
    __version__,
    get_num_threads,
    set_num_threads,
    simd_path,
)
from .network import History, Network

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "DivergenceError",
    "History",
    "Network",
    "Optimizer",
    "__version__",
    "datasets",
    "get_num_threads",
    "set_num_threads",
    "simd_path",
]
