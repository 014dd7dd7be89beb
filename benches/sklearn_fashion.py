"""ferroprop.MLPClassifier against scikit-learn's MLPClassifier on Fashion-MNIST.

Both with scikit-learn's default parameters (hidden (100,), relu, adam, batch 200, tol 1e-4,
up to 200 epochs) and the same random_state: the same numerics give the same model, so the
accuracies agree and the ratio of training times is the speed-up at equal accuracy.

    python benches/sklearn_fashion.py              # full defaults (scikit-learn takes minutes)
    python benches/sklearn_fashion.py --max-iter 5 # a quick look
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from sklearn import neural_network  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import ferroprop  # noqa: E402
from ferroprop.datasets import load_fashion_mnist  # noqa: E402
from ferroprop.sklearn import MLPClassifier  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument(
        "--dtype",
        default="float64",
        help="float64 (what scikit-learn users usually pass) or float32",
    )
    args = parser.parse_args()
    X, y, X_test, y_test = load_fashion_mnist()
    # Pixels already scaled to [0, 1]; both estimators compute in the dtype of X.
    X, X_test = X.astype(args.dtype), X_test.astype(args.dtype)
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(
        f"Fashion-MNIST {X.shape}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
        f"ferroprop threads {ferroprop.get_num_threads()}, simd {ferroprop.simd_path()}"
    )
    results = {}
    makers = {"ferroprop": MLPClassifier, "scikit-learn": neural_network.MLPClassifier}
    for name, make in makers.items():
        if name == "scikit-learn" and args.skip_sklearn:
            continue
        make(random_state=args.seed, max_iter=1).fit(X[:2000], y[:2000])  # warm-up
        est = make(random_state=args.seed, max_iter=args.max_iter)
        start = time.perf_counter()
        est.fit(X, y)
        seconds = time.perf_counter() - start
        acc = est.score(X_test, y_test)
        results[name] = (seconds, acc, est.n_iter_)
        print(
            f"{name:13s} {seconds:8.1f} s  {est.n_iter_:3d} epochs  "
            f"{seconds / est.n_iter_:.3f} s/epoch  test accuracy {acc:.4f}",
            flush=True,
        )
        time.sleep(0.3)
    if len(results) == 2:
        (t_fp, a_fp, _), (t_sk, a_sk, _) = results["ferroprop"], results["scikit-learn"]
        print(
            f"speed-up {t_sk / t_fp:.2f}x at accuracy {a_fp:.4f} vs {a_sk:.4f} "
            f"(difference {abs(a_fp - a_sk) * 100:.2f} points)"
        )


if __name__ == "__main__":
    main()
