"""Plain-Python reference of the learning-rate schedules ferroprop offers, the oracle of
tests/test_schedules.py: `torch.optim.lr_scheduler`'s StepLR, MultiStepLR, ExponentialLR,
CosineAnnealingLR, OneCycleLR and ReduceLROnPlateau, and `pytorch_warmup`'s LinearWarmup.

Each class follows its torch original step by step, as torch computes it (transcribed from
torch 2.x's `lr_scheduler.py` and pytorch_warmup's `base.py`): the recursive, chainable
`get_lr` of the per-epoch schedules — `lr · gamma` at each decay, CosineAnnealingLR's ratio of
cosines — not the closed forms. A schedule drives a `Group`, the optimizer's one parameter
group (its `lr` and `momentum`, as torch's `param_groups[0]`).

How a PyTorch user steps them, which `lrs` replays: OneCycleLR after every batch, the others
after every epoch (ReduceLROnPlateau with the epoch's metric), and LinearWarmup's dampening
after every batch with the wrapped schedule stepped inside it (pytorch_warmup's recipe:
`with warmup.dampening(): scheduler.step()` at the end of an epoch, `pass` after the other
batches). The lr of a batch is the group's lr when the batch's optimizer step runs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Group:
    """The optimizer's parameter group: what a scheduler reads and writes."""

    lr: float
    momentum: float = 0.9


class Reference(Protocol):
    """A reference scheduler: `advance` is called once after every batch's optimizer step."""

    group: Group

    def advance(self, end_of_epoch: bool, metric: float | None) -> None: ...


class _PerEpoch:
    """torch's `LRScheduler` base for the per-epoch schedules: `base_lrs` from the group's lr,
    `last_epoch = -1`, then the constructor's initial `step()` (`last_epoch` 0, `_is_initial`),
    and one `step()` at the end of every epoch."""

    def __init__(self, group: Group) -> None:
        self.group = group
        self.base_lr = group.lr
        self.last_epoch = -1
        self.step_count = 0
        self._step(initial=True)

    def _step(self, initial: bool = False) -> None:
        self.step_count += 1
        self.last_epoch += 1
        self.group.lr = self.get_lr(initial)

    def get_lr(self, initial: bool) -> float:
        raise NotImplementedError

    def advance(self, end_of_epoch: bool, metric: float | None) -> None:
        if end_of_epoch:
            self._step()


class StepLR(_PerEpoch):
    def __init__(self, group: Group, step_size: int, gamma: float = 0.1) -> None:
        self.step_size, self.gamma = step_size, gamma
        super().__init__(group)

    def get_lr(self, initial: bool) -> float:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self.group.lr
        return self.group.lr * self.gamma


class MultiStepLR(_PerEpoch):
    def __init__(self, group: Group, milestones: Sequence[int], gamma: float = 0.1) -> None:
        self.milestones, self.gamma = Counter(milestones), gamma
        super().__init__(group)

    def get_lr(self, initial: bool) -> float:
        if self.last_epoch not in self.milestones:
            return self.group.lr
        return self.group.lr * self.gamma ** self.milestones[self.last_epoch]


class ExponentialLR(_PerEpoch):
    def __init__(self, group: Group, gamma: float) -> None:
        self.gamma = gamma
        super().__init__(group)

    def get_lr(self, initial: bool) -> float:
        return self.group.lr if initial else self.group.lr * self.gamma


class CosineAnnealingLR(_PerEpoch):
    """torch's recursive form, which follows the cosine back up after `T_max`."""

    def __init__(self, group: Group, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(group)

    def get_lr(self, initial: bool) -> float:
        e, t, lo, lr = self.last_epoch, self.T_max, self.eta_min, self.group.lr
        if initial:
            return lr
        if self.step_count == 1 and e > 0:
            return lo + (self.base_lr - lo) * (1 + math.cos(e * math.pi / t)) / 2
        if (e - 1 - t) % (2 * t) == 0:
            return lr + (self.base_lr - lo) * (1 - math.cos(math.pi / t)) / 2
        return (1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t)) * (
            lr - lo
        ) + lo


class OneCycleLR:
    """torch's OneCycleLR: stepped after every batch; `get_lr` at step `last_epoch` anneals
    between the ends of the phase it falls in, and cycles the group's momentum inversely."""

    def __init__(
        self,
        group: Group,
        max_lr: float,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError(
                    "You must define either total_steps OR (epochs AND steps_per_epoch)"
                )
            total_steps = epochs * steps_per_epoch
        self.group, self.total_steps = group, total_steps
        initial = max_lr / div_factor
        ends = {
            "initial_lr": initial,
            "max_lr": max_lr,
            "min_lr": initial / final_div_factor,
            "max_momentum": max_momentum,
            "base_momentum": base_momentum,
        }
        phases = [
            (float(pct_start * total_steps) - 1, "initial_lr", "max_lr"),
            (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr"),
            (total_steps - 1, "initial_lr", "min_lr"),
        ]
        momenta = [("max_momentum", "base_momentum"), ("base_momentum", "max_momentum")]
        momenta.append(("max_momentum", "max_momentum"))
        if not three_phase:
            phases = [phases[0], (total_steps - 1, "max_lr", "min_lr")]
            momenta = momenta[:2]
        self.phases = [
            (end, ends[lr0], ends[lr1], ends[m0], ends[m1])
            for (end, lr0, lr1), (m0, m1) in zip(phases, momenta, strict=True)
        ]
        self.anneal = _annealing_cos if anneal_strategy == "cos" else _annealing_linear
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            group.momentum = max_momentum
        self.last_epoch = -1
        self._step()

    def _step(self) -> None:
        self.last_epoch += 1
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"Tried to step {step} times. The specified number of total steps is "
                f"{self.total_steps}"
            )
        start = 0.0
        for i, (end, lr0, lr1, m0, m1) in enumerate(self.phases):
            if step <= end or i == len(self.phases) - 1:
                pct = (step - start) / (end - start)
                self.group.lr = self.anneal(lr0, lr1, pct)
                if self.cycle_momentum:
                    self.group.momentum = self.anneal(m0, m1, pct)
                return
            start = end

    def advance(self, end_of_epoch: bool, metric: float | None) -> None:
        self._step()


def _annealing_cos(start: float, end: float, pct: float) -> float:
    cos_out = math.cos(math.pi * pct) + 1
    return end + (start - end) / 2.0 * cos_out


def _annealing_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


class ReduceLROnPlateau:
    """torch's ReduceLROnPlateau, stepped with the epoch's metric at the end of every epoch."""

    def __init__(
        self,
        group: Group,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        self.group = group
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lr, self.eps = cooldown, min_lr, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, current: float) -> None:
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = self.group.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.group.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def advance(self, end_of_epoch: bool, metric: float | None) -> None:
        if end_of_epoch:
            if metric is None:
                raise ValueError("ReduceLROnPlateau needs the epoch's metric")
            self.step(metric)


class LinearWarmup:
    """pytorch_warmup's LinearWarmup over `inner` (made first, on the same group, as its docs
    require; None: no schedule): the group's lr is the undampened one times
    `min(1, (step + 1) / warmup_period)`, and `inner` steps on the undampened lr."""

    def __init__(self, group: Group, warmup_period: int, inner: Reference | None = None) -> None:
        self.group, self.warmup_period, self.inner = group, warmup_period, inner
        self.last_step = -1
        self.lr = group.lr
        self._dampen()

    def _dampen(self) -> None:
        self.last_step += 1
        self.group.lr *= min(1.0, (self.last_step + 1) / self.warmup_period)

    def advance(self, end_of_epoch: bool, metric: float | None) -> None:
        # `with warmup.dampening(): inner.step()`.
        self.group.lr = self.lr
        if self.inner is not None:
            self.inner.advance(end_of_epoch, metric)
        self.lr = self.group.lr
        self._dampen()


def replay(
    schedule: Reference,
    epochs: int,
    steps_per_epoch: int,
    metrics: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Runs `schedule` over `epochs` × `steps_per_epoch` batches as a PyTorch training loop
    steps it (`metrics[e]`: the monitored value after epoch `e`, for ReduceLROnPlateau).

    Returns:
        (lrs, momenta): the group's lr and momentum at each batch's optimizer step.
    """
    lrs, momenta = [], []
    for epoch in range(epochs):
        for batch in range(steps_per_epoch):
            lrs.append(schedule.group.lr)
            momenta.append(schedule.group.momentum)
            if len(lrs) == epochs * steps_per_epoch:
                # The step after the last batch sets an lr nothing uses (and OneCycleLR with
                # pct_start=1 would divide by zero there, as torch does).
                break
            last = batch == steps_per_epoch - 1
            metric = None if metrics is None or not last else float(metrics[epoch])
            schedule.advance(last, metric)
    return np.array(lrs, dtype=np.float64), np.array(momenta, dtype=np.float64)
