"""``ferroprop train``: build the network, train it in one ``fit`` (learning-rate schedule,
early stopping, clipping and diagnostics inside it) with per-epoch progress, report the test
accuracy, and save the model, the metrics and the plot."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

import numpy as np

from .. import (
    SGD,
    Adagrad,
    Adam,
    DivergenceError,
    Network,
    RMSprop,
    get_num_threads,
    set_num_threads,
)
from ..model_files import MAX_PARAMETERS
from .data import load_train_data
from .errors import CLIError, check_writable
from .options import DEFAULT_LR
from .progress import make_progress, rate
from .steering import (
    EpochReporter,
    check_plot,
    diagnostics_json,
    early_stopping,
    early_stopping_note,
    make_schedule,
    training_warnings,
    write_plot,
)
from .tabular import many_categories, preprocessing_note, regression_scores, unscale_outputs


def _diverged(reason: str) -> int:
    """Reports a diverged run (nothing is saved or written); returns its exit code, 1."""
    print(
        f"ferroprop train: error: training diverged: {' '.join(reason.split())}; "
        "try a smaller --lr",
        file=sys.stderr,
    )
    return 1


def _extras(args: argparse.Namespace) -> str:
    """The summary line's note of the optional layers."""
    text = "" if args.normalization == "none" else f" + {args.normalization} norm"
    return text + (f" + dropout {args.dropout:g}" if args.dropout else "")


def _steering(args: argparse.Namespace) -> str:
    """The summary line's note of the options steering the fit."""
    parts = []
    if args.early_stopping is not None:
        parts.append(f"early stopping patience {args.early_stopping}")
    if args.clip_grad_norm is not None:
        parts.append(f"clip grad norm {args.clip_grad_norm:g}")
    if args.diagnostics:
        parts.append("diagnostics")
    return "".join(f", {part}" for part in parts)


def run(args: argparse.Namespace, started: float) -> int:
    """``ferroprop train`` with parsed ``args``; ``started`` is when the command began (for the
    wall time). Returns the exit code; raises CLIError for bad input."""
    if args.save is not None:
        check_writable(args.save, "--save")
    if args.metrics_out is not None:
        check_writable(args.metrics_out, "--metrics-out")
    check_plot(args.plot)
    stopper = early_stopping(args.early_stopping, args.val_fraction > 0)
    if len(args.activation) not in (1, len(args.hidden)):
        raise CLIError(
            f"--activation: {len(args.activation)} names for {len(args.hidden)} hidden layers"
        )
    if args.threads is not None:
        set_num_threads(args.threads)

    try:
        data = load_train_data(args)
    except MemoryError:
        source = f"--data {args.data}" if args.data is not None else "Fashion-MNIST"
        raise CLIError(f"not enough memory to load the data ({source})") from None
    widths = [data.X_train.shape[1], *args.hidden, data.n_outputs]
    shape = "-".join(map(str, widths))
    count = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:], strict=False))
    if args.save is not None and count > MAX_PARAMETERS:
        raise CLIError(
            f"--hidden: the network {shape} has {count} parameters, more than the "
            f"{MAX_PARAMETERS} a model file can hold (--save)"
        )
    loss_name = "cross_entropy" if data.task == "classification" else "mse"
    try:
        net = Network(
            widths,
            activation=args.activation[0] if len(args.activation) == 1 else args.activation,
            loss=loss_name,
            dtype=args.dtype,
            init="he",
            seed=args.seed,
            dropout=args.dropout,
            normalization=None if args.normalization == "none" else args.normalization,
        )
    except (ValueError, TypeError, OverflowError) as exc:
        raise CLIError(str(exc)) from None
    except MemoryError:
        raise CLIError(
            f"--hidden: the network {shape} ({count} parameters) does not fit in memory"
        ) from None
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    optimizer: Any
    if args.optimizer == "adam":
        optimizer = Adam(lr=lr)
    elif args.optimizer == "rmsprop":
        optimizer = RMSprop(lr=lr)
    elif args.optimizer == "adagrad":
        optimizer = Adagrad(lr=lr)
    else:
        optimizer = SGD(lr=lr, momentum=0.9, nesterov=True)

    n_train = len(data.X_train)
    for warning in many_categories(data.preprocessing, n_train):
        print(f"ferroprop train: warning: {warning}", file=sys.stderr)
    n_val = 0 if data.X_val is None else len(data.X_val)
    act_text = ",".join(args.activation)
    print(
        f"{data.name}: {n_train} train / {n_val} validation / {len(data.X_test)} test rows"
        f"{preprocessing_note(data.preprocessing)}; "
        f"network {shape} {act_text}{_extras(args)} ({loss_name}, {args.dtype}); "
        f"{args.optimizer} lr {lr:g} ({args.lr_schedule}), batch {args.batch_size}, "
        f"{args.epochs} epochs{_steering(args)}, {get_num_threads()} thread(s)",
        flush=True,
    )

    validation = None if data.X_val is None else (data.X_val, data.y_val)
    schedule = make_schedule(
        args.lr_schedule,
        args.epochs,
        math.ceil(n_train / args.batch_size),
        lr,
        args.optimizer,
        "loss" if validation is None else "val_loss",
    )
    progress = make_progress(args.progress, args.epochs)
    callbacks: list[Any] = [EpochReporter(progress, n_train)]
    if stopper is not None:
        callbacks.append(stopper)
    t0 = time.perf_counter()
    try:
        with training_warnings(progress):
            # One fit: the schedule and the callbacks run inside it, once per epoch (or batch).
            hist = net.fit(
                data.X_train,
                data.y_train,
                epochs=args.epochs,
                batch_size=args.batch_size,
                optimizer=optimizer,
                seed=args.seed,
                validation_data=validation,
                schedule=schedule,
                callbacks=callbacks,
                clip_grad_norm=args.clip_grad_norm,
                diagnostics=args.diagnostics,
            )
    except DivergenceError as exc:
        progress.close()
        return _diverged(str(exc))
    except (ValueError, TypeError) as exc:
        raise CLIError(f"training failed: {exc}") from None
    except MemoryError:
        raise CLIError(
            f"not enough memory to train the network {shape} ({count} parameters) with "
            f"--batch-size {args.batch_size}; try a smaller --batch-size or --hidden"
        ) from None
    finally:
        progress.close()
    train_seconds = time.perf_counter() - t0
    epochs_run = len(hist.loss)
    if not all(np.isfinite(p).all() for p in (*net.weights, *net.biases)):
        # A model `predict` would refuse: not reported as trained, and not saved.
        return _diverged(f"the parameters are NaN or infinite after epoch {epochs_run}")
    if data.target_scale is not None:
        unscale_outputs(net, *data.target_scale)
    if stopper is not None:
        note = early_stopping_note(stopper, epochs_run)
        if note is not None:
            print(note)
    if args.diagnostics:
        print(hist.diagnostics.table())

    metrics: dict[str, Any] = {"dataset": data.name}
    if data.task == "classification":
        test_accuracy = float(np.mean(net.predict(data.X_test) == data.y_test))
        metrics["test_accuracy"] = test_accuracy
        result = f"test accuracy {test_accuracy:.4f}"
    else:
        metrics["test_accuracy"] = None
        scores = regression_scores(np.asarray(net.predict(data.X_test)), data.y_test)
        metrics.update(scores)
        result = (
            f"test R² {scores['test_r2']:.4f}, test MAE {scores['test_mae']:.6g}, "
            f"test mse {scores['test_mse']:.6g}"
        )
    samples_per_second = rate(epochs_run * n_train, train_seconds)

    if args.save is not None:
        # String labels were mapped to class indices: the file keeps their names, so that
        # `ferroprop predict` prints them. One name has no place in a model file: a single class
        # still gets two outputs.
        names = data.class_names
        keep_names = names is not None and len(names) == widths[-1]
        try:
            net.save(
                args.save,
                class_names=names if keep_names else None,
                preprocessing=data.preprocessing,
            )
        except OSError as exc:
            raise CLIError(f"--save {args.save}: {exc}") from None
        print(f"saved the model to {args.save}")
        if names is not None and not keep_names:
            print(
                "note: the model file stores no class names; `ferroprop predict` prints class "
                f"indices 0..{len(names) - 1} for: {', '.join(names)}"
            )
    if args.plot is not None:
        write_plot(hist, args.plot)
        print(f"wrote the training curves to {args.plot}")

    wall = time.perf_counter() - started
    metrics.update(
        {
            "train_seconds": train_seconds,
            "samples_per_second": samples_per_second,
            "epochs": args.epochs,
            "wall_seconds": wall,
            "epochs_run": epochs_run,
            "final_loss": hist.loss[-1] if hist.loss else None,
            "loss": hist.loss,
            "accuracy": hist.accuracy,
            "val_loss": hist.val_loss,
            "val_accuracy": hist.val_accuracy,
            "lr": hist.lr,
            "epoch_seconds": hist.seconds,
            "n_train": n_train,
            "n_val": n_val,
            "n_test": len(data.X_test),
            "class_names": data.class_names,
            "config": {
                "widths": widths,
                "hidden": list(args.hidden),
                "activation": act_text,
                "normalization": args.normalization,
                "dropout": args.dropout,
                "loss": loss_name,
                "task": data.task,
                "preprocess": data.preprocessing is not None,
                "categorical": list(args.categorical),
                "features": data.feature_names,
                "optimizer": args.optimizer,
                "lr": lr,
                "lr_schedule": args.lr_schedule,
                "early_stopping": args.early_stopping,
                "clip_grad_norm": args.clip_grad_norm,
                "diagnostics": args.diagnostics,
                "batch_size": args.batch_size,
                "seed": args.seed,
                "threads": get_num_threads(),
                "dtype": args.dtype,
                "val_fraction": args.val_fraction,
                "data": args.data,
            },
        }
    )
    if stopper is not None:
        metrics["best_epoch"] = stopper.best_epoch + 1
    if args.diagnostics:
        metrics["diagnostics"] = diagnostics_json(hist.diagnostics)
    print(
        f"{result}; training {train_seconds:.2f} s ({samples_per_second:,.0f} samples/s), "
        f"wall time {wall:.2f} s"
    )
    if args.metrics_out is not None:
        try:
            with open(args.metrics_out, "w", encoding="utf-8") as f:
                json.dump(metrics, f, indent=2)
                f.write("\n")
        except OSError as exc:
            raise CLIError(f"--metrics-out {args.metrics_out}: {exc}") from None
    return 0
