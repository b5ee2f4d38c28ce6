"""What the loop measures to diagnose a run: update/weight ratios, dead ReLU units, weight
hashes; each checked against the same quantity computed by hand on a twin trained by the engine."""

from __future__ import annotations

import math
import zlib

import numpy as np

from nnexp import engine
from nnexp.experiment.history import MetricHistory
from nnexp.experiment.loop import LoopSettings, train_loop
from nnexp.experiment.probes import EpochMovement, dead_unit_layers, predict_counting_dead_units
from nnexp.experiment.weight_hashes import WeightHashes


def _setup(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(90, 5)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    model = engine.build_mlp(5, [8, 6], 2, activation="relu", rng=rng)
    return model, engine.make_loss("cross_entropy"), X, y


def _layer_crc(model, name: str) -> int:
    params = model.named_parameters()
    return zlib.crc32(params[f"{name}.bias"].tobytes(),
                      zlib.crc32(params[f"{name}.weight"].tobytes()))


def test_dead_units_are_the_relu_units_zero_on_every_row_and_outputs_are_predicts():
    model, _, X, _ = _setup()
    model.named_parameters()["layer1.bias"][[1, 4, 6]] = -1e3  # 3 of 8 units can never fire
    dead: dict[str, float] = {}
    outputs = predict_counting_dead_units(model, X, dead)
    assert outputs.tobytes() == model.predict(X).tobytes()
    hidden = np.maximum(X @ model.named_parameters()["layer1.weight"]
                        + model.named_parameters()["layer1.bias"], 0)
    assert dead["layer1"] == 3 / 8 == float(np.mean(hidden.max(axis=0) == 0))
    assert set(dead) == {"layer1", "layer2"}  # the output layer has no ReLU
    assert dead_unit_layers(engine.build_mlp(5, [8], 2, activation="tanh")) == []


def test_epoch_movement_is_the_norm_of_the_change_over_the_norm_at_the_start():
    model, _, _, _ = _setup()
    movement = EpochMovement(model)
    movement.begin()
    before = model.params.astype(np.float64).copy()
    model.params += np.float32(0.01) * np.arange(model.params.size, dtype=np.float32)
    ratios = movement.ratios()
    start, stop = 0, 5 * 8 + 8  # layer1: W (5x8) and b (8)
    delta = model.params[start:stop].astype(np.float64) - before[start:stop]
    expected = np.linalg.norm(delta) / np.linalg.norm(before[start:stop])
    assert math.isclose(ratios["layer1"], expected, rel_tol=1e-12)
    assert list(ratios) == ["layer1", "layer2", "layer3"]


def test_loop_logs_ratios_and_dead_units_per_epoch_and_hashes_every_n_steps():
    model, loss_fn, X, y = _setup(1)
    twin = model.copy()
    opt = engine.make_optimizer("sgd", model, lr=0.5)
    metrics = MetricHistory()
    hashes = WeightHashes(model, every=3)
    result = train_loop(model, loss_fn, opt, lambda t: 0.5, (X[:64], y[:64], X[64:], y[64:]),
                        LoopSettings(epochs=2, batch_size=16), np.random.default_rng(2),
                        metrics, classify=True, weight_hashes=hashes)
    assert result.steps == 8
    # the twin, trained by the engine one epoch at a time, measured by hand
    opt_twin, rng = engine.make_optimizer("sgd", twin, lr=0.5), np.random.default_rng(2)
    expected_hashes = {}

    def hash_when_due(step, loss, lr):
        if step % 3 == 0:
            expected_hashes[step] = tuple(_layer_crc(twin, n) for n in twin.layer_names)

    for epoch in range(2):
        start = twin.params.astype(np.float64).copy()
        engine.train_epoch(twin, loss_fn, opt_twin, X[:64], y[:64], batch_size=16, rng=rng,
                           schedule=lambda t: 0.5, step0=4 * epoch, on_step=hash_when_due)
        delta = twin.params[:48].astype(np.float64) - start[:48]
        ratio = np.linalg.norm(delta) / np.linalg.norm(start[:48])
        step, value = metrics.points("update_ratio/layer1")[epoch]
        assert step == 4 * (epoch + 1) and math.isclose(value, ratio, rel_tol=1e-12)
    dead: dict[str, float] = {}
    predict_counting_dead_units(twin, X[64:], dead)
    assert [v for _, v in metrics.points("dead_units/layer2")][-1] == dead["layer2"]
    expected_hashes[8] = tuple(_layer_crc(twin, n) for n in twin.layer_names)  # the end
    kept = hashes.recorded()
    assert kept.steps.tolist() == [0, 3, 6, 8]
    assert {int(s): tuple(row.tolist()) for s, row in zip(kept.steps, kept.hashes,
                                                          strict=True)} == expected_hashes
