"""A layer list end to end in a temporary store: params and per-layer metrics recorded, the
logged network and the pyfunc model predict like the trained one, `reproduce` says identical
(dropout and batchnorm; a user's layer), a continued run with both is bit identical, and a user
layer whose module is gone is refused in one line."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from helpers import all_runs, client_for, run_cli, seed_store, store_of

from nnexp import engine
from nnexp.config import run_metric_names
from nnexp.experiment import checkpoint
from nnexp.experiment.build import build_network, choose_loss, load_data
from nnexp.experiment.history import MetricHistory
from nnexp.experiment.loop import LoopSettings, LoopState, train_loop
from nnexp.reproduce import reproduce
from nnexp.sweeps.job import run_job
from nnexp.tracking.logged_network import load_logged_network
from nnexp.tracking.model import logged_model_uri
from nnexp.tracking.records import RecordError

LAYERS = "model.layers=[{dense: 16}, relu, {dropout: 0.25}, {batchnorm: {}}, {dense: 8}, tanh]"
QUICK = ("model=sequential", "data=iris", "train.epochs=3", "train.batch_size=16",
         "tracking.plots=false")


def _train(make_cfg, *overrides: str) -> str:
    cfg = make_cfg(*QUICK, *overrides, fast=False)
    result = run_job(cfg, run_name="seq", overrides=list(overrides), verbose=False,
                     command=["python", "-m", "nnexp.train", *overrides])
    assert result.run_id is not None
    return result.run_id


def test_a_layer_list_run_records_layers_metrics_and_a_model_that_predicts(make_cfg, store_uri,
                                                                           capsys):
    run_id = _train(make_cfg, LAYERS)
    run = client_for(store_uri).get_run(run_id)
    params = run.data.params
    assert params["model.summary"] == ("4 -> dense 16 -> relu -> dropout 0.25 -> batchnorm -> "
                                       "dense 8 -> tanh -> dense 3 (275 parameters)")
    assert params["model.n_parameters"] == "275"
    assert params["model.layers"] == LAYERS.partition("=")[2]  # as the override spells it
    assert "model.hidden" not in params and "model.activation" not in params  # not what ran
    for layer in ("layer1", "bn1", "layer2", "layer3"):
        for series in ("grad_norm", "weight_norm", "update_ratio"):
            assert f"{series}/{layer}" in run.data.metrics, (series, layer)
    assert "dead_units/layer1" in run.data.metrics
    assert set(run.data.metrics) <= set(run_metric_names(make_cfg(*QUICK, LAYERS, fast=False)))

    logged = load_logged_network(client_for(store_uri), run_id)
    rows = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    probabilities = logged.outputs(logged.prepare(rows))
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(axis=1), 1)
    np.testing.assert_array_equal(logged.outputs(logged.prepare(rows)), probabilities)  # no dropout
    assert logged.network.named_state()["bn1.running_var"].min() > 0
    mlflow.set_tracking_uri(store_uri)
    try:
        pyfunc = mlflow.pyfunc.load_model(logged_model_uri(run))
        frame = pd.DataFrame(rows, columns=pyfunc.metadata.metadata["nnexp.feature_names"])
        np.testing.assert_allclose(pyfunc.predict(frame), probabilities, rtol=1e-6)
    finally:
        mlflow.set_tracking_uri(None)

    assert reproduce([run_id, "--tracking-uri", store_uri, "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("identical: ")


USER_LAYERS = """
import numpy as np
from nnexp.engine import Activation, ParameterLayer

class Softsign(Activation):
    name = "softsign"
    def predict(self, x):
        return x / (1 + np.abs(x))
    def forward(self, x, inplace=False):
        self._x = x.copy()
        return self.predict(x)
    def backward(self, grad, inplace=False):
        return grad / (1 + np.abs(self._x)) ** 2

class Gain(ParameterLayer):
    label = "gain"
    param_names = ("g",)
    def __init__(self, n_inputs, dtype="float32", start=1.0):
        self.n_inputs = self.n_outputs = n_inputs
        self.g = np.full(n_inputs, start, dtype=dtype)
        self.grad_g = np.zeros_like(self.g)
    def forward(self, x, inplace=False):
        self._x = x
        return x * self.g
    def backward(self, grad, need_input_grad=True):
        self.grad_g[...] = (grad * self._x).sum(axis=0)
        return grad * self.g if need_input_grad else None
    def predict(self, x):
        return x * self.g
"""


def test_a_user_layer_run_reproduces_predicts_and_is_refused_without_its_module(
        make_cfg, store_uri, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "my_net_layers.py").write_text(textwrap.dedent(USER_LAYERS))
    monkeypatch.syspath_prepend(str(folder))
    run_id = _train(make_cfg, "model.layers=[{dense: 8}, {_target_: my_net_layers.Softsign}, "
                              "{_target_: my_net_layers.Gain, start: 0.5}, {dropout: 0.1}]")
    run = client_for(store_uri).get_run(run_id)
    assert "grad_norm/gain1" in run.data.metrics and "update_ratio/gain1" in run.data.metrics
    assert run.data.params["model.summary"].startswith("4 -> dense 8 -> Softsign -> Gain -> ")
    assert reproduce([run_id, "--tracking-uri", store_uri, "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("identical: ")
    gain = load_logged_network(client_for(store_uri), run_id).network.layers[2]
    assert type(gain).__name__ == "Gain" and not np.all(gain.g == 0.5)  # trained values back

    monkeypatch.delitem(sys.modules, "my_net_layers")
    (folder / "my_net_layers.py").unlink()
    with pytest.raises(RecordError) as info:
        load_logged_network(client_for(store_uri), run_id)
    assert str(info.value) == (f"run '{run_id}': weights.npz: layer class "
                               "'my_net_layers.Softsign' cannot be imported (ModuleNotFoundError: "
                               "No module named 'my_net_layers')")


def _setup(make_cfg, init_seed: int):
    cfg = make_cfg(*QUICK, LAYERS, "model.dtype=float64", fast=False)
    dataset = load_data(cfg)
    loss_name = choose_loss(cfg, dataset)
    rng = np.random.default_rng(init_seed)
    model = build_network(cfg, dataset, loss_name, rng)
    opt = engine.make_optimizer("adam", model, lr=0.01)
    schedule = engine.make_schedule("constant", 0.01, total_steps=40)
    data = (dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val)
    return model, engine.make_loss(loss_name), opt, schedule, data, rng


def test_continuing_a_dropout_batchnorm_network_from_a_checkpoint_is_bit_identical(
        make_cfg, tmp_path: Path):
    settings = LoopSettings(epochs=4, batch_size=16, log_every_n_steps=2)
    model, loss, opt, schedule, data, rng = _setup(make_cfg, 0)
    train_loop(model, loss, opt, schedule, data, settings, rng, MetricHistory(), classify=True)
    expected = model.state_dict()

    model, loss, opt, schedule, data, rng = _setup(make_cfg, 0)
    state, saved = LoopState(), tmp_path / "epoch-2.npz"
    half = LoopSettings(epochs=2, batch_size=16, log_every_n_steps=2)
    first = MetricHistory()
    train_loop(model, loss, opt, schedule, data, half, rng, first, classify=True, state=state)
    checkpoint.save(checkpoint.capture("id", model, opt, rng, state, first), saved)

    model, loss, opt, schedule, data, rng = _setup(make_cfg, 99)  # other weights and generator
    assert not np.array_equal(model.named_state()["bn1.running_mean"],
                              expected["bn1.running_mean"])
    state = checkpoint.restore(checkpoint.load(saved), "id", model, opt, rng)
    train_loop(model, loss, opt, schedule, data, settings, rng, MetricHistory(), classify=True,
               state=state)
    for key, value in model.state_dict().items():
        assert value.tobytes() == expected[key].tobytes(), key


def test_a_user_layer_beside_the_configs_given_by_config_dir_is_found(tmp_path, _migrated_store):
    """Run from another folder: the layer's module sits only in the folder --config-dir names."""
    configs, work = tmp_path / "my_configs", tmp_path / "work"
    (configs / "model").mkdir(parents=True)
    seed_store(work, _migrated_store)
    (configs / "beside_configs.py").write_text(textwrap.dedent("""
        import numpy as np
        from nnexp.engine import Activation

        class Softsign(Activation):
            keeps_output = False

            def forward(self, x, inplace=False):
                self._x = x
                return x / (1 + np.abs(x))

            def backward(self, grad, inplace=False):
                return grad / (1 + np.abs(self._x)) ** 2

            def predict(self, x):
                return x / (1 + np.abs(x))
        """))
    (configs / "model" / "softsign.yaml").write_text(textwrap.dedent("""
        defaults:
          - sequential
        layers:
          - dense: 8
          - _target_: beside_configs.Softsign
        """))
    done = run_cli(["nnexp.train", "--config-dir", str(configs), "model=softsign", "data=iris",
                    "train.epochs=2", "tracking.plots=false", "tracking.log_model=false"], work)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "model: 4 -> dense 8 -> Softsign -> dense 3 (67 parameters)" in done.stdout
    (run,) = all_runs(store_of(work))
    assert run.info.status == "FINISHED"
    assert "Softsign" in run.data.params["model.summary"]
