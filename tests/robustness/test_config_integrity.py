"""A record equals what ran: logged params against what the engine actually used; the checks
behind "set it and it takes effect, or it is refused" that need more than a command line."""

from __future__ import annotations

import ast
import sqlite3

import numpy as np
import pytest
from helpers import all_runs, client_for
from hydra.errors import HydraException

from nnexp import engine
from nnexp.cli import describe_user_error
from nnexp.config import (
    ConfigError,
    diverged_objective,
    memory_needed,
    run_metric_names,
    validate,
)
from nnexp.config.vocabulary import DATASETS, REGRESSION_DATASETS
from nnexp.data import load_dataset
from nnexp.experiment.build import build_network, build_optimizer
from nnexp.reproduce import reproduce
from nnexp.sweeps.job import run_job
from nnexp.tracking.store import _safe_name, describe_store_fault

QUICK = ("train.epochs=1", "tracking.plots=false", "tracking.log_model=false")
HYPER = ("momentum", "beta1", "beta2", "eps", "alpha", "weight_decay")


@pytest.fixture
def first_step(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The optimizer (its lr and hyper-parameters) and model as they were at the first step."""
    seen: dict[str, object] = {}

    def spy(step):
        def wrapped(self):
            if not seen:
                seen.update(optimizer=type(self).name, lr=float(self.lr), model=self.model,
                            **{k: float(getattr(self, k)) for k in HYPER if hasattr(self, k)})
            return step(self)
        return wrapped

    for klass in (engine.SGD, engine.Momentum, engine.Nesterov, engine.Adam, engine.AdamW,
                  engine.RMSProp):
        if "step" in vars(klass):
            monkeypatch.setattr(klass, "step", spy(vars(klass)["step"]))
    return seen


@pytest.mark.parametrize("overrides", [
    ("optimizer=momentum", "lr=0.02", "optimizer.momentum=0.7", "model.hidden=[12,7]",
     "model.activation=tanh"),
    ("optimizer=adamw", "optimizer.beta1=0.8", "optimizer.weight_decay=0.05",
     "model.activation=leaky_relu", "model.negative_slope=0.2", "model.dtype=float64"),
    ("data=line", "model.hidden=[]", "optimizer=sgd", "lr=0.05"),
    ("optimizer.lr=0.5",),  # the second spelling of the learning rate: refused, or it trains
], ids=["momentum-tanh", "adamw-leaky-float64", "regression-sgd", "optimizer.lr"])
def test_logged_params_equal_what_the_engine_used(overrides, make_cfg, store_uri, first_step):
    try:
        cfg = make_cfg(*QUICK, *overrides)
    except HydraException as exc:
        assert "optimizer.lr=0.5" in overrides
        assert describe_user_error(exc) == ("optimizer.lr: not a config key; the learning "
                                            "rate is the key `lr`: use lr=0.5")
        return
    run_job(cfg, run_name="check", verbose=False)
    (run,) = all_runs(store_uri)
    params = run.data.params
    assert params["optimizer.name"] == first_step["optimizer"]
    assert float(params["lr"]) == first_step["lr"]
    for key in ("optimizer.lr", *(f"optimizer.{k}" for k in HYPER)):
        leaf = key.split(".")[1]
        if key in params and leaf in first_step:
            assert float(params[key]) == first_step[leaf], key
    model = first_step["model"]
    weights = [w for name, w in model.named_parameters().items() if name.endswith(".weight")]
    assert [w.shape[1] for w in weights[:-1]] == ast.literal_eval(params["model.hidden"])
    assert str(model.dtype) == params["model.dtype"]
    activations = [layer for layer in model.layers if not isinstance(layer, engine.Dense)]
    assert {a.name for a in activations} <= {params["model.activation"]}
    for layer in activations:
        if isinstance(layer, engine.LeakyReLU):
            assert layer.negative_slope == float(params["model.negative_slope"])
    history = client_for(store_uri).get_metric_history(run.info.run_id, "lr")
    assert history[0].step == 0 and history[0].value == first_step["lr"]
    assert set(run.data.metrics) == set(run_metric_names(cfg))  # the catalogue is what is logged


def test_reproduce_with_the_second_spelling_of_lr_is_refused(make_cfg, store_uri):
    result = run_job(make_cfg(*QUICK), run_name="r", verbose=False)
    with pytest.raises(ConfigError, match=r"^optimizer.lr: not a config key; the learning rate "
                                          r"is the key `lr`: use lr=0.9$"):
        reproduce([result.run_id, "--tracking-uri", store_uri, "--quiet",
                   "--overrides", "optimizer.lr=0.9"])
    assert len(all_runs(store_uri)) == 1


def test_task_of_every_data_set_is_what_the_metric_catalogue_assumes():
    for name in DATASETS:
        # images: always classification (one folder per class); a user's table or arrays: the
        # task of its target (data.task, or inferred), known once read
        if name not in ("images", "csv", "parquet", "npz", "arrays", "dataframe"):
            task = load_dataset(name, rng_seed=0, n_samples=20).task
            assert (task == "regression") == (name in REGRESSION_DATASETS), name


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam", "rmsprop"])
def test_memory_estimate_counts_every_array_the_engine_allocates(optimizer, make_cfg):
    cfg = make_cfg(f"optimizer={optimizer}", "model.hidden=[40,24]", "model.dtype=float64")
    data = load_dataset("digits", rng_seed=0)
    model = build_network(cfg, data, "cross_entropy", np.random.default_rng(0))
    opt = build_optimizer(cfg, model)
    buffers = [v for v in vars(opt).values() if isinstance(v, np.ndarray)
               and v.size == model.params.size and v is not model.params and v is not model.grads]
    need = memory_needed(cfg, data.n_features, data.n_outputs)
    assert need["parameters"] == need["gradients"] == model.params.nbytes == model.grads.nbytes
    assert need["optimizer"] == sum(b.nbytes for b in buffers)


def test_model_larger_than_available_memory_is_refused_with_its_size(make_cfg, monkeypatch):
    cfg = make_cfg("model.hidden=[1000]", "optimizer=sgd", "train.batch_size=10")
    # Without the data (validate's lower bound) one input and one output: (1 + 1) x 1000 +
    # (1000 + 1) x 1 = 3001 float32 parameters = 12004 B, as many for gradients and for sgd's
    # scratch buffer; activations and their gradients 2 x 10 rows x (1 + 2 x 1000 + 1) x 4 B.
    need = 3 * 12004 + 2 * 10 * 2002 * 4
    monkeypatch.setattr("nnexp.config.memory.available_memory", lambda: need - 1)
    with pytest.raises(ConfigError, match=r"^model.hidden: \[1000\] needs 191.6 KiB in float32 "
                                          r"\(parameters 11.7 KiB \+ gradients 11.7 KiB \+ sgd "
                                          r"state 11.7 KiB \+ activations 156.4 KiB for 10 "
                                          r"rows\); 191.6 KiB is available$"):
        validate(cfg)
    monkeypatch.setattr("nnexp.config.memory.available_memory", lambda: need)
    validate(cfg)


def test_a_diverged_job_is_the_worst_result_for_either_direction(make_cfg):
    assert diverged_objective(make_cfg()) == 1e6
    assert diverged_objective(make_cfg("sweep.direction=maximize")) == -1e6
    assert diverged_objective(make_cfg("sweep.direction=maximize",
                                       "sweep.diverged_objective=-5")) == -5


def test_damaged_sqlite_store_raised_anywhere_is_a_store_fault():
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    driver = sqlite3.DatabaseError("database disk image is malformed")
    wrapped = sqlalchemy.exc.DatabaseError("SELECT 1", {}, driver)
    try:
        try:
            raise wrapped
        except sqlalchemy.exc.DatabaseError as exc:
            raise MlflowException("(sqlite3.DatabaseError) database disk image ...") from exc
    except MlflowException as exc:
        assert describe_store_fault(exc) == (
            "tracking store is damaged (database disk image is malformed); restore its database "
            "from a backup or point tracking.uri at a new file")
    locked = sqlalchemy.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("locked"))
    assert describe_store_fault(locked) is None  # busy, not damaged


def test_long_experiment_names_get_distinct_short_artifact_folders():
    a, b = "x" * 255 + "a", "x" * 255 + "b"
    assert len(_safe_name(a)) <= 120 and _safe_name(a) != _safe_name(b)
    assert _safe_name("nnexp") == "nnexp"


def test_the_optuna_preset_follows_sweep_direction_and_refuses_parting_from_it():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    from hydra import compose, initialize_config_dir

    from nnexp.config.paths import conf_dir
    from nnexp.config.preflight import validate_composed

    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=["hparams_search=lr_width", "sweep.direction=maximize",
                                           "sweep.objective=val/accuracy"],
                      return_hydra_config=True)
        assert cfg.hydra.sweeper.direction == "maximize"
        validate_composed(cfg)
        cfg = compose("config", overrides=["hparams_search=lr_width",
                                           "hydra.sweeper.direction=maximize"],
                      return_hydra_config=True)
        with pytest.raises(ConfigError, match=r"^hydra.sweeper.direction: the config sets it to "
                                              r"\$\{sweep.direction\}, so it follows "
                                              r"sweep.direction; .*set sweep.direction instead"):
            validate_composed(cfg)
