"""Save/load round trips; pickles and mismatches are refused with ValueError."""

import numpy as np
import pytest

from nnexp.engine import build_mlp, load_model, load_weights, save_weights


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    model = build_mlp(4, [6, 5], 3, activation="leaky_relu", negative_slope=0.2, rng=rng)
    path = tmp_path / "w.npz"
    save_weights(model, path)
    assert path.exists()
    other = build_mlp(
        4, [6, 5], 3, activation="leaky_relu", negative_slope=0.2, rng=np.random.default_rng(1)
    )
    assert not np.array_equal(other.params, model.params)
    load_weights(other, path)
    np.testing.assert_array_equal(other.params, model.params)
    rebuilt = load_model(path)
    assert rebuilt.architecture() == model.architecture()
    X = rng.normal(size=(3, 4))
    np.testing.assert_array_equal(rebuilt.predict(X), model.predict(X))


def test_architecture_rebuilds_with_build_mlp():
    from nnexp.engine import BUILD_KEYS

    model = build_mlp(3, [7], 2, activation="tanh", dtype="float64")
    arch = model.architecture()
    clone = build_mlp(**{k: arch[k] for k in BUILD_KEYS})
    assert clone.architecture() == arch
    assert arch["hidden"] == [7] and arch["activation"] == "tanh" and arch["dtype"] == "float64"


def test_refuses_pickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"layer1.weight": np.array([object()], dtype=object)})
    model = build_mlp(2, [], 1)
    with pytest.raises(ValueError, match="pickle"):
        load_weights(model, path)


def test_refuses_missing_and_mismatched_arrays(tmp_path):
    model = build_mlp(4, [6], 3)
    path = tmp_path / "w.npz"
    save_weights(model, path)
    with pytest.raises(ValueError, match="shape"):
        load_weights(build_mlp(4, [7], 3), path)
    with pytest.raises(ValueError, match="missing"):
        load_weights(build_mlp(4, [6, 6], 3), path)
    with pytest.raises(ValueError, match="dtype"):
        load_weights(build_mlp(4, [6], 3, dtype="float64"), path)
    state = model.state_dict()
    del state["layer2.bias"]
    with pytest.raises(ValueError, match=r"missing \['layer2.bias'\]"):
        model.load_state_dict(state)


def test_state_dict_is_a_copy():
    model = build_mlp(2, [3], 1)
    state = model.state_dict()
    state["layer1.weight"][...] = 123.0
    assert not np.any(model.named_parameters()["layer1.weight"] == 123.0)
