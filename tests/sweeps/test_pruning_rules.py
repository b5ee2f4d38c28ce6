"""The pruning rules decide as Optuna's MedianPruner and SuccessiveHalvingPruner decide."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from nnexp.sweeps.pruning_rules import (
    PruneSettings,
    StopAtEpoch,
    asha_decision,
    is_decision_epoch,
    median_decision,
    rung_of,
)


def _median(**kw) -> PruneSettings:
    return PruneSettings("median", "val/loss", kw.pop("direction", "minimize"), **kw)


def test_median_stops_a_run_whose_best_is_worse_than_the_finished_siblings_median():
    settings = _median(warmup_epochs=2, startup_runs=3)
    finished = [{3: 0.5, 4: 0.4}, {3: 0.7, 4: 0.6}, {3: 0.9, 4: 0.8}]
    pruned = median_decision(settings, 3, [1.2, 1.0, 0.8], finished)
    assert pruned is not None
    assert (pruned.epoch, pruned.value, pruned.threshold, pruned.n_siblings) == (3, 0.8, 0.7, 3)
    assert pruned.describe("val/loss") == (
        "epoch 3: val/loss 0.8 worse than the median 0.7 of 3 siblings (median)")
    assert median_decision(settings, 3, [1.2, 0.65, 0.8], finished) is None  # its best counts
    assert median_decision(settings, 2, [1.2, 1.0], finished) is None  # warm-up
    assert median_decision(settings, 3, [1.2, 1.0, 0.8], finished[:2]) is None  # startup
    maximize = _median(warmup_epochs=2, startup_runs=3, direction="maximize")
    assert median_decision(maximize, 4, [0.1, 0.2, 0.3, 0.5], finished).threshold == 0.6
    assert median_decision(maximize, 4, [0.1, 0.2, 0.3, 0.65], finished) is None


def test_median_needs_min_siblings_with_a_value_at_the_epoch():
    settings = _median(warmup_epochs=0, startup_runs=1, min_siblings=2)
    finished = [{1: 0.1, 2: 0.1}, {1: 0.2}]  # the second stopped early after epoch 1
    assert median_decision(settings, 1, [0.9], finished) is not None
    assert median_decision(settings, 2, [0.9, 0.9], finished) is None


def test_decision_epochs_follow_warmup_and_interval():
    settings = _median(warmup_epochs=3, interval=2)
    assert [e for e in range(1, 12) if is_decision_epoch(settings, e)] == [4, 6, 8, 10]
    asha = PruneSettings("asha", "val/loss", "minimize", min_epochs=2, reduction_factor=3)
    assert [e for e in range(1, 60) if is_decision_epoch(asha, e)] == [2, 6, 18, 54]
    assert [rung_of(asha, e) for e in (2, 6, 18)] == [0, 1, 2]


def test_asha_keeps_the_best_fraction_of_everyone_at_the_rung():
    settings = PruneSettings("asha", "val/loss", "minimize", min_epochs=1, reduction_factor=4)
    assert asha_decision(settings, 1, 0.5, []) is None  # alone at the rung: the best
    assert asha_decision(settings, 1, 0.5, [0.4]) is not None  # fewer than 4: only the best
    eight = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]  # with this run, 8 reached the rung: keep 2
    assert asha_decision(settings, 1, 0.15, eight) is None
    pruned = asha_decision(settings, 1, 0.25, eight)
    assert pruned is not None and (pruned.threshold, pruned.n_siblings) == (0.2, 7)
    assert asha_decision(settings, 2, 9.9, eight) is None  # not a rung epoch
    assert asha_decision(settings, 1, math.nan, eight) is not None


def test_a_recorded_decision_stops_at_its_epoch():
    stop = StopAtEpoch(4, "stopped where run abc was pruned")
    assert [stop.should_stop(e, {}) is not None for e in range(1, 7)] == [
        False, False, False, True, False, False]
    assert stop.should_stop(4, {}).describe("val/loss") == (
        "epoch 4: stopped where run abc was pruned")


optuna_missing = pytest.mark.skipif(importlib.util.find_spec("optuna") is None,
                                    reason="optuna is not installed (pip install -e '.[optuna]')")
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"
                                        if importlib.util.find_spec("optuna") else "default")


def _optuna_study(direction: str, pruner):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(direction=direction, pruner=pruner)


@optuna_missing
@pytest.mark.parametrize("case", range(25))
def test_median_agrees_with_optunas_median_pruner(case: int):
    """Random studies: an nnexp epoch e is Optuna's step e - 1 (Optuna counts from 0)."""
    import optuna
    from optuna.trial import TrialState, create_trial

    rng = np.random.default_rng(case)
    direction = ["minimize", "maximize"][case % 2]
    settings = _median(direction=direction, warmup_epochs=int(rng.integers(0, 4)),
                       startup_runs=int(rng.integers(0, 5)),
                       min_siblings=int(rng.integers(1, 4)), interval=int(rng.integers(1, 4)))
    study = _optuna_study(direction, optuna.pruners.MedianPruner(
        settings.startup_runs, settings.warmup_epochs, settings.interval,
        n_min_trials=settings.min_siblings))
    finished = []
    for _ in range(int(rng.integers(0, 7))):
        n = int(rng.integers(1, 11))
        values = {e: float(v) for e, v in enumerate(rng.normal(size=n).round(2), start=1)}
        finished.append({e: v for e, v in values.items() if is_decision_epoch(settings, e)})
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=values[n],
                                     intermediate_values={e - 1: v for e, v in values.items()}))
    trial = study.ask()
    own = []
    for epoch, value in enumerate(rng.normal(size=10).round(2), start=1):
        own.append(float(value))
        trial.report(float(value), epoch - 1)
        ours = median_decision(settings, epoch, own, finished) is not None
        assert ours == trial.should_prune(), (epoch, own, finished, settings)


@optuna_missing
@pytest.mark.parametrize("case", range(25))
def test_asha_agrees_with_optunas_successive_halving_pruner(case: int):
    """Siblings in any state that reached a rung compete; Optuna's step here is the number of
    epochs trained (reported from 1), its min_resource nnexp's min_epochs."""
    import optuna
    from optuna.trial import TrialState, create_trial

    rng = np.random.default_rng(100 + case)
    direction = ["minimize", "maximize"][case % 2]
    settings = PruneSettings("asha", "val/loss", direction, min_epochs=int(rng.integers(1, 3)),
                             reduction_factor=int(rng.integers(2, 5)))
    study = _optuna_study(direction, optuna.pruners.SuccessiveHalvingPruner(
        min_resource=settings.min_epochs, reduction_factor=settings.reduction_factor))
    siblings = []
    for _ in range(int(rng.integers(0, 12))):
        reached = int(rng.integers(0, 4))
        at = {settings.min_epochs * settings.reduction_factor ** k: round(float(rng.normal()), 2)
              for k in range(reached)}
        siblings.append(at)
        state = [TrialState.COMPLETE, TrialState.PRUNED][int(rng.integers(0, 2))]
        study.add_trial(create_trial(state=state, value=0.0, system_attrs={
            f"completed_rung_{k}": v for k, v in enumerate(at.values())}))
    trial = study.ask()
    for epoch, value in enumerate(rng.normal(size=20).round(2), start=1):
        trial.report(float(value), epoch)
        competing = [s[epoch] for s in siblings if epoch in s]
        ours = asha_decision(settings, epoch, float(value), competing) is not None
        assert ours == trial.should_prune(), (epoch, value, competing, settings)
        if ours:
            break


def test_the_outlook_says_when_no_child_can_be_pruned_and_why():
    from nnexp.sweeps.pruning_rules import pruning_outlook

    median = _median(warmup_epochs=5, startup_runs=5)
    assert pruning_outlook(median, 5, 30) == (
        "pruning: 5 children, sweep.prune_startup_runs=5: no child can be pruned (median waits "
        "for 5 finished siblings; lower sweep.prune_startup_runs or launch more children)")
    assert pruning_outlook(median, 7, 5) == (
        "pruning: 7 children, train.epochs=5, sweep.prune_warmup_epochs=5: no child can be "
        "pruned (median decides only after the warm-up epochs)")
    assert pruning_outlook(median, 6, 30) == (
        "pruning: 6 children, median: a child may stop after epoch 5 once 5 of its siblings "
        "have finished")
    assert pruning_outlook(median, None, 30).startswith("pruning: median: a child may stop")
    asha = PruneSettings("asha", "val/loss", "minimize", min_epochs=1, reduction_factor=4)
    assert pruning_outlook(asha, 8, 30) == (
        "pruning: 8 children, asha: at epochs 1, 4, 16 a child goes on only among the best 1/4 "
        "of the siblings there")
    assert pruning_outlook(asha, 1, 30) == (
        "pruning: 1 child, no child can be pruned (asha compares siblings)")
    late = PruneSettings("asha", "val/loss", "minimize", min_epochs=40)
    assert pruning_outlook(late, 8, 30).endswith(
        "no child can be pruned (asha's first rung is after the last epoch)")
