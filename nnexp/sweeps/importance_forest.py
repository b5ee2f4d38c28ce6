"""What mattered in a sweep that is no grid (Optuna samples each value once): scikit-learn's
random-forest importance (mean decrease in impurity, what Optuna's
MeanDecreaseImpurityImportanceEvaluator computes) over the children, with a bootstrap interval
from resampling the children.

Optuna 2.10.1's fANOVA evaluator fails with scikit-learn 1.9 (its tree reader expects the old
`tree_.value` shape), so the forest is scikit-learn's own. Its importances are non-negative and sum
to 1 by construction: an irrelevant key's interval never includes 0 and there is no seed share;
the report says so.
"""

from __future__ import annotations

import numpy as np

from nnexp.sweeps.importance import LEVEL, Importance, Share, Table

TREES = 16


def _features(table: Table) -> np.ndarray:
    """Children x keys: each child's level index per key (levels sorted by value, so a tree's
    splits on it are splits on the value's order)."""
    return table.levels[table.cell].astype(np.float64)


def _importances(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import RandomForestRegressor

    if np.ptp(y) == 0:
        return np.zeros(x.shape[1])
    forest = RandomForestRegressor(n_estimators=TREES, random_state=seed, n_jobs=1)
    return forest.fit(x, y).feature_importances_


def forest_importance(table: Table, resamples: int = 30, seed: int = 0) -> Importance:
    """Random-forest importance per key with a percentile-bootstrap interval over children."""
    x, y = _features(table), table.y
    point = _importances(x, y, seed)
    rng = np.random.default_rng(seed)
    samples = np.array([_importances(x[pick], y[pick], seed)
                        for pick in rng.integers(0, y.size, (resamples, y.size))])
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail], axis=0)
    main = sorted((Share(k, float(point[j]), float(low[j]), float(high[j]), (k,))
                   for j, k in enumerate(table.keys)), key=lambda s: -s.share)
    return Importance("random-forest importance (scikit-learn)", main, [], None, int(y.size),
                      "no grid: a random forest's importance, non-negative by construction (an "
                      "irrelevant key's interval cannot include 0) and without a seed share")
