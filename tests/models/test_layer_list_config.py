"""model.layers as a user writes it: every bad spelling refused in one line naming
`model.layers[i]` and what is allowed; user layers that cannot be imported, are not layers or
have a wrong backward refused before any run; an MLP's record unchanged by the new key."""

from __future__ import annotations

import sys
import textwrap

import pytest
from omegaconf import OmegaConf

from nnexp.config import ConfigError, config_hash, run_metric_names, to_container, validate

SEQ = ("model=sequential", "train.epochs=2")


@pytest.mark.parametrize(("layers", "message"), [
    ("[{dens: 128}]", "model.layers[0]: unknown layer 'dens'; allowed: {dense: WIDTH}, "
                      "{dropout: P}, {batchnorm: {}}, an activation (relu, leaky_relu, sigmoid, "
                      "tanh, identity) or {_target_: your.module.Layer}"),
    ("[relu, {dense: 0}]", "model.layers[1]: dense width must be an integer >= 1, got 0"),
    ("[{dense: 2.5}]", "model.layers[0]: dense width must be an integer >= 1, got 2.5"),
    ("[{dense: 8}, {dropout: 1.0}]", "model.layers[1]: dropout probability must be a number in "
                                     "[0, 1), got 1.0"),
    ("[{batchnorm: {mom: 0.1}}]", "model.layers[0]: batchnorm has no setting 'mom'; allowed: "
                                  "momentum, eps"),
    ("[{batchnorm: {eps: 0}}]", "model.layers[0]: batchnorm eps must be a number > 0, got 0"),
    ("[{dense: 8}, relu6]", "model.layers[1]: got 'relu6'; allowed: {dense: WIDTH}"),
    ("[{relu: 0.1}]", "model.layers[0]: an activation takes no settings: write relu"),
    ("[{dense: 8, dropout: 0.1}]", "model.layers[0]: got {'dense': 8, 'dropout': 0.1}; allowed:"),
    ("[{_target_: Swish}]", "model.layers[0]: _target_ must be a dotted class path such as "
                            "mypkg.layers.Swish, got 'Swish'"),
    ("[{_target_: no_such_package.layers.Swish}]",
     "model.layers[0]: _target_ layer class 'no_such_package.layers.Swish' cannot be imported "
     "(ModuleNotFoundError: No module named 'no_such_package')"),
    ("[{_target_: collections.OrderedDict}]",
     "model.layers[0]: _target_ 'collections.OrderedDict' is not a layer: a layer subclasses "
     "nnexp.engine.Activation (no parameters) or nnexp.engine.ParameterLayer"),
])
def test_a_bad_entry_is_refused_in_one_line_naming_it(make_cfg, layers, message):
    cfg = make_cfg(*SEQ, f"model.layers={layers}", fast=False)
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("overrides", "message"), [
    (("model.hidden=[8]",), "model.hidden: not read when model.layers is set"),
    (("model.activation=tanh",), "model.activation: not read when model.layers is set"),
    (("train.batch_size=1",), "train.batch_size: must be >= 2 with batchnorm in model.layers"),
])
def test_mlp_keys_and_batches_of_one_row_are_refused_with_a_layer_list(make_cfg, overrides,
                                                                       message):
    with pytest.raises(ConfigError, match=message):
        validate(make_cfg(*SEQ, *overrides, fast=False))


def _module(tmp_path, monkeypatch, name: str, body: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


WRONG = """
import numpy as np
from nnexp.engine import Activation, ParameterLayer

class Cube(Activation):
    def predict(self, x):
        return x ** 3
    def forward(self, x, inplace=False):
        self._x = x.copy()
        return x ** 3
    def backward(self, grad, inplace=False):
        return grad * 3 * self._x ** 2

class HalfCube(Cube):
    def backward(self, grad, inplace=False):
        return grad * 1.5 * self._x ** 2

class Shift(ParameterLayer):
    label = "shift"
    param_names = ("b",)
    def __init__(self, n_inputs, dtype="float32", wrong=False):
        self.n_inputs = self.n_outputs = n_inputs
        self.b = np.zeros(n_inputs, dtype=dtype)
        self.grad_b = np.zeros_like(self.b)
        self.wrong = wrong
    def forward(self, x, inplace=False):
        return x + self.b
    def backward(self, grad, need_input_grad=True):
        self.grad_b[...] = grad.sum(axis=0) * (2 if self.wrong else 1)
        return grad if need_input_grad else None
    def predict(self, x):
        return x + self.b

class Broken(Activation):
    def forward(self, x, inplace=False):
        raise RuntimeError("not written yet")
"""


@pytest.mark.parametrize(("target", "message"), [
    ("{_target_: wrong_layers.HalfCube}",
     r"model.layers\[1\]: wrong_layers.HalfCube: backward's gradient of the input disagrees "
     r"with finite differences \(relative error 5.00e-01, tolerance 1e-06\); fix its backward"),
    ("{_target_: wrong_layers.Shift, wrong: true}",
     r"model.layers\[1\]: wrong_layers.Shift: backward's gradient of parameter 'b' disagrees "
     r"with finite differences \(relative error 5.00e-01, tolerance 1e-06\)"),
    ("{_target_: wrong_layers.Broken}",
     r"model.layers\[1\]: wrong_layers.Broken failed its gradient check: RuntimeError: not "
     r"written yet"),
    ("{_target_: wrong_layers.Cube, power: 2}",
     r"model.layers\[1\]: wrong_layers.Cube\(...\) failed: TypeError: "),
])
def test_a_user_layer_is_gradient_checked_before_any_run(make_cfg, tmp_path, monkeypatch,
                                                         target, message):
    _module(tmp_path, monkeypatch, "wrong_layers", WRONG)
    cfg = make_cfg(*SEQ, f"model.layers=[{{dense: 4}}, {target}]", fast=False)
    with pytest.raises(ConfigError, match=message) as info:
        validate(cfg)
    assert "\n" not in str(info.value)


def test_right_user_layers_pass_and_name_their_metrics(make_cfg, tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "right_layers", WRONG)
    cfg = make_cfg(*SEQ, "model.layers=[{dense: 4}, {_target_: right_layers.Cube}, "
                         "{_target_: right_layers.Shift}, relu, {batchnorm: {}}]", fast=False)
    validate(cfg)
    names = run_metric_names(cfg)
    assert [n for n in names if n.startswith("grad_norm/")] == [
        "grad_norm/layer1", "grad_norm/shift1", "grad_norm/bn1", "grad_norm/layer2"]
    assert [n for n in names if n.startswith("dead_units/")] == ["dead_units/shift1"]


def test_an_mlp_records_no_layers_key_and_keeps_its_identity(make_cfg):
    config = to_container(make_cfg())
    assert "layers" not in config["model"]
    with_key = OmegaConf.to_container(make_cfg(), resolve=True)
    with_key.pop("hydra", None)
    assert with_key["model"].pop("layers") is None
    assert config_hash(config) == config_hash(with_key)  # the old identity, key or not
    layered = to_container(make_cfg("model=sequential", fast=False))
    assert layered["model"]["layers"][:3] == [{"dense": 128}, "relu", {"dropout": 0.2}]
