"""Bad arguments raise a one-line ValueError naming the argument."""

import numpy as np
import pytest

from nnexp.engine import (
    SGD,
    Dense,
    LeakyReLU,
    Sequential,
    build_mlp,
    clip_grad_norm,
    fit,
    gradient_check,
    make_loss,
    make_optimizer,
    make_schedule,
    train_epoch,
)


def _model():
    return build_mlp(3, [4], 2, rng=np.random.default_rng(0))


def _fit(epochs: int, batch_size: int) -> list[float]:
    model = _model()
    return fit(model, make_loss("mse"), SGD(model, 0.1), np.zeros((4, 3)), np.zeros((4, 2)),
               epochs=epochs, batch_size=batch_size, rng=np.random.default_rng(0))


CASES = [
    ("lr", lambda: SGD(_model(), lr=-1.0)),
    ("lr", lambda: make_optimizer("adam", _model(), lr=0.0)),
    ("n_outputs", lambda: Dense(3, 0)),
    ("hidden", lambda: build_mlp(3, [4, 0], 2)),
    ("n_inputs", lambda: build_mlp(0, [4], 2)),
    ("dtype", lambda: build_mlp(3, [4], 2, dtype="int32")),
    ("dtype", lambda: build_mlp(3, [4], 2, dtype="float16")),
    ("activation", lambda: build_mlp(3, [4], 2, activation="gelu")),
    ("init", lambda: build_mlp(3, [4], 2, init="orthogonal")),
    ("loss", lambda: make_loss("hinge")),
    ("optimizer", lambda: make_optimizer("lbfgs", _model(), lr=0.1)),
    ("schedule", lambda: make_schedule("onecycle", 0.1)),
    ("total_steps", lambda: make_schedule("cosine", 0.1)),
    ("warmup_steps", lambda: make_schedule("constant", 0.1, warmup_steps=-1)),
    ("base_lr", lambda: make_schedule("constant", -0.1)),
    ("momentum", lambda: make_optimizer("momentum", _model(), lr=0.1, momentum=1.5)),
    ("beta2", lambda: make_optimizer("adam", _model(), lr=0.1, beta2=1.0)),
    ("weight_decay", lambda: make_optimizer("sgd", _model(), lr=0.1, weight_decay=-1)),
    ("max_norm", lambda: clip_grad_norm(_model(), 0.0)),
    ("negative_slope", lambda: LeakyReLU(-0.1)),
    ("init_std", lambda: build_mlp(3, [4], 2, init="normal", init_std=0.0)),
    ("X", lambda: _model().forward(np.zeros((5, 4)))),
    ("X", lambda: _model().predict(np.zeros(3))),
    (
        "grad_output",
        lambda: (m := _model(), m.forward(np.zeros((5, 3))), m.backward(np.zeros((5, 3)))),
    ),
    ("targets", lambda: make_loss("cross_entropy")(np.zeros((4, 3)), np.zeros(4))),
    ("targets", lambda: make_loss("cross_entropy")(np.zeros((4, 3)), np.array([0, 1, 2, 3]))),
    ("targets", lambda: make_loss("mse")(np.zeros((4, 2)), np.zeros((4, 3)))),
    ("layers", lambda: Sequential([Dense(3, 4), Dense(5, 2)])),
    ("layers", lambda: Sequential([])),
    ("layers", lambda: (d := Dense(3, 3), Sequential([d, d]))),
    ("precision", lambda: gradient_check(_model(), make_loss("mse"), np.zeros((2, 3)),
                                         np.zeros((2, 2)), precision="float16")),
    ("batch_size", lambda: train_epoch(m := _model(), make_loss("mse"), SGD(m, 0.1),
                                       np.zeros((4, 3)), np.zeros((4, 2)), batch_size=0,
                                       rng=np.random.default_rng(0))),
    ("y", lambda: train_epoch(m := _model(), make_loss("mse"), SGD(m, 0.1), np.zeros((4, 3)),
                              np.zeros((3, 2)), batch_size=2, rng=np.random.default_rng(0))),
    ("epochs", lambda: _fit(epochs=0, batch_size=2)),
    ("batch_size", lambda: _fit(epochs=1, batch_size=0)),
]


@pytest.mark.parametrize("argument,call", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_argument_raises_value_error_naming_it(argument, call):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert argument in message, message
    assert "\n" not in message


def test_message_format_example():
    with pytest.raises(ValueError, match=r"^lr must be > 0, got -1.0$"):
        SGD(_model(), lr=-1.0)


def test_error_lists_the_allowed_names():
    with pytest.raises(ValueError, match="relu.*leaky_relu.*sigmoid.*tanh.*identity"):
        build_mlp(3, [4], 2, activation="gelu")
