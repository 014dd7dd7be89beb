"""Largest relative error of each layer kind against the plain-NumPy reference (float64).

    python benches/layer_parity.py      # a table: layer kind x (forward eval/train, gradients)

Each kind runs in `Dense(8) → kind → Dense(4)` with cross-entropy, 16 rows, float32 and
float64, random parameters (running statistics included); Dropout uses the engine's mask.
The error of an array is max|engine − reference| / max|reference| (for a gradient that is 0 by
construction, a bias feeding a BatchNorm, over the largest gradient); the table shows the
largest over 5 seeds. The tests (tests/test_layers_parity.py) hold these to 1e-10 (f64) and
1e-4 (f32).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import ferroprop as fp  # noqa: E402
import reference  # noqa: E402
from ferroprop import layers as L  # noqa: E402

KINDS = {
    "Dense (alone)": None,
    **{f"Activation({a})": ("activation", a) for a in fp.layers.ACTIVATIONS[:6]},
    "Dropout(0.3)": ("dropout", 0.3),
    "LayerNorm": ("layernorm",),
    "BatchNorm": ("batchnorm",),
}


def to_fp(spec: tuple) -> fp.layers.Layer:
    kind = spec[0]
    if kind == "dense":
        return L.Dense(spec[1])
    if kind == "activation":
        return L.Activation(spec[1])
    if kind == "dropout":
        return L.Dropout(spec[1])
    return L.LayerNorm() if kind == "layernorm" else L.BatchNorm()


def rel(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(np.asarray(a, np.float64) - b))) / (scale or 1.0)


def errors(middle: tuple | None, dtype: str, seed: int) -> dict[str, float]:
    specs = [("dense", 8)] + ([middle] if middle else []) + [("dense", 4)]
    net = fp.Sequential([to_fp(s) for s in specs], input_dim=5, loss="cross_entropy", dtype=dtype)
    net.load_state_dict(reference.random_state_dict(specs, 5, seed, dtype))
    ref = reference.ReferenceSequential(specs, 5, "cross_entropy", net.state_dict())
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((16, 5)).astype(dtype)
    y = rng.integers(0, 4, 16)
    masks = {i: net._dropout_keep(i, 16) for i, s in enumerate(specs) if s[0] == "dropout"}
    _, grads = net.gradients(X, y)
    _, expected = ref.gradients(X, y, masks)
    # A bias feeding a BatchNorm has a gradient of exactly 0: compared on the others' scale.
    zero = reference.zero_gradient_entries(specs)
    scale = max(float(np.max(np.abs(v))) for v in expected.values())
    grad_err = max(
        float(np.max(np.abs(grads[k] - v))) / scale if k in zero else rel(grads[k], v)
        for k, v in expected.items()
    )
    return {
        "forward (eval)": rel(net.forward(X), ref.forward(X)),
        "forward (train)": rel(net.forward(X, training=True), ref.forward(X, True, masks)),
        "gradients": grad_err,
    }


def main() -> None:
    columns = ["forward (eval)", "forward (train)", "gradients"]
    print("| layer | " + " | ".join(f"f64 {c}" for c in columns) + " | f32 worst |")
    print("|---|" + "---|" * (len(columns) + 1))
    for name, middle in KINDS.items():
        worst = {c: 0.0 for c in columns}
        f32 = 0.0
        for seed in range(5):
            e64 = errors(middle, "float64", seed)
            worst = {c: max(worst[c], e64[c]) for c in columns}
            f32 = max(f32, *errors(middle, "float32", seed).values())
        cells = " | ".join(f"{worst[c]:.1e}" for c in columns)
        print(f"| {name} | {cells} | {f32:.1e} |")


if __name__ == "__main__":
    main()
