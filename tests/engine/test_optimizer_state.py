"""Optimizer state_dict/load_state_dict: a restored optimizer takes exactly the steps the saved
one would have taken (moments, velocities and the step count t), and a mismatch is refused."""

import numpy as np
import pytest

from nnexp.engine import OPTIMIZERS, build_mlp, make_optimizer


def _model(seed: int = 0):
    return build_mlp(4, [5], 3, rng=np.random.default_rng(seed), dtype="float32")


def _steps(model, optimizer, grads):
    for g in grads:
        model.grads[:] = g
        optimizer.step()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_restored_optimizer_continues_bit_for_bit(name):
    rng = np.random.default_rng(1)
    size = _model().params.size
    grads = [rng.normal(size=size).astype(np.float32) for _ in range(7)]
    extra = {"weight_decay": 0.01}
    model = _model()
    optimizer = make_optimizer(name, model, 0.01, **extra)
    _steps(model, optimizer, grads)  # seven steps without a break

    first = _model()
    opt_first = make_optimizer(name, first, 0.01, **extra)
    _steps(first, opt_first, grads[:3])
    saved, params = opt_first.state_dict(), first.params.copy()
    _steps(first, opt_first, grads[3:4])  # moves on: the saved state must be a copy
    second = _model(seed=5)  # other weights, fresh state
    opt_second = make_optimizer(name, second, 0.01, **extra)
    second.params[:] = params
    opt_second.load_state_dict(saved)
    assert opt_second.t == 3
    _steps(second, opt_second, grads[3:])
    assert second.params.tobytes() == model.params.tobytes()
    for key in optimizer.state_buffers:
        assert getattr(opt_second, key).tobytes() == getattr(optimizer, key).tobytes()
    assert opt_second.t == optimizer.t == 7


def test_state_holds_every_buffer_the_update_reads():
    model = _model()
    adam = make_optimizer("adam", model, 0.01)
    state = adam.state_dict()
    assert sorted(state["buffers"]) == ["m_scaled", "v_scaled"]
    assert state["hyperparameters"] == {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                                        "weight_decay": 0.0}
    assert make_optimizer("nesterov", model, 0.1).state_dict()["buffers"].keys() == {"velocity"}
    assert make_optimizer("sgd", model, 0.1).state_dict()["buffers"] == {}


def test_a_state_that_does_not_fit_is_refused_and_changes_nothing():
    model = _model()
    adam = make_optimizer("adam", model, 0.01)
    model.grads[:] = 1.0
    adam.step()
    state = adam.state_dict()
    other = make_optimizer("adam", _model(), 0.01, beta1=0.8)
    with pytest.raises(ValueError, match="beta1=0.9, this optimizer 0.8"):
        other.load_state_dict(state)
    assert other.t == 0 and not other.m_scaled.any()
    with pytest.raises(ValueError, match="is for optimizer 'adam', not 'rmsprop'"):
        make_optimizer("rmsprop", _model(), 0.01).load_state_dict(state)
    wide = make_optimizer("adam", build_mlp(4, [6], 3, rng=np.random.default_rng(0)), 0.01)
    with pytest.raises(ValueError, match=r"'m_scaled' is float32\[43\], this optimizer's "
                                         r"float32\[51\]"):
        wide.load_state_dict(state)
    with pytest.raises(ValueError, match="step count t must be an int >= 0"):
        make_optimizer("adam", _model(), 0.01).load_state_dict({**state, "t": -1})
