"""The synthetic data of the experiments that need no download."""

from __future__ import annotations

import numpy as np

__all__ = ["quadrants"]


def quadrants(rows: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal inputs and four classes that no linear model separates.

    The class of a row `x` is `[x0·x1 > 0] + 2·[x2 > 0]` (an XOR of the first two features,
    and the sign of the third); the other features are noise.

    Args:
        rows: number of rows.
        features: features per row, at least 3.
        seed: seeds the generator.

    Returns:
        `(X, y)`: `X` float32 `(rows, features)`, `y` int64 `(rows,)` in 0..3.

    Raises:
        ValueError: `features` below 3.
    """
    if features < 3:
        raise ValueError(f"features: expected at least 3, got {features}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64) + 2 * (X[:, 2] > 0).astype(np.int64)
    return X, y
