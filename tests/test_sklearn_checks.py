"""scikit-learn's own estimator checks, with no expected failures."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from ferroprop.sklearn import MLPClassifier, MLPRegressor


# max_iter=100 is what scikit-learn's own test suite gives its MLPs (fewer ConvergenceWarnings).
@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)])
def test_sklearn_compatible_estimator(estimator, check) -> None:  # noqa: ANN001
    check(estimator)
