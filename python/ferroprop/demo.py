"""Train a 784-256-128-10 ReLU MLP on Fashion-MNIST: ``python -m ferroprop.demo``.

Prints, per epoch, the training loss, the test accuracy and the training
throughput, then the final accuracy and the mean throughput. If the
Fashion-MNIST files are missing it tries to install Debian's
``dataset-fashion-mnist`` package (only as root) and otherwise falls back to
scikit-learn's small digits dataset.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time

import numpy as np

# Relative imports: this module always runs as part of the installed package.
from . import SGD, Adam, Network, get_num_threads, set_num_threads
from .datasets import DEFAULT_FASHION_MNIST_DIR, load_digits_split, load_fashion_mnist

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

_DEFAULT_LR = {"adam": 1e-3, "sgd": 0.05}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m ferroprop.demo",
        description="Train a 784-256-128-10 ReLU MLP on Fashion-MNIST with ferroprop.",
    )
    p.add_argument("--epochs", type=int, default=10, help="number of epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="mini-batch size (default 64)")
    p.add_argument(
        "--optimizer",
        choices=["adam", "sgd"],
        default="adam",
        help="adam, or sgd with Nesterov momentum 0.9 (default adam)",
    )
    p.add_argument(
        "--lr", type=float, default=None, help="learning rate (default: adam 1e-3, sgd 0.05)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for init and shuffling (default 0)")
    p.add_argument(
        "--threads", type=int, default=None, help="worker threads (default: library default)"
    )
    p.add_argument(
        "--dtype", choices=["float32", "float64"], default="float32", help="default float32"
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help=f"directory with the Fashion-MNIST IDX files (default {DEFAULT_FASHION_MNIST_DIR})",
    )
    args = p.parse_args(argv)
    if args.epochs < 0:
        p.error("--epochs must be >= 0")
    if args.batch_size <= 0:
        p.error("--batch-size must be > 0")
    if args.threads is not None and args.threads <= 0:
        p.error("--threads must be > 0")
    return args


def _try_apt_install() -> bool:
    """Install ``dataset-fashion-mnist`` with apt-get if we are root; True on success."""
    apt = shutil.which("apt-get")
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if apt is None or not is_root:
        return False
    print("Fashion-MNIST not found; running `apt-get install -y dataset-fashion-mnist` ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")

    def run(*cmd: str) -> bool:
        return (
            subprocess.run(
                [apt, "-qq", *cmd],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                check=False,
            ).returncode
            == 0
        )

    # Fresh containers often have no package lists yet, hence the retry after update.
    ok = run("install", "-y", "dataset-fashion-mnist") or (
        run("update") and run("install", "-y", "dataset-fashion-mnist")
    )
    print("apt-get install succeeded." if ok else "apt-get install failed.")
    return ok


def _load_data(data_dir: str | None) -> tuple[str, Split]:
    """Fashion-MNIST if at all possible, else scikit-learn digits."""
    try:
        return "Fashion-MNIST", load_fashion_mnist(data_dir)
    except FileNotFoundError as exc:
        first_error = exc
    # Only the default location is something apt-get can fill in.
    if data_dir is None and _try_apt_install():
        try:
            return "Fashion-MNIST", load_fashion_mnist()
        except FileNotFoundError as exc:
            first_error = exc
    print(f"{first_error}\nFalling back to scikit-learn's 8x8 digits dataset.")
    return "digits (scikit-learn fallback)", load_digits_split(seed=0)


def _accuracy(net: Network, X: np.ndarray, y: np.ndarray) -> float:
    pred = np.asarray(net.predict(X))
    if pred.ndim == 2:  # tolerate predict returning scores rather than labels
        pred = pred.argmax(axis=1)
    return float(np.mean(pred == y))


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit code."""
    args = _parse_args(argv)
    if args.threads is not None:
        set_num_threads(args.threads)

    name, (X_train, y_train, X_test, y_test) = _load_data(args.data_dir)
    n_in = X_train.shape[1]
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    widths = [n_in, 256, 128, n_classes]

    lr = args.lr if args.lr is not None else _DEFAULT_LR[args.optimizer]
    if args.optimizer == "adam":
        optimizer = Adam(lr=lr)
    else:
        optimizer = SGD(lr=lr, momentum=0.9, nesterov=True)

    net = Network(
        widths,
        activation="relu",
        loss="cross_entropy",
        dtype=args.dtype,
        init="he",
        seed=args.seed,
    )
    print(
        f"{name}: {len(X_train)} train / {len(X_test)} test samples; "
        f"network {'-'.join(map(str, widths))} relu, {args.dtype}; "
        f"{args.optimizer} lr={lr:g}, batch {args.batch_size}; "
        f"{get_num_threads()} thread(s)"
    )

    total_time = 0.0
    acc = _accuracy(net, X_test, y_test)
    for epoch in range(1, args.epochs + 1):
        # One epoch per fit call, same optimizer object so its state (momentum,
        # Adam moments and step count) carries over; a fresh shuffle seed each epoch.
        t0 = time.perf_counter()
        hist = net.fit(
            X_train,
            y_train,
            epochs=1,
            batch_size=args.batch_size,
            optimizer=optimizer,
            shuffle=True,
            seed=args.seed + epoch,
        )
        dt = time.perf_counter() - t0
        total_time += dt
        acc = _accuracy(net, X_test, y_test)
        print(
            f"epoch {epoch:3d}/{args.epochs}  train loss {hist.loss[-1]:.4f}  "
            f"test acc {100 * acc:6.2f}%  {len(X_train) / dt:12,.0f} samples/s",
            flush=True,
        )

    print(f"final test accuracy: {100 * acc:.2f}%")
    if args.epochs > 0:
        mean_rate = args.epochs * len(X_train) / total_time
        print(f"mean throughput: {mean_rate:,.0f} samples/s ({total_time:.2f} s training)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
