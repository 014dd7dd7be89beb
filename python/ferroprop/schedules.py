"""Learning-rate schedules with `torch.optim.lr_scheduler` semantics and argument names,
stepped inside the Rust training loop (no Python per batch): `fit(..., schedule=...)`.

`OneCycleLR` and `LinearWarmup` step per batch, the others per epoch, as PyTorch users step
them. The base lr is the optimizer's lr when the schedule is first used by a `fit`; the
schedule keeps its state across `fit` calls as a torch scheduler object does (`reset()` starts
over), and after a `fit` the optimizer's lr (and a cycled momentum) is the one its last step
used.
`LinearWarmup(warmup_period, schedule)` multiplies another schedule's lr by
`min(1, (step + 1) / warmup_period)` (pytorch_warmup's LinearWarmup). `ReduceLROnPlateau`
watches `monitor` (default `"val_loss"`). `schedule.lrs(lr, epochs, steps_per_epoch)` gives
the lr of every batch without training.
"""

from ._core import (
    SCHEDULES,
    CosineAnnealingLR,
    ExponentialLR,
    LinearWarmup,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    Schedule,
    StepLR,
)

__all__ = [
    "SCHEDULES",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LinearWarmup",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "Schedule",
    "StepLR",
]
