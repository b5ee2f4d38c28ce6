"""Optimizer updates against the formulas computed by hand; weight decay, clipping, schedules."""

import math

import numpy as np
import pytest

from nnexp.engine import (
    SGD,
    Adam,
    AdamW,
    Dense,
    Momentum,
    Nesterov,
    RMSProp,
    Sequential,
    clip_grad_norm,
    make_optimizer,
    make_schedule,
)


def _tiny(dtype="float64"):
    """One Dense 2 -> 1 with parameters [w1, w2, b] = [0.5, -1.0, 0.25]."""
    model = Sequential([Dense(2, 1, init="zeros", dtype=dtype)], dtype=dtype)
    model.params[:] = [0.5, -1.0, 0.25]
    return model


GRADS = [np.array([0.1, -0.2, 0.3]), np.array([-0.4, 0.05, 0.2])]


def _run(opt, model):
    history = []
    for g in GRADS:
        model.grads[:] = g
        opt.step()
        history.append(model.params.copy())
    return history


def _expected(rule, lr, wd=0.0, **hp):
    p = np.array([0.5, -1.0, 0.25])
    state = {"v": np.zeros(3), "m": np.zeros(3), "s": np.zeros(3)}
    out = []
    for t, g0 in enumerate(GRADS, start=1):
        g = g0 + wd * p if rule != "adamw" else g0
        if rule == "sgd":
            p = p - lr * g
        elif rule in ("momentum", "nesterov"):
            state["v"] = hp["momentum"] * state["v"] + g
            d = state["v"] if rule == "momentum" else g + hp["momentum"] * state["v"]
            p = p - lr * d
        elif rule in ("adam", "adamw"):
            if rule == "adamw":
                p = p * (1 - lr * wd)
            b1, b2, eps = 0.9, 0.999, 1e-8
            state["m"] = b1 * state["m"] + (1 - b1) * g
            state["s"] = b2 * state["s"] + (1 - b2) * g**2
            mhat = state["m"] / (1 - b1**t)
            vhat = state["s"] / (1 - b2**t)
            p = p - lr * mhat / (np.sqrt(vhat) + eps)
        elif rule == "rmsprop":
            a, eps = hp["alpha"], 1e-8
            state["s"] = a * state["s"] + (1 - a) * g**2
            p = p - lr * g / (np.sqrt(state["s"]) + eps)
        out.append(p)
    return out


CASES = [
    ("sgd", lambda m: SGD(m, lr=0.1), dict(lr=0.1)),
    ("sgd", lambda m: SGD(m, lr=0.1, weight_decay=0.5), dict(lr=0.1, wd=0.5)),
    ("momentum", lambda m: Momentum(m, lr=0.1, momentum=0.8), dict(lr=0.1, momentum=0.8)),
    (
        "momentum",
        lambda m: Momentum(m, lr=0.1, momentum=0.8, weight_decay=0.1),
        dict(lr=0.1, wd=0.1, momentum=0.8),
    ),
    ("nesterov", lambda m: Nesterov(m, lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9)),
    (
        "nesterov",
        lambda m: Nesterov(m, lr=0.1, momentum=0.9, weight_decay=0.2),
        dict(lr=0.1, wd=0.2, momentum=0.9),
    ),
    ("adam", lambda m: Adam(m, lr=0.01), dict(lr=0.01)),
    ("adam", lambda m: Adam(m, lr=0.01, weight_decay=0.1), dict(lr=0.01, wd=0.1)),
    ("adamw", lambda m: AdamW(m, lr=0.01, weight_decay=0.5), dict(lr=0.01, wd=0.5)),
    ("rmsprop", lambda m: RMSProp(m, lr=0.01, alpha=0.9), dict(lr=0.01, alpha=0.9)),
    (
        "rmsprop",
        lambda m: RMSProp(m, lr=0.01, alpha=0.9, weight_decay=0.3),
        dict(lr=0.01, alpha=0.9, wd=0.3),
    ),
]


@pytest.mark.parametrize("rule,build,hp", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_first_two_steps_match_the_formula(rule, build, hp):
    model = _tiny()
    got = _run(build(model), model)
    for step, (g, e) in enumerate(zip(got, _expected(rule, **hp), strict=True)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14, err_msg=f"step {step + 1}")


def test_step_leaves_gradients_untouched_and_allocates_no_state_of_other_dtype():
    model = _tiny("float32")
    for name in ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"):
        opt = make_optimizer(name, model, lr=0.01, weight_decay=0.1)
        model.grads[:] = [0.1, -0.2, 0.3]
        opt.step()
        np.testing.assert_array_equal(model.grads, np.float32([0.1, -0.2, 0.3]))
        arrays = [v for v in vars(opt).values() if isinstance(v, np.ndarray)]
        assert arrays and all(a.dtype == np.float32 for a in arrays), name
        assert model.params.dtype == np.float32


def test_adamw_decay_is_decoupled():
    """With zero gradient AdamW shrinks weights by exactly (1 - lr*wd); Adam(L2) moves by ~lr."""
    model = _tiny()
    opt = AdamW(model, lr=0.1, weight_decay=0.5)
    model.grads[:] = 0.0
    opt.step()
    np.testing.assert_allclose(model.params, np.array([0.5, -1.0, 0.25]) * 0.95, rtol=1e-12)
    model2 = _tiny()
    opt2 = Adam(model2, lr=0.1, weight_decay=0.5)
    model2.grads[:] = 0.0
    opt2.step()
    np.testing.assert_allclose(model2.params, np.array([0.4, -0.9, 0.15]), rtol=1e-6)


def test_lr_attribute_is_used_each_step():
    model = _tiny()
    opt = SGD(model, lr=0.1)
    model.grads[:] = 1.0
    opt.lr = 0.5
    opt.step()
    np.testing.assert_allclose(model.params, [0.0, -1.5, -0.25])


def test_clip_grad_norm():
    model = _tiny()
    model.grads[:] = [3.0, 4.0, 0.0]
    assert clip_grad_norm(model, 10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(model.grads, [3.0, 4.0, 0.0])
    assert clip_grad_norm(model, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(model.grads, [0.6, 0.8, 0.0])
    assert np.linalg.norm(model.grads) == pytest.approx(1.0)


def test_make_optimizer_passes_kwargs_and_rejects_unknown():
    model = _tiny()
    opt = make_optimizer("momentum", model, 0.1, momentum=0.5)
    assert isinstance(opt, Momentum) and opt.momentum == 0.5 and opt.lr == 0.1
    with pytest.raises(ValueError, match="betas"):
        make_optimizer("adam", model, 0.1, betas=(0.9, 0.99))


@pytest.mark.parametrize(
    "name,kwargs,expected",
    [
        ("constant", {}, {0: 0.1, 10: 0.1, 10_000: 0.1}),
        ("step", {"step_size": 10, "gamma": 0.5}, {0: 0.1, 9: 0.1, 10: 0.05, 25: 0.025}),
        ("exponential", {"decay": 0.9}, {0: 0.1, 1: 0.09, 3: 0.1 * 0.9**3}),
        ("cosine", {"total_steps": 100}, {0: 0.1, 50: 0.05, 100: 0.0, 150: 0.0}),
        ("cosine", {"total_steps": 100, "min_lr": 0.01}, {0: 0.1, 50: 0.055, 100: 0.01}),
        ("constant", {"warmup_steps": 4}, {0: 0.025, 1: 0.05, 3: 0.1, 4: 0.1, 50: 0.1}),
        (
            "cosine",
            {"total_steps": 110, "warmup_steps": 10},
            {0: 0.01, 9: 0.1, 10: 0.1, 60: 0.05, 110: 0.0},
        ),
        ("step", {"step_size": 5, "gamma": 0.1, "warmup_steps": 2}, {1: 0.1, 2: 0.1, 7: 0.01}),
    ],
)
def test_schedules(name, kwargs, expected):
    lr = make_schedule(name, 0.1, **kwargs)
    for t, value in expected.items():
        assert lr(t) == pytest.approx(value, abs=1e-12), t


def test_cosine_is_monotone_between_ends():
    lr = make_schedule("cosine", 1.0, total_steps=20)
    values = [lr(t) for t in range(21)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert values[10] == pytest.approx(0.5) and math.isclose(values[-1], 0.0, abs_tol=1e-15)
