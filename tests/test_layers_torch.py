"""fp.Sequential against real PyTorch, when torch is importable (CI has none: skipped).

Weights move both ways through state_dict: the engine's state loads strictly into the
torch.nn.Sequential of the same layers, the forward passes and training gradients agree (the
engine's dropout masks fed to torch), a few SGD steps move parameters and BatchNorm running
statistics alike, and torch's state loads back into the engine.
"""

from __future__ import annotations

import numpy as np
import pytest
from _layer_stacks import STACKS, Stack, to_fp_layers, to_torch

import ferroprop as fp
import reference

torch = pytest.importorskip("torch")
F = torch.nn.functional
TOL = 1e-10


def torch_loss(loss: str, z, y: np.ndarray):  # noqa: ANN001, ANN201
    if loss == "cross_entropy":
        return F.cross_entropy(z, torch.from_numpy(y))
    target = torch.from_numpy(y).reshape(z.shape)
    if loss == "binary_cross_entropy":
        return F.binary_cross_entropy_with_logits(z, target)
    return F.mse_loss(z, target)


def link(loss: str, z):  # noqa: ANN001, ANN201
    if loss == "cross_entropy":
        return torch.softmax(z, dim=1)
    return torch.sigmoid(z) if loss == "binary_cross_entropy" else z


def rel(a: object, b: object) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


@pytest.mark.parametrize("stack", [pytest.param(s, id=s.id) for s in STACKS])
def test_engine_matches_torch(stack: Stack) -> None:
    net = fp.Sequential(
        to_fp_layers(stack.layers), input_dim=stack.input_dim, loss=stack.loss, dtype="float64"
    )
    net.load_state_dict(reference.random_state_dict(stack.layers, stack.input_dim, seed=4))
    model = to_torch(stack.layers, stack.input_dim)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in net.state_dict().items()})
    rng = np.random.default_rng(0)
    widths = reference.stack_widths(stack.layers, stack.input_dim)
    k = widths[-1]

    def batch(n: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.standard_normal((n, stack.input_dim))
        if stack.loss == "cross_entropy":
            return X, rng.integers(0, k, n)
        if stack.loss == "binary_cross_entropy":
            return X, (rng.random((n, k)) < 0.5).astype(np.float64)
        return X, rng.standard_normal((n, k))

    def feed_masks(n: int) -> None:
        for i, spec in enumerate(stack.layers):
            if spec[0] == "dropout":
                keep = np.asarray(net._dropout_keep(i, n))
                model[i].scale = torch.from_numpy(reference.dropout_scale(keep, spec[1], "f8"))

    X, y = batch(16)
    model.eval()
    with torch.no_grad():
        assert rel(net.forward(X), link(stack.loss, model(torch.from_numpy(X)))) < TOL

    model.train()
    feed_masks(16)
    saved = {name: v.clone() for name, v in model.state_dict().items()}
    t_loss = torch_loss(stack.loss, model(torch.from_numpy(X)), y)
    t_loss.backward()
    model.load_state_dict(saved)  # torch's training forward moved the running statistics
    loss, grads = net.gradients(X, y)
    assert rel(loss, t_loss.item()) < TOL
    scale = max(float(p.grad.abs().max()) for p in model.parameters())
    zero = reference.zero_gradient_entries(stack.layers)
    for name, p in model.named_parameters():
        t_grad = p.grad.numpy()
        err = (
            float(np.max(np.abs(grads[name] - t_grad))) / scale
            if name in zero
            else rel(grads[name], t_grad)
        )
        assert err < TOL, f"{name}: {err:.3e}"

    opt, t_opt = fp.SGD(lr=0.05, momentum=0.9), torch.optim.SGD(model.parameters(), 0.05, 0.9)
    for _ in range(3):
        X, y = batch(12)
        feed_masks(12)
        t_opt.zero_grad()
        t_loss = torch_loss(stack.loss, model(torch.from_numpy(X)), y)
        t_loss.backward()
        t_opt.step()
        assert rel(net.step(X, y, opt), t_loss.item()) < TOL
    t_state = {name: v.numpy() for name, v in model.state_dict().items()}
    state = net.state_dict()
    assert list(state) == list(t_state)
    for name, value in t_state.items():
        if name.endswith("num_batches_tracked"):
            assert int(state[name]) == int(value) == 3
        else:
            assert rel(state[name], value) < TOL, name

    back = fp.Sequential(
        to_fp_layers(stack.layers), input_dim=stack.input_dim, loss=stack.loss, dtype="float64"
    )
    back.load_state_dict({name: v.copy() for name, v in t_state.items()})
    model.eval()
    X, _ = batch(9)
    with torch.no_grad():
        assert rel(back.forward(X), link(stack.loss, model(torch.from_numpy(X)))) < TOL
