"""The diagnosis against a labelled set: runs whose condition is known by construction
(tests/diagnose/labelled_runs.py), trained in-process without a store; at least 95 % of the
verdicts must agree with the label, and every run must really show its condition."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from labelled_runs import CASES, agreement_table, run_case  # noqa: E402

from nnexp.experiment.verdict import VERDICTS  # noqa: E402

AGREEMENT = 0.95


@pytest.fixture(scope="module")
def results() -> list:
    """Every case trained once (about 20 s on two cores), shared by the tests below."""
    return [(case, run_case(case)) for case in CASES]


def test_the_set_covers_every_condition_with_20_runs_or_more() -> None:
    assert len(CASES) >= 20
    assert len({case.name for case in CASES}) == len(CASES)
    labels = {case.label for case in CASES}
    assert {"lr_too_high", "lr_too_low", "diverged", "vanishing_gradients", "dead_units",
            "overfitting", "plateau", "healthy", "uncertain"} <= labels
    assert all(name in VERDICTS for case in CASES for name in case.ok)


def test_every_run_shows_the_condition_it_was_built_for(results: list) -> None:
    wrong = {case.name: problem for case, run in results if (problem := case.check(run))}
    assert not wrong, wrong


def test_the_diagnosis_agrees_with_the_labels(results: list) -> None:
    table, agree, uncertain = agreement_table(results)
    rate = agree / len(results)
    print(f"\n{table}\nagreement {agree}/{len(results)} = {rate:.0%}, uncertain {uncertain}")
    assert rate >= AGREEMENT, table
    for _, run in results:  # evidence in numbers, not a label
        assert run.verdict.evidence and any(ch.isdigit() for ch in run.verdict.evidence)


def test_the_issue_run_that_fell_then_rose_is_never_lr_too_low(results: list) -> None:
    verdicts = {case.name: run.verdict for case, run in results}
    rose = verdicts["lr_too_high_wine_fell_then_rose"]
    assert rose.name == "lr_too_high", rose
    assert "climbed back" in rose.evidence
    assert verdicts["healthy_wine_tanh_adam_1e-3"].name == "healthy"
    for name, verdict in verdicts.items():
        if name.startswith("lr_too_high_wine"):
            assert verdict.name != "lr_too_low" and "lr_too_low" not in verdict.also, name


def test_uncertain_says_what_it_saw_and_what_it_considered(results: list) -> None:
    unsure = [run.verdict for _, run in results if run.verdict.name == "uncertain"]
    assert unsure
    for verdict in unsure:
        assert "considered " in verdict.evidence, verdict
