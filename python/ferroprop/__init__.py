"""ferroprop: train multilayer perceptrons by backpropagation, in Rust, from NumPy.

>>> import ferroprop as fp
>>> net = fp.Network([784, 128, 10], activation="relu", loss="cross_entropy")
>>> hist = net.fit(X, y, epochs=10, batch_size=64, optimizer=fp.SGD(lr=0.1))  # doctest: +SKIP
>>> net.save("net.safetensors"); net = fp.load("net.safetensors")  # doctest: +SKIP

A stack of layers, as `torch.nn.Sequential`:

>>> from ferroprop import layers as L
>>> net = fp.Sequential([L.Dense(128), L.LayerNorm(), L.Activation("gelu"), L.Dropout(0.1),
...                      L.Dense(10)], input_dim=784, loss="cross_entropy")

`fp.MLPClassifier` and `fp.MLPRegressor` (scikit-learn's estimators, trained here) live in
`ferroprop.sklearn`, imported on first use: only they need scikit-learn.
"""

from typing import Any

from . import callbacks, datasets, layers, losses, preprocessing, schedules
from ._core import (
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    DivergenceError,
    InternalError,
    Optimizer,
    RMSprop,
    __version__,
    simd_path,
)
from ._threads import get_num_threads, max_threads, set_num_threads
from .diagnostics import TrainingWarning
from .gradcheck import GradcheckError, gradcheck
from .history import History
from .model_files import load, provide
from .network import Network
from .plotting import plot_history
from .sequential import Sequential

# The estimators' loader registers itself when `ferroprop.sklearn` is imported: on demand, as
# scikit-learn is an optional dependency.
provide(("MLPClassifier", "MLPRegressor"), "ferroprop.sklearn")

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "DivergenceError",
    "GradcheckError",
    "History",
    "InternalError",
    "MLPClassifier",
    "MLPRegressor",
    "Network",
    "Optimizer",
    "RMSprop",
    "Sequential",
    "TrainingWarning",
    "__version__",
    "callbacks",
    "datasets",
    "layers",
    "losses",
    "preprocessing",
    "schedules",
    "get_num_threads",
    "gradcheck",
    "load",
    "max_threads",
    "plot_history",
    "set_num_threads",
    "simd_path",
]


def __getattr__(name: str) -> Any:
    """`MLPClassifier` and `MLPRegressor` import scikit-learn, so only when asked for."""
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import sklearn

        return getattr(sklearn, name)
    raise AttributeError(f"module 'ferroprop' has no attribute {name!r}")
