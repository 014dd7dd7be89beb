"""Checks ferroprop's learning-rate schedules (and tests/reference_schedules.py, the tests'
oracle) against real `torch.optim.lr_scheduler` objects stepped as a PyTorch training loop
steps them, and prints the largest relative lr difference per schedule. Run by hand (CI has no
torch):

    /work/venv-torch/bin/python benches/check_schedules_torch.py

It runs under the torch venv's Python and imports ferroprop from `--ferroprop DIR` (default:
`$FERROPROP_PATH`, else this tree's `python/`, which holds the built extension after
`maturin develop` or a copied `_core.abi3.so`). Where ferroprop cannot be imported there, make
the lrs with the Python that has it and pass the file instead:

    python benches/check_schedules_torch.py --dump /tmp/ferroprop_lrs.json
    /work/venv-torch/bin/python benches/check_schedules_torch.py --lrs /tmp/ferroprop_lrs.json

torch: an SGD(lr=0.1, momentum=0.9) on one parameter, `optimizer.step()` then the
scheduler's step after every batch (OneCycleLR) or every epoch (the others; ReduceLROnPlateau
with the epoch's metric), the lr read before each `optimizer.step()`. LinearWarmup is
pytorch_warmup's (`with warmup.dampening(): scheduler.step()`, the wrapped scheduler stepped
at the end of an epoch or every batch as above); when `pytorch_warmup` is not importable its
dampening is done here as its `base.py` does it (`lr = undampened · min(1, (step+1)/period)`).
The reference is also compared on OneCycleLR's momentum.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import reference_schedules as R  # noqa: E402

LR = 0.1

# name -> (schedule class, its arguments, epochs, batches per epoch, metrics seed or None).
# A LinearWarmup's `schedule` argument is itself (class, arguments).
Spec = tuple[str, dict[str, Any], int, int, int | None]
CONFIGS: dict[str, Spec] = {
    "StepLR(3, 0.5)": ("StepLR", {"step_size": 3, "gamma": 0.5}, 60, 5, None),
    "StepLR(1, 1.5)": ("StepLR", {"step_size": 1, "gamma": 1.5}, 100, 1, None),
    "MultiStepLR([0,10,11,50])": (
        "MultiStepLR",
        {"milestones": [0, 10, 11, 50], "gamma": 0.3},
        100,
        3,
        None,
    ),
    "ExponentialLR(0.9)": ("ExponentialLR", {"gamma": 0.9}, 300, 1, None),
    "ExponentialLR(0.999)": ("ExponentialLR", {"gamma": 0.999}, 2000, 1, None),
    "CosineAnnealingLR(10)": ("CosineAnnealingLR", {"T_max": 10}, 100, 2, None),
    "CosineAnnealingLR(7, 1e-3)": (
        "CosineAnnealingLR",
        {"T_max": 7, "eta_min": 1e-3},
        100,
        1,
        None,
    ),
    "CosineAnnealingLR(100)": ("CosineAnnealingLR", {"T_max": 100}, 400, 1, None),
    "CosineAnnealingLR(500)": ("CosineAnnealingLR", {"T_max": 500}, 2000, 1, None),
    "OneCycleLR(0.5)": ("OneCycleLR", {"max_lr": 0.5}, 10, 10, None),
    "OneCycleLR linear, total 1200": (
        "OneCycleLR",
        {"max_lr": 1.0, "total_steps": 1200, "anneal_strategy": "linear"},
        50,
        20,
        None,
    ),
    "OneCycleLR three_phase": (
        "OneCycleLR",
        {
            "max_lr": 0.5,
            "epochs": 40,
            "steps_per_epoch": 25,
            "three_phase": True,
            "pct_start": 0.25,
        },
        40,
        25,
        None,
    ),
    "OneCycleLR factors": (
        "OneCycleLR",
        {
            "max_lr": 0.2,
            "pct_start": 0.5,
            "div_factor": 10.0,
            "final_div_factor": 100.0,
            "base_momentum": 0.8,
            "max_momentum": 0.99,
        },
        25,
        8,
        None,
    ),
    "ReduceLROnPlateau": ("ReduceLROnPlateau", {"patience": 2}, 200, 1, 0),
    "ReduceLROnPlateau abs cooldown": (
        "ReduceLROnPlateau",
        {"factor": 0.5, "patience": 1, "threshold": 0.02, "threshold_mode": "abs", "cooldown": 2},
        100,
        3,
        1,
    ),
    "ReduceLROnPlateau max min_lr eps": (
        "ReduceLROnPlateau",
        {"mode": "max", "factor": 0.5, "patience": 0, "min_lr": 0.03, "eps": 0.021},
        100,
        1,
        2,
    ),
    "LinearWarmup(10)": ("LinearWarmup", {"warmup_period": 10}, 20, 5, None),
    "LinearWarmup(25, CosineAnnealingLR(5))": (
        "LinearWarmup",
        {"warmup_period": 25, "schedule": ("CosineAnnealingLR", {"T_max": 5, "eta_min": 1e-3})},
        30,
        5,
        None,
    ),
    "LinearWarmup(15, OneCycleLR)": (
        "LinearWarmup",
        {"warmup_period": 15, "schedule": ("OneCycleLR", {"max_lr": 0.5})},
        25,
        4,
        None,
    ),
    "LinearWarmup(12, ReduceLROnPlateau)": (
        "LinearWarmup",
        {"warmup_period": 12, "schedule": ("ReduceLROnPlateau", {"patience": 1})},
        50,
        4,
        3,
    ),
}


def metrics(seed: int | None, epochs: int, mode: str) -> list[float] | None:
    """A noisy falling loss (rising for mode 'max') with ties, for ReduceLROnPlateau."""
    if seed is None:
        return None
    rng = np.random.default_rng(seed)
    curve = 1.0 / (1.0 + 0.05 * np.arange(epochs)) + rng.normal(0.0, 0.02, epochs)
    return np.round(curve if mode == "min" else -curve, 2).tolist()


def plateau_mode(spec: Spec) -> str:
    name, kwargs = spec[0], spec[1]
    if name == "LinearWarmup":
        name, kwargs = kwargs.get("schedule", (None, {}))
    return str(kwargs.get("mode", "min")) if name == "ReduceLROnPlateau" else "min"


# -- ferroprop --------------------------------------------------------------------------------


def ferroprop_lrs(path: str | None) -> dict[str, list[float]]:
    """Every config's lrs from ferroprop's `Schedule.lrs`."""
    if path is not None:
        sys.path.insert(0, path)
    # Imported here, once the path is set (and not at all in a torch-only run with --lrs).
    from ferroprop import schedules

    def build(name: str, kwargs: dict[str, Any]) -> Any:
        kwargs = dict(kwargs)
        if "schedule" in kwargs:
            kwargs["schedule"] = build(*kwargs["schedule"])
        if name == "ReduceLROnPlateau":
            kwargs["monitor"] = "loss"
        return getattr(schedules, name)(**kwargs)

    out = {}
    for label, spec in CONFIGS.items():
        name, kwargs, epochs, steps, seed = spec
        m = metrics(seed, epochs, plateau_mode(spec))
        out[label] = build(name, kwargs).lrs(LR, epochs, steps, m).tolist()
    return out


# -- torch ------------------------------------------------------------------------------------


class Warmup:
    """pytorch_warmup.LinearWarmup's dampening (its base.py), for when it is not installed."""

    def __init__(self, optimizer: Any, warmup_period: int) -> None:
        self.optimizer, self.period, self.last_step = optimizer, warmup_period, -1
        self.lrs = [g["lr"] for g in optimizer.param_groups]
        self.dampen()

    def dampen(self) -> None:
        self.last_step += 1
        for group in self.optimizer.param_groups:
            group["lr"] *= min(1.0, (self.last_step + 1) / self.period)

    def step(self, inner: Any) -> None:
        """`with warmup.dampening(): inner()`."""
        for group, lr in zip(self.optimizer.param_groups, self.lrs, strict=True):
            group["lr"] = lr
        inner()
        self.lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.dampen()


def torch_lrs(spec: Spec) -> tuple[list[float], list[float]]:
    """One config's lrs and momenta from real torch schedulers."""
    import torch  # here: a --dump run needs no torch

    name, kwargs, epochs, steps, seed = spec
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([param], lr=LR, momentum=0.9)
    warmup_period = None
    if name == "LinearWarmup":
        warmup_period = kwargs["warmup_period"]
        name, kwargs = kwargs.get("schedule", (None, {}))
    kwargs = dict(kwargs)
    if name == "OneCycleLR" and "total_steps" not in kwargs and "epochs" not in kwargs:
        kwargs["total_steps"] = epochs * steps
    cls = getattr(torch.optim.lr_scheduler, name) if name is not None else None
    sched = cls(opt, **kwargs) if cls is not None else None
    warm = None
    if warmup_period is not None:
        try:
            import pytorch_warmup  # optional

            real = pytorch_warmup.LinearWarmup(opt, warmup_period)
            warm = _Dampening(real)
        except ImportError:
            warm = Warmup(opt, warmup_period)
    m = metrics(seed, epochs, plateau_mode(spec))
    lrs, momenta = [], []
    for e in range(epochs):
        for b in range(steps):
            group = opt.param_groups[0]
            lrs.append(float(group["lr"]))
            momenta.append(float(group["momentum"]))
            param.grad = torch.ones_like(param)
            opt.step()
            if len(lrs) == epochs * steps:
                break  # the step after the last batch: unused (and 0/0 for pct_start=1)
            last = b == steps - 1

            def inner(last: bool = last, e: int = e) -> None:
                if sched is None:
                    return
                if name == "OneCycleLR":
                    sched.step()
                elif last and name == "ReduceLROnPlateau":
                    assert m is not None
                    sched.step(m[e])
                elif last:
                    sched.step()

            if warm is not None:
                warm.step(inner)
            else:
                inner()
    return lrs, momenta


class _Dampening:
    """pytorch_warmup's own LinearWarmup behind `Warmup.step`'s interface."""

    def __init__(self, warmup: Any) -> None:
        self.warmup = warmup

    def step(self, inner: Any) -> None:
        with self.warmup.dampening():
            inner()


# -- the tests' reference ---------------------------------------------------------------------


def reference_lrs(spec: Spec) -> tuple[list[float], list[float]]:
    group = R.Group(LR, momentum=0.9)

    def build(name: str, kwargs: dict[str, Any], epochs: int, steps: int) -> Any:
        kwargs = dict(kwargs)
        if name == "LinearWarmup":
            inner = kwargs.pop("schedule", None)
            wrapped = None if inner is None else build(*inner, epochs, steps)
            return R.LinearWarmup(group, kwargs["warmup_period"], wrapped)
        if name == "OneCycleLR" and "total_steps" not in kwargs and "epochs" not in kwargs:
            kwargs["total_steps"] = epochs * steps
        return getattr(R, name)(group, **kwargs)

    name, kwargs, epochs, steps, seed = spec
    lrs, momenta = R.replay(
        build(name, kwargs, epochs, steps), epochs, steps, metrics(seed, epochs, plateau_mode(spec))
    )
    return lrs.tolist(), momenta.tolist()


def max_relative(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert x.shape == y.shape, (x.shape, y.shape)
    err = np.abs(x - y)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(err == 0, 0.0, err / np.abs(y))
    return float(rel.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ferroprop", default=os.environ.get("FERROPROP_PATH", str(ROOT / "python"))
    )
    parser.add_argument("--dump", help="write ferroprop's lrs to this JSON file and stop")
    parser.add_argument("--lrs", help="ferroprop's lrs from a --dump file")
    args = parser.parse_args()
    if args.dump:
        Path(args.dump).write_text(json.dumps(ferroprop_lrs(args.ferroprop)))
        print(f"wrote the lrs of {len(CONFIGS)} configurations to {args.dump}")
        return
    ours = json.loads(Path(args.lrs).read_text()) if args.lrs else ferroprop_lrs(args.ferroprop)
    import torch

    print(f"torch {torch.__version__}; {len(CONFIGS)} configurations, base lr {LR}")
    head = ("batches", "ferroprop", "reference", "momentum")
    print(f"{'configuration':40s} {head[0]:>7s} {head[1]:>10s} {head[2]:>10s} {head[3]:>10s}")
    worst: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for label, spec in CONFIGS.items():
        t_lrs, t_mom = torch_lrs(spec)
        r_lrs, r_mom = reference_lrs(spec)
        f_err, r_err = max_relative(ours[label], t_lrs), max_relative(r_lrs, t_lrs)
        m_err = max_relative(r_mom, t_mom)
        print(f"{label:40s} {len(t_lrs):7d} {f_err:10.2e} {r_err:10.2e} {m_err:10.2e}")
        w = worst[spec[0]]
        w[0], w[1] = max(w[0], f_err), max(w[1], r_err)
    print("\nmax relative lr difference per schedule (ferroprop vs torch, reference vs torch):")
    for name, (f_err, r_err) in worst.items():
        print(f"  {name:20s} {f_err:.2e}  {r_err:.2e}")


if __name__ == "__main__":
    main()
