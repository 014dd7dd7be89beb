"""Checks tests/reference.py's layer stack against real PyTorch (run once by hand; CI has no
torch): forward (training and evaluation), loss, every gradient, and the parameters, running
statistics and num_batches_tracked after steps of SGD (momentum, weight decay), Adam and AdamW,
for the stacks of tests/_layer_stacks.py and every loss, in float64.

Dropout: the reference takes its mask as an argument; torch gets the same mask through a
module computing x * keep / (1 - p) in place of nn.Dropout (_layer_stacks.to_torch), and
separately nn.Dropout's own output is checked to be x * keep / (1 - p) for the mask it drew.

    /work/venv-torch/bin/python benches/check_reference_torch.py
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _layer_stacks import LOSSES, STACKS, Stack, to_torch  # noqa: E402

import reference  # noqa: E402

torch.set_default_dtype(torch.float64)
WORST: dict[str, float] = defaultdict(float)
N_STEPS = 4


def rel(a: object, b: object) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300)) if a.size else 0.0


def record(category: str, a: object, b: object, scale: float | None = None) -> None:
    """Relative error; `scale` replaces max|b| for entries that are zero by construction (a
    Dense bias right before a BatchNorm in training has gradient 0)."""
    if scale is not None:
        err = float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) / scale
    else:
        err = rel(a, b)
    WORST[category] = max(WORST[category], err)


def torch_stack(stack: Stack) -> nn.Sequential:
    return to_torch(stack.layers, stack.input_dim)


def torch_loss(loss: str, z: torch.Tensor, y: np.ndarray) -> torch.Tensor:
    if loss == "cross_entropy":
        return F.cross_entropy(z, torch.from_numpy(y))
    target = torch.from_numpy(y).reshape(z.shape)
    if loss == "binary_cross_entropy":
        return F.binary_cross_entropy_with_logits(z, target)
    return F.mse_loss(z, target)


def link(loss: str, z: torch.Tensor) -> torch.Tensor:
    if loss == "cross_entropy":
        return torch.softmax(z, dim=1)
    return torch.sigmoid(z) if loss == "binary_cross_entropy" else z


def data(stack: Stack, loss: str, n: int, rng: np.random.Generator) -> tuple:
    X = rng.standard_normal((n, stack.input_dim))
    k = reference.stack_widths(stack.layers, stack.input_dim)[-1]
    if loss == "cross_entropy":
        return X, rng.integers(0, k, n).astype(np.int64)
    if loss == "binary_cross_entropy":
        return X, (rng.random((n, k)) < 0.5).astype(np.float64)
    return X, rng.standard_normal((n, k))


def masks_for(ref: reference.ReferenceSequential, n: int, rng: np.random.Generator) -> dict:
    widths = reference.stack_widths(ref.layers, ref.input_dim)
    return {i: rng.random((n, widths[i])) >= ref.layers[i][1] for i in ref.dropout_indices()}


def set_masks(model: nn.Sequential, ref: reference.ReferenceSequential, masks: dict) -> None:
    for i, keep in masks.items():
        model[i].scale = torch.from_numpy(reference.dropout_scale(keep, ref.layers[i][1], "f8"))


def check_gradients(stack: Stack, ref, model, X, y, loss, training: bool, masks) -> None:
    model.train(training)
    model.zero_grad()
    if training:
        set_masks(model, ref, masks)
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    t_loss = torch_loss(loss, model(torch.from_numpy(X)), y)
    t_loss.backward()
    if training:  # torch's training forward moved the running statistics: put them back
        model.load_state_dict(buffers)
    r_loss, grads = ref.gradients(X, y, masks, training=training)
    mode = "train" if training else "eval"
    record(f"loss ({mode})", r_loss, t_loss.item())
    t_grads = {k: p.grad.numpy() for k, p in model.named_parameters()}
    assert list(grads) == list(t_grads), (list(grads), list(t_grads))
    scale = max(float(np.max(np.abs(g))) for g in t_grads.values())
    zero = reference.zero_gradient_entries(stack.layers)
    for name, g in grads.items():
        structural = training and name in zero
        record(f"gradient ({mode})", g, t_grads[name], scale if structural else None)


def check_stack(stack: Stack, loss: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    state = reference.random_state_dict(stack.layers, stack.input_dim, seed=seed)
    ref = reference.ReferenceSequential(stack.layers, stack.input_dim, loss, state)
    model = torch_stack(stack)
    layout = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert layout == {k: s for k, (s, _) in ref.layout.items()}, (layout, ref.layout)
    assert list(layout) == list(ref.layout)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})

    for n in (1, 16) if not stack.has_batchnorm else (16,):
        X, y = data(stack, loss, n, rng)
        masks = masks_for(ref, n, rng)
        model.train()
        set_masks(model, ref, masks)
        with torch.no_grad():
            saved = {k: v.clone() for k, v in model.state_dict().items()}
            record(
                "forward (train)",
                ref.forward(X, True, masks),
                link(loss, model(torch.from_numpy(X))),
            )
            model.load_state_dict(saved)
            model.eval()
            record("forward (eval)", ref.forward(X), link(loss, model(torch.from_numpy(X))))
            record("loss (eval)", ref.loss(X, y), torch_loss(loss, model(torch.from_numpy(X)), y))
        check_gradients(stack, ref, model, X, y, loss, True, masks)
        check_gradients(stack, ref, model, X, y, loss, False, masks)

    zero = reference.zero_gradient_entries(stack.layers)
    optimizers: list[tuple[str, dict]] = [
        ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("Adam", {"lr": 0.01, "weight_decay": 0.01}),
        ("Adam", {"lr": 0.01}),
        ("AdamW", {"lr": 0.01, "weight_decay": 0.05}),
        ("AdamW", {"lr": 0.01, "weight_decay": 0.05, "eps": 1e-4}),
    ]
    for cls, kwargs in optimizers:
        # Adam(W) divides a gradient by its own size: on entries whose gradient is 0 up to
        # rounding (zero_gradient_entries) it turns the noise into updates of ~lr * noise / eps
        # (unless an L2 term dominates the gradient). Those runs are reported apart.
        l2 = cls == "Adam" and kwargs.get("weight_decay", 0.0) > 0
        noisy = bool(zero) and cls != "SGD"
        eps = kwargs.get("eps", 1e-8)
        tag = f" [{cls}{' L2' if l2 else ''} eps={eps:.0e}, 0-grad biases]" if noisy else ""
        ref = reference.ReferenceSequential(stack.layers, stack.input_dim, loss, state)
        model = torch_stack(stack)
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
        t_opt = getattr(torch.optim, cls)(model.parameters(), **kwargs)
        r_opt = getattr(reference, cls)(**kwargs)
        for _ in range(N_STEPS):
            X, y = data(stack, loss, 12, rng)
            masks = masks_for(ref, 12, rng)
            model.train()
            set_masks(model, ref, masks)
            t_opt.zero_grad()
            t_loss = torch_loss(loss, model(torch.from_numpy(X)), y)
            t_loss.backward()
            t_opt.step()
            record("step loss", ref.step(X, y, r_opt, masks), t_loss.item())
        t_state = {k: v.numpy() for k, v in model.state_dict().items()}
        for name, value in ref.state_dict().items():
            if name.endswith("num_batches_tracked"):
                assert int(value) == int(t_state[name]) == N_STEPS, (name, value, t_state[name])
            elif name.endswith(("running_mean", "running_var")):
                record("running stats" + tag, value, t_state[name])
            else:
                record("params after steps" + tag, value, t_state[name])
        X, _ = data(stack, loss, 9, rng)
        model.eval()
        with torch.no_grad():
            record(
                "forward after steps" + tag, ref.forward(X), link(loss, model(torch.from_numpy(X)))
            )


def check_torch_dropout_scaling() -> None:
    """nn.Dropout(p) in training returns x * keep / (1 - p): the reference's dropout_scale."""
    torch.manual_seed(0)
    for p in (0.1, 0.5, 0.9):
        x = torch.rand(200, 50, dtype=torch.float64) + 0.5  # no zeros: keep = out != 0
        out = nn.Dropout(p).train()(x)
        keep = (out != 0).numpy()
        record(
            "nn.Dropout scaling", out.numpy(), x.numpy() * reference.dropout_scale(keep, p, "f8")
        )


def main() -> None:
    check_torch_dropout_scaling()
    count = 0
    for s, stack in enumerate(STACKS):
        for loss in LOSSES:
            if (
                loss == "cross_entropy"
                and reference.stack_widths(stack.layers, stack.input_dim)[-1] < 2
            ):
                continue
            check_stack(stack, loss, seed=100 * s + LOSSES.index(loss))
            count += 1
    print(f"reference vs torch {torch.__version__}, float64, {count} stack/loss pairs")
    print("largest relative error (max|ref - torch| / max|torch|) per category:")
    for category, err in sorted(WORST.items()):
        print(f"  {category:22s} {err:.3e}")
    assert max(v for k, v in WORST.items() if "[" not in k) < 1e-12, "reference != torch"


if __name__ == "__main__":
    main()
