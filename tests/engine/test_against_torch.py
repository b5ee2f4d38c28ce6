"""An independent check: loss, outputs and every gradient against PyTorch autograd in float64,
on random MLPs and hand-built Sequentials (chained activations, identity, activations around
the Dense layers, a reused activation object), every activation and loss; then the optimizer
updates against torch.optim. The engine's documented difference (clipping without torch's
+1e-6) is checked as exactly that difference."""

import numpy as np
import pytest

from nnexp.engine import (
    ACTIVATIONS,
    INITIALISERS,
    LOSSES,
    Dense,
    Sequential,
    build_mlp,
    clip_grad_norm,
    make_activation,
    make_loss,
    make_optimizer,
)

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed; pip install -e '.[test]' brings torch==2.13.0")
F = torch.nn.functional


def _torch_twin(model: Sequential):
    """The same network as torch modules, with the same float64 parameters."""
    modules = []
    for layer in model.layers:
        if isinstance(layer, Dense):
            linear = torch.nn.Linear(layer.n_inputs, layer.n_outputs, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.weight.T.copy()))
                linear.bias.copy_(torch.from_numpy(layer.bias.copy()))
            modules.append(linear)
        elif layer.name == "leaky_relu":
            modules.append(torch.nn.LeakyReLU(layer.negative_slope))
        else:
            modules.append({"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid,
                            "tanh": torch.nn.Tanh, "identity": torch.nn.Identity}[layer.name]())
    return torch.nn.Sequential(*modules)


def _torch_loss(name: str, outputs, y: np.ndarray):
    if name == "cross_entropy":
        return F.cross_entropy(outputs, torch.from_numpy(y))
    target = torch.from_numpy(np.asarray(y, np.float64).reshape(outputs.shape))
    return {"bce": F.binary_cross_entropy_with_logits, "mse": F.mse_loss,
            "mae": F.l1_loss}[name](outputs, target)


def _targets(loss: str, n: int, k: int, rng) -> np.ndarray:
    if loss == "cross_entropy":
        return rng.integers(0, k, n)
    if loss == "bce":
        return rng.integers(0, 2, n).astype(np.float64)
    return rng.normal(size=(n, k))


def _random_mlp(rng):
    loss = str(rng.choice(LOSSES))
    n_out = 1 if loss == "bce" else int(rng.integers(2, 5))
    hidden = [int(h) for h in rng.integers(1, 9, int(rng.integers(0, 4)))]
    activation = str(rng.choice(ACTIVATIONS))
    model = build_mlp(int(rng.integers(1, 7)), hidden, n_out, activation=activation,
                      init=str(rng.choice(INITIALISERS)), dtype="float64", rng=rng,
                      negative_slope=float(rng.uniform(0, 0.5)))
    model.params[...] += rng.normal(scale=0.1, size=model.n_params)  # biases too, not only zeros
    return model, loss


def _random_sequential(rng):
    loss = str(rng.choice(LOSSES))
    widths = [int(w) for w in rng.integers(1, 8, int(rng.integers(2, 5)))]
    widths[-1] = 1 if loss == "bce" else max(widths[-1], 2)
    shared = make_activation(str(rng.choice(ACTIVATIONS)))
    layers = [make_activation(str(a)) for a in rng.choice(ACTIVATIONS, rng.integers(0, 2))]
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        dense = Dense(n_in, n_out, rng=rng, init="xavier_normal", dtype="float64")
        dense.bias[:] = rng.normal(scale=0.3, size=n_out)
        layers.append(dense)
        if i < len(widths) - 2:
            chain = [make_activation(str(a), float(rng.uniform(0, 0.5)))
                     for a in rng.choice(ACTIVATIONS, rng.integers(1, 4))]
            if rng.random() < 0.3:
                chain.append(shared)  # the same object at several positions
            layers += chain
    layers += [make_activation(str(a)) for a in rng.choice(ACTIVATIONS, rng.integers(0, 2))]
    return Sequential(layers, dtype="float64"), loss


def _compare(model: Sequential, loss: str, rng) -> None:
    n = int(rng.integers(1, 9))
    X = rng.normal(size=(n, model.n_inputs)) * rng.choice([0.5, 2.0, 8.0])
    y = _targets(loss, n, model.n_outputs, rng)
    loss_fn = make_loss(loss)
    outputs = model.forward(X)
    value, grad = loss_fn(outputs, y)
    model.backward(grad)

    twin = _torch_twin(model)
    t_out = twin(torch.from_numpy(X))
    t_loss = _torch_loss(loss, t_out, y)
    t_loss.backward()
    context = f"{model!r} {loss}"
    np.testing.assert_allclose(outputs, t_out.detach().numpy(), rtol=1e-13, atol=1e-13,
                               err_msg=context)
    assert value == pytest.approx(t_loss.item(), rel=1e-13, abs=1e-15), context
    linears = [m for m in twin if isinstance(m, torch.nn.Linear)]
    for name, layer in zip(model.layer_names, linears, strict=True):
        for ours, theirs in ((f"{name}.weight", layer.weight.grad.numpy().T),
                             (f"{name}.bias", layer.bias.grad.numpy())):
            scale = max(float(np.abs(theirs).max()), 1e-300)
            error = float(np.abs(model.named_gradients()[ours] - theirs).max()) / scale
            assert error < 1e-12, (context, ours, error)


@pytest.mark.parametrize("seed", range(40))
def test_random_mlps_match_torch(seed):
    rng = np.random.default_rng(1000 + seed)
    _compare(*_random_mlp(rng), rng)


@pytest.mark.parametrize("seed", range(40))
def test_random_hand_built_sequentials_match_torch(seed):
    rng = np.random.default_rng(2000 + seed)
    _compare(*_random_sequential(rng), rng)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_and_loss_match_torch(activation, loss):
    rng = np.random.default_rng(ACTIVATIONS.index(activation) * 10 + LOSSES.index(loss))
    n_out = 1 if loss == "bce" else 3
    model = build_mlp(4, [5, 4], n_out, activation=activation, init="xavier_normal",
                      dtype="float64", rng=rng)
    model.params[...] += rng.normal(scale=0.1, size=model.n_params)
    _compare(model, loss, rng)


TORCH_OPTIMIZERS = {
    "sgd": lambda p, lr, wd: torch.optim.SGD(p, lr=lr, weight_decay=wd),
    "momentum": lambda p, lr, wd: torch.optim.SGD(p, lr=lr, momentum=0.8, weight_decay=wd),
    "nesterov": lambda p, lr, wd: torch.optim.SGD(p, lr=lr, momentum=0.8, nesterov=True,
                                                  weight_decay=wd),
    "adam": lambda p, lr, wd: torch.optim.Adam(p, lr=lr, betas=(0.8, 0.95), eps=1e-6,
                                               weight_decay=wd),
    "adamw": lambda p, lr, wd: torch.optim.AdamW(p, lr=lr, betas=(0.8, 0.95), eps=1e-6,
                                                 weight_decay=wd),
    "rmsprop": lambda p, lr, wd: torch.optim.RMSprop(p, lr=lr, alpha=0.9, eps=1e-6,
                                                     weight_decay=wd),
}
ENGINE_SETTINGS = {
    "sgd": {}, "momentum": {"momentum": 0.8}, "nesterov": {"momentum": 0.8},
    "adam": {"beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
    "adamw": {"beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
    "rmsprop": {"alpha": 0.9, "eps": 1e-6},
}


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("name", list(TORCH_OPTIMIZERS))
def test_optimizer_updates_match_torch(name, weight_decay):
    rng = np.random.default_rng(7)
    model = build_mlp(3, [5], 2, activation="tanh", dtype="float64", rng=rng)
    twin = _torch_twin(model)
    opt = make_optimizer(name, model, lr=0.05, weight_decay=weight_decay, **ENGINE_SETTINGS[name])
    t_opt = TORCH_OPTIMIZERS[name](twin.parameters(), 0.05, weight_decay)
    loss_fn = make_loss("cross_entropy")
    linears = [m for m in twin if isinstance(m, torch.nn.Linear)]
    for _ in range(4):
        X, y = rng.normal(size=(6, 3)), rng.integers(0, 2, 6)
        model.backward(loss_fn(model.forward(X), y)[1])
        opt.step()
        t_opt.zero_grad()
        _torch_loss("cross_entropy", twin(torch.from_numpy(X)), y).backward()
        t_opt.step()
        for layer, linear in zip(model._dense, linears, strict=True):
            np.testing.assert_allclose(layer.weight, linear.weight.detach().numpy().T,
                                       rtol=1e-11, atol=1e-13)
            np.testing.assert_allclose(layer.bias, linear.bias.detach().numpy(),
                                       rtol=1e-11, atol=1e-13)


def test_clipping_differs_from_torch_only_by_its_plus_1e_6():
    rng = np.random.default_rng(8)
    model = build_mlp(3, [5], 2, dtype="float64", rng=rng)
    twin = _torch_twin(model)
    X, y = rng.normal(size=(6, 3)) * 5, rng.integers(0, 2, 6)
    model.backward(make_loss("cross_entropy")(model.forward(X), y)[1])
    _torch_loss("cross_entropy", twin(torch.from_numpy(X)), y).backward()
    norm = clip_grad_norm(model, 1e-3)
    t_norm = float(torch.nn.utils.clip_grad_norm_(twin.parameters(), 1e-3))
    assert norm == pytest.approx(t_norm, rel=1e-13)
    theirs = np.concatenate([np.concatenate([m.weight.grad.numpy().T.ravel(), m.bias.grad.numpy()])
                             for m in twin if isinstance(m, torch.nn.Linear)])
    np.testing.assert_allclose(model.grads, theirs * (norm + 1e-6) / norm, rtol=1e-12)
    assert float(np.linalg.norm(model.grads)) == pytest.approx(1e-3, rel=1e-13)
